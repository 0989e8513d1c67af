"""Read the CIFAR-100 archive safely, without unpacking it to disk.

Only the three members the dataset needs (``cifar-100-python/meta``, ``train``, ``test``) are
read, in memory, each up to ``MAX_MEMBER_BYTES`` (the official ``train`` member holds 155 MB;
a larger one is refused before it is read, so a crafted archive cannot exhaust memory). Any
member with an absolute path, a ``..`` component, or that is a link or a
device makes the whole archive untrusted. The pickles are read as the official files require
(``encoding="bytes"``: they were written by Python 2, their keys are bytes) by an unpickler that
only lets numpy rebuild its arrays: a pickle can otherwise run arbitrary code.
"""

from __future__ import annotations

import io
import pickle
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from etl.errors import CorruptArchive, UnsafeArchive

PREFIX = "cifar-100-python"
SPLITS = ("train", "test")
MEMBERS = {f"{PREFIX}/{name}": name for name in ("meta", *SPLITS)}
PIXELS = 3 * 32 * 32  # one row: the red plane, then green, then blue, each 32x32 row-major
MAX_MEMBER_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Split:
    """One pickle of images: row ``i`` of ``data`` has label ``fine_labels[i]``."""

    data: np.ndarray  # (N, 3072) uint8
    fine_labels: np.ndarray  # (N,) int64, indices into Archive.fine_label_names
    filenames: tuple[str, ...]


@dataclass(frozen=True)
class Archive:
    fine_label_names: tuple[str, ...]
    splits: dict[str, Split]


def read_archive(path: Path) -> Archive:
    """Parse ``path``; raise ``CorruptArchive`` or ``UnsafeArchive`` instead of trusting it."""
    blobs = _read_members(path)
    meta = _unpickle(blobs["meta"], "meta")
    names = _names(meta, b"fine_label_names", "meta")
    return Archive(
        fine_label_names=names,
        splits={split: _split(_unpickle(blobs[split], split), split, names) for split in SPLITS},
    )


def _read_members(path: Path) -> dict[str, bytes]:
    blobs: dict[str, bytes] = {}
    try:
        with tarfile.open(path, mode="r:*") as tar:
            for member in tar:
                name = _checked_name(member)
                wanted = MEMBERS.get(name)
                if wanted is None:
                    continue
                if not member.isfile():
                    raise UnsafeArchive(f"{path}: member {member.name!r} is not a regular file")
                if wanted in blobs:
                    raise CorruptArchive(f"{path}: member {member.name!r} appears twice")
                if member.size > MAX_MEMBER_BYTES:
                    raise UnsafeArchive(
                        f"{path}: member {member.name!r} holds {member.size} bytes, more than"
                        f" the {MAX_MEMBER_BYTES // 2**20} MiB any CIFAR-100 member needs"
                    )
                handle = tar.extractfile(member)
                assert handle is not None  # a regular file always has content
                blobs[wanted] = handle.read()
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        raise CorruptArchive(f"{path}: not a readable tar.gz archive ({err})") from err
    missing = [name for name, key in MEMBERS.items() if key not in blobs]
    if missing:
        raise CorruptArchive(f"{path}: missing member(s) {', '.join(missing)}")
    return blobs


def _checked_name(member: tarfile.TarInfo) -> str:
    """The member's normalised name, after refusing anything that could escape or redirect."""
    raw = member.name
    path = PurePosixPath(raw)
    if raw.startswith(("/", "\\")) or path.is_absolute() or (len(raw) > 1 and raw[1] == ":"):
        raise UnsafeArchive(f"member {raw!r} has an absolute path")
    if ".." in path.parts or "\\" in raw:
        raise UnsafeArchive(f"member {raw!r} escapes the archive directory")
    if member.issym() or member.islnk():
        raise UnsafeArchive(f"member {raw!r} is a link (to {member.linkname!r})")
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchive(f"member {raw!r} is a device or special file")
    return str(path)


class _ForbiddenGlobal(pickle.UnpicklingError):
    pass


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals numpy arrays need, nothing executable."""

    ALLOWED = {
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2
    }

    def find_class(self, module: str, name: str) -> object:
        if module.startswith("numpy.core."):  # the official files predate numpy 2
            module = "numpy._core." + module.removeprefix("numpy.core.")
        if (module, name) not in self.ALLOWED:
            raise _ForbiddenGlobal(f"{module}.{name}")
        return super().find_class(module, name)


def _unpickle(blob: bytes, member: str) -> dict:
    try:
        value = _ArrayUnpickler(io.BytesIO(blob), encoding="bytes").load()
    except _ForbiddenGlobal as err:
        raise UnsafeArchive(f"{PREFIX}/{member}: the pickle references {err}") from err
    except Exception as err:  # a damaged pickle can fail in any of a dozen ways
        raise CorruptArchive(
            f"{PREFIX}/{member}: cannot be unpickled ({type(err).__name__}: {err})"
        ) from err
    if not isinstance(value, dict):
        raise CorruptArchive(f"{PREFIX}/{member}: expected a dict, found {type(value).__name__}")
    return value


def _names(value: dict, key: bytes, member: str) -> tuple[str, ...]:
    names = value.get(key)
    if not isinstance(names, list) or not all(isinstance(name, bytes) for name in names):
        raise CorruptArchive(f"{PREFIX}/{member}: {key.decode()} is missing or not a list of bytes")
    try:
        return tuple(name.decode("ascii") for name in names)
    except UnicodeDecodeError as err:
        raise CorruptArchive(f"{PREFIX}/{member}: {key.decode()} is not ASCII ({err})") from err


def _split(value: dict, member: str, label_names: tuple[str, ...]) -> Split:
    data = value.get(b"data")
    labels = value.get(b"fine_labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise CorruptArchive(f"{PREFIX}/{member}: data is not a 2-D uint8 array")
    if data.shape[1] != PIXELS:
        raise CorruptArchive(f"{PREFIX}/{member}: rows of {data.shape[1]} bytes, not {PIXELS}")
    if not isinstance(labels, list) or len(labels) != len(data):
        raise CorruptArchive(f"{PREFIX}/{member}: fine_labels missing or not one per image")
    if not all(isinstance(label, int) and 0 <= label < len(label_names) for label in labels):
        raise CorruptArchive(f"{PREFIX}/{member}: fine_labels outside 0..{len(label_names) - 1}")
    filenames = _names(value, b"filenames", member)
    if len(filenames) != len(data):
        raise CorruptArchive(f"{PREFIX}/{member}: filenames missing or not one per image")
    return Split(data=data, fine_labels=np.asarray(labels, dtype=np.int64), filenames=filenames)
