"""``python -m etl``: extract the CIFAR-100 tarball, transform the selected classes into
``data/processed``, load that tree into the data bucket. Each step skips what is already done,
so a second run with the same inputs only checks (a few seconds)."""

from __future__ import annotations

import argparse
import fcntl
import os
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from etl import extract, load, transform
from etl.archive import SPLITS, read_archive
from etl.classes import DEFAULT_CLASSES, parse_classes
from etl.errors import DataDirBusy, DataDirUnwritable
from etl.extract import Tarball
from etl.load import SyncResult
from etl.transform import Manifest
from settings import get_logger, outputs, repo_root

log = get_logger("etl")


@dataclass(frozen=True)
class Report:
    """What a run did, for the summary (and for tests)."""

    tarball: Tarball
    processed: Path
    manifest: Manifest
    rebuilt: bool
    bucket: str
    sync: SyncResult
    seconds: float


def run(
    classes: Sequence[str],
    *,
    data_dir: Path,
    bucket: str,
    tarball: Path | None = None,
    url: str = extract.OFFICIAL_URL,
    md5: str = extract.OFFICIAL_MD5,
) -> Report:
    """The whole ETL. ``tarball`` (a local copy) replaces the download of ``url``."""
    started = time.perf_counter()
    s3 = load.s3_client()
    load.check_bucket(s3, bucket)  # before a 169 MB download, not after
    processed = data_dir / "processed"
    with _locked(data_dir):
        transform.recover(processed)
        source = (
            extract.local_tarball(tarball) if tarball else extract.fetch(url, data_dir / "raw", md5)
        )
        manifest = transform.current_manifest(processed, source.md5, classes)
        rebuilt = manifest is None
        if manifest is None:
            manifest = transform.build(read_archive(source.path), classes, source.md5, processed)
        files = {
            **manifest.files,
            transform.MANIFEST: extract.file_md5(processed / transform.MANIFEST),
        }
        result = load.sync(s3, processed, files, bucket)
    return Report(
        tarball=source,
        processed=processed,
        manifest=manifest,
        rebuilt=rebuilt,
        bucket=bucket,
        sync=result,
        seconds=time.perf_counter() - started,
    )


def summary(report: Report) -> str:
    """A few lines: where the dataset is, images per split and class, what was uploaded."""
    counts = report.manifest.counts
    source = report.tarball.path.name + (" (downloaded)" if report.tarball.downloaded else "")
    state = f"rebuilt from {source}" if report.rebuilt else f"unchanged ({source}, same classes)"
    width = max(len(name) for name in (*report.manifest.classes, "total"))
    lines = [
        f"dataset  {_shown(report.processed)}: {state}, md5 {report.tarball.md5}",
        f"  {'class':<{width}}  " + "  ".join(f"{split:>6}" for split in SPLITS),
    ]
    for name in report.manifest.classes:
        lines.append(f"  {name:<{width}}  " + "  ".join(f"{counts[s][name]:>6}" for s in SPLITS))
    lines.append(
        f"  {'total':<{width}}  " + "  ".join(f"{sum(counts[s].values()):>6}" for s in SPLITS)
    )
    for split in SPLITS:
        empty = [name for name, n in counts[split].items() if n == 0]
        if empty:
            lines.append(f"  warning: {split} has no images of {', '.join(empty)}")
    sync = report.sync
    lines.append(
        f"upload   s3://{report.bucket}/: {sync.uploaded} uploaded, {sync.skipped} unchanged,"
        f" {sync.deleted} deleted  ({report.seconds:.1f} s in all)"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # so a killed run cleans its temporary files
    classes = parse_classes(args.classes)
    md5 = extract.parse_md5(args.md5)
    report = run(
        classes,
        data_dir=args.data_dir,
        bucket=outputs("base")["data_bucket"],
        tarball=args.tarball,
        url=args.url,
        md5=md5,
    )
    print(summary(report))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m etl",
        description="CIFAR-100 -> data/processed (PNG, .lst, labels.json) -> s3://<data bucket>/",
    )
    parser.add_argument(
        "--classes",
        default=DEFAULT_CLASSES,
        help="CIFAR-100 fine class names, comma separated, in label order; `vehicles` = the ten"
        f" classes of vehicles_1 and vehicles_2 (default: {DEFAULT_CLASSES})",
    )
    parser.add_argument(
        "--tarball",
        type=Path,
        help="local cifar-100-python.tar.gz to use instead of downloading (no md5 imposed)",
    )
    parser.add_argument(
        "--url", default=extract.OFFICIAL_URL, help="where to download the tarball from"
    )
    parser.add_argument(
        "--md5", default=extract.OFFICIAL_MD5, help="md5 the download must have (32 hex digits)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=repo_root() / "data",
        help="holds raw/ (the download) and processed/ (the dataset) (default: ./data)",
    )
    return parser


@contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """One run at a time per data directory (two would swap datasets under each other)."""
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        handle = (data_dir / ".etl.lock").open("w")
    except OSError as err:
        raise DataDirUnwritable(f"cannot use {data_dir} as the data directory: {err}") from None
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise DataDirBusy(f"another `make data` is running on {data_dir}") from err
        yield


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
