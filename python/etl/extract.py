"""Extract: get the CIFAR-100 tarball, either a local copy or a verified download.

A download goes to ``<name>.part`` and becomes ``<name>`` only once its md5 matches, so the
cached file in ``data/raw/`` is always a verified one and is never fetched again; a cached file
with another md5 is downloaded again, and stays until the new download is verified. A dropped
connection resumes with an HTTP ``Range`` request (or restarts when the server ignores it), a
bounded number of times with exponential back-off.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import Request, urlopen

from tqdm import tqdm

from etl.errors import (
    ChecksumMismatch,
    DataDirUnwritable,
    DownloadFailed,
    InvalidMd5,
    TarballNotFound,
    TarballUnreadable,
)
from settings import get_logger

log = get_logger("etl.extract")

OFFICIAL_URL = "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
OFFICIAL_MD5 = "eb9058c3a382ffc7106e4002c42a8d85"

SCHEMES = ("http", "https", "file")
ATTEMPTS = 5
BACKOFF_S = 1.0  # doubled after each failed attempt: at most 1 + 2 + 4 + 8 = 15 s of waiting
TIMEOUT_S = 30.0  # per socket operation, so a stalled connection counts as a failed attempt
CHUNK = 1 << 20


@dataclass(frozen=True)
class Tarball:
    """The archive to transform and the md5 that identifies its content in the manifest."""

    path: Path
    md5: str
    downloaded: bool


def parse_md5(text: str) -> str:
    """``--md5`` in the lower case of ``hashlib``'s hex digests; 32 hex digits or ``InvalidMd5``."""
    md5 = text.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{32}", md5):
        raise InvalidMd5(f"{text!r} is not an md5 (32 hexadecimal digits)")
    return md5


def file_md5(path: Path) -> str:
    """md5 of a file (169 MB take well under a second)."""
    digest = hashlib.md5()
    with path.open("rb") as handle:
        while block := handle.read(CHUNK):
            digest.update(block)
    return digest.hexdigest()


def local_tarball(path: Path) -> Tarball:
    """A copy given by the user: no md5 is imposed (its content is still checked when read)."""
    if not path.is_file():
        raise TarballNotFound(f"{path} does not exist or is not a file")
    try:
        md5 = file_md5(path)
    except OSError as err:
        raise TarballUnreadable(f"cannot read {path}: {err.strerror or err}") from None
    return Tarball(path=path, md5=md5, downloaded=False)


def fetch(url: str, raw_dir: Path, md5: str) -> Tarball:
    """The verified download of ``url`` in ``raw_dir``, downloading it only when not cached.

    ``md5`` as ``parse_md5`` returns it. A cached file with another md5 is replaced only by a
    verified download."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES or (parts.scheme != "file" and not parts.netloc):
        raise DownloadFailed(f"{url!r} is not an http://, https:// or file:// URL{_HINT}")
    dest = raw_dir / (Path(parts.path).name or "cifar-100-python.tar.gz")
    cached = dest.is_file()
    if cached:
        found = file_md5(dest)
        if found == md5:
            log.info("cached", extra={"fields": {"path": dest}})
            return Tarball(path=dest, md5=found, downloaded=False)
        log.warning(
            "cached tarball has another md5, downloading again",
            extra={"fields": {"path": dest, "found": found, "expected": md5}},
        )
    try:
        raw_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataDirUnwritable(f"cannot create {raw_dir} for the download: {err}") from None
    part = dest.with_name(dest.name + ".part")
    _download(url, part)
    found = file_md5(part)
    if found != md5:
        part.unlink()
        kept = f"; {dest} is kept" if cached else ""
        raise ChecksumMismatch(
            f"{url}: expected md5 {md5}, found {found}"
            f" (the download was deleted{kept}; rerun to retry)"
        )
    os.replace(part, dest)
    return Tarball(path=dest, md5=found, downloaded=True)


class _Incomplete(Exception):
    """The server closed the connection before sending everything it announced."""


# Failures a new attempt can fix: network errors, timeouts, truncated or refused transfers.
_RETRYABLE = (URLError, OSError, http.client.HTTPException, _Incomplete)


def _download(url: str, part: Path) -> None:
    last_error: BaseException | None = None
    attempts = ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            _attempt(url, part, TIMEOUT_S)
            return
        except HTTPError as err:
            if err.code < 500 and err.code not in (408, 429):
                raise DownloadFailed(f"{url}: HTTP {err.code} {err.reason}{_HINT}") from err
            last_error = err
        except _RETRYABLE as err:
            if url.startswith("file:"):  # a missing or unreadable local file stays so
                raise DownloadFailed(
                    f"{url}: {getattr(err, 'reason', err)} (a local copy can also be read"
                    " directly: `make data CIFAR_TARBALL=/path/to/cifar-100-python.tar.gz`)"
                ) from None
            last_error = err
        log.warning(
            "download attempt failed",
            extra={"fields": {"attempt": attempt, "of": attempts, "error": last_error}},
        )
        if attempt < attempts:
            time.sleep(BACKOFF_S * 2 ** (attempt - 1))
    raise DownloadFailed(f"{url}: gave up after {attempts} attempts ({last_error}){_HINT}")


_HINT = (
    "; check the network, or use a local copy of cifar-100-python.tar.gz:"
    " `make data CIFAR_TARBALL=/path/to/cifar-100-python.tar.gz`"
    " (`python -m etl --tarball PATH`)"
)


def _attempt(url: str, part: Path, timeout_s: float) -> None:
    """One request: resume from the end of ``part`` when it exists, else start from zero."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "scones-unlimited-etl"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = urlopen(Request(url, headers=headers), timeout=timeout_s)
    except HTTPError as err:
        if err.code == 416 and offset:  # the partial file is not a prefix the server knows
            part.unlink()
            raise _Incomplete("server refused to resume; restarting from zero") from err
        raise
    with response:
        if not (offset and response.status == 206 and _range_start(response) == offset):
            offset = 0  # the server sent the whole file: start over
        length = _content_length(response)
        total = offset + length if length is not None else None
        try:
            with (
                part.open("ab" if offset else "wb") as out,
                tqdm(
                    total=total,
                    initial=offset,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=f"download {part.name.removesuffix('.part')}",
                    leave=False,
                ) as bar,
            ):
                while chunk := _read(response):
                    out.write(chunk)
                    bar.update(len(chunk))
        except OSError as err:  # the disk, not the network (_read turns those into _Incomplete)
            raise DataDirUnwritable(
                f"cannot write the download {part}: {err} (what was written is kept; the next run"
                " resumes from it)"
            ) from None
    size = part.stat().st_size
    if total is not None and size != total:
        raise _Incomplete(f"connection closed after {size} of {total} bytes")


def _read(response: http.client.HTTPResponse) -> bytes:
    """The next chunk of the body; a failing connection is ``_Incomplete`` (retried), so that
    an ``OSError`` around it can only come from the local file."""
    try:
        return response.read(CHUNK)
    except (OSError, http.client.HTTPException) as err:
        raise _Incomplete(f"connection lost: {err!r}") from err


def _content_length(response: http.client.HTTPResponse) -> int | None:
    """The body's announced size, or None when the header is missing or not a byte count: it
    only sizes the progress bar (http.client then reads to the end, and the MD5 check decides)."""
    length = response.headers.get("Content-Length", "").strip()
    return int(length) if length.isdigit() else None


def _range_start(response: http.client.HTTPResponse) -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None
