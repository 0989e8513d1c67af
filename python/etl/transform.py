"""Transform: the selected classes of the archive -> ``data/processed`` (PNG, .lst, labels.json).

The dataset is written into a temporary directory next to ``data/processed`` and swapped in
with renames only once complete, so an interrupted or failed run leaves the previous dataset
as it was. ``manifest.json`` records what the dataset was built from (tarball md5, classes) and
the md5 of every file; a later run that finds the same inputs and an intact tree skips the work,
and ``content_sha256`` identifies the dataset's exact content for the stages that consume it.

Layout (paths in the ``.lst`` files are relative to ``data/processed``)::

    train/<class>/<file name>.png   32x32 RGB, pixels exactly as in the pickle
    test/<class>/<file name>.png
    train.lst, test.lst             "<index>\\t<label>\\t<path>" per image (SageMaker format)
    labels.json                     class names, index = label
    manifest.json
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from PIL import Image
from tqdm import tqdm

from etl.archive import SPLITS, Archive
from etl.errors import DataDirUnwritable, UnknownClass, UnsafeArchive
from settings import get_logger

log = get_logger("etl.transform")

MANIFEST = "manifest.json"
FORMAT = 1  # bump when the layout changes, so existing datasets are rebuilt
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class Manifest:
    classes: tuple[str, ...]
    source_md5: str
    counts: dict[str, dict[str, int]]  # split -> class -> images
    files: dict[str, str]  # path relative to data/processed -> md5 (manifest.json excluded)
    content_sha256: str

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "classes": list(self.classes),
                "source_md5": self.source_md5,
                "counts": self.counts,
                "content_sha256": self.content_sha256,
                "files": self.files,
            },
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        """The manifest in ``text``; ``ValueError`` unless it has the shape ``to_json`` writes."""
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError(f"manifest is a JSON {type(raw).__name__}, not an object")
        if raw.get("format") != FORMAT:
            raise ValueError(f"manifest format {raw.get('format')!r}, expected {FORMAT}")
        classes, counts, files = raw["classes"], raw["counts"], raw["files"]
        if not (isinstance(classes, list) and all(isinstance(name, str) for name in classes)):
            raise ValueError("manifest classes are not a list of names")
        if not (isinstance(files, dict) and all(isinstance(md5, str) for md5 in files.values())):
            raise ValueError("manifest files are not an object of md5s")
        if not (
            isinstance(counts, dict)
            and all(
                isinstance(counts.get(split), dict) and counts[split].keys() == set(classes)
                for split in SPLITS
            )
        ):
            raise ValueError("manifest counts are not one number per split and class")
        return cls(
            classes=tuple(classes),
            source_md5=raw["source_md5"],
            counts=counts,
            files=files,
            content_sha256=raw["content_sha256"],
        )


def content_hash(files: Mapping[str, str]) -> str:
    """One sha256 for the whole dataset: over the sorted ``path<TAB>md5`` lines."""
    lines = "".join(f"{path}\t{md5}\n" for path, md5 in sorted(files.items()))
    return hashlib.sha256(lines.encode()).hexdigest()


def current_manifest(processed: Path, source_md5: str, classes: Sequence[str]) -> Manifest | None:
    """The manifest of ``processed`` when it was built from the same tarball and classes and
    every file is still there, unchanged, with nothing added; otherwise ``None`` (rebuild)."""
    try:
        manifest = Manifest.from_json((processed / MANIFEST).read_text())
    except (OSError, ValueError, KeyError, TypeError) as err:
        log.info("no usable manifest", extra={"fields": {"reason": err}})
        return None
    if manifest.source_md5 != source_md5 or manifest.classes != tuple(classes):
        return None
    present = {
        path.relative_to(processed).as_posix(): path
        for path in processed.rglob("*")
        if path.is_file() and path.name != MANIFEST
    }
    if present.keys() != manifest.files.keys():
        log.info("dataset files differ from the manifest", extra={"fields": {}})
        return None
    for rel, path in present.items():
        if _md5(path.read_bytes()) != manifest.files[rel]:
            log.info("dataset file changed", extra={"fields": {"path": rel}})
            return None
    if content_hash(manifest.files) != manifest.content_sha256:
        return None
    return manifest


def build(archive: Archive, classes: Sequence[str], source_md5: str, processed: Path) -> Manifest:
    """Write the dataset of ``classes`` into a temporary directory, then swap it in."""
    missing = [name for name in classes if name not in archive.fine_label_names]
    if missing:
        raise UnknownClass(
            f"{', '.join(missing)} not in the archive's meta; it has:"
            f" {', '.join(archive.fine_label_names)}"
        )
    staging = processed.with_name(f".{processed.name}.tmp-{os.getpid()}")
    try:
        processed.parent.mkdir(parents=True, exist_ok=True)
        manifest = _write(archive, tuple(classes), source_md5, staging)
        _swap_in(staging, processed)
    except OSError as err:
        raise DataDirUnwritable(f"cannot write the dataset next to {processed}: {err}") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return manifest


def recover(processed: Path) -> None:
    """Clean what an interrupted run left next to ``processed`` (call under the data lock).

    A temporary build is deleted. A previous dataset moved aside is put back if the swap was cut
    between its two renames, deleted otherwise.
    """
    for leftover in sorted(processed.parent.glob(f".{processed.name}.tmp-*")):
        shutil.rmtree(leftover, ignore_errors=True)
    for previous in sorted(processed.parent.glob(f".{processed.name}.old-*")):
        if processed.exists():
            shutil.rmtree(previous, ignore_errors=True)
        else:
            os.replace(previous, processed)


def _swap_in(staging: Path, processed: Path) -> None:
    previous = processed.with_name(f".{processed.name}.old-{os.getpid()}")
    if processed.exists():
        os.replace(processed, previous)
    os.replace(staging, processed)
    shutil.rmtree(previous, ignore_errors=True)


def _write(archive: Archive, classes: tuple[str, ...], source_md5: str, root: Path) -> Manifest:
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    files: dict[str, str] = {}
    counts: dict[str, dict[str, int]] = {}
    label_of = {archive.fine_label_names.index(name): label for label, name in enumerate(classes)}
    for split in SPLITS:
        part = archive.splits[split]
        rows = np.flatnonzero(np.isin(part.fine_labels, list(label_of)))
        images = np.ascontiguousarray(part.data[rows].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        counts[split] = dict.fromkeys(classes, 0)
        for name in classes:
            (root / split / name).mkdir(parents=True)
        used: set[str] = set()
        lines: list[str] = []
        for row, pixels in zip(
            tqdm(rows, desc=f"write {split}", unit="img", leave=False), images, strict=True
        ):
            label = label_of[int(part.fine_labels[row])]
            rel = f"{split}/{classes[label]}/{_png_name(part.filenames[row], int(row), used)}"
            files[rel] = _write_file(root / rel, _png(pixels))
            lines.append(f"{len(lines)}\t{label}\t{rel}\n")
            counts[split][classes[label]] += 1
        files[f"{split}.lst"] = _write_file(root / f"{split}.lst", "".join(lines).encode())
    files["labels.json"] = _write_file(root / "labels.json", json.dumps(list(classes)).encode())
    manifest = Manifest(
        classes=classes,
        source_md5=source_md5,
        counts=counts,
        files=files,
        content_sha256=content_hash(files),
    )
    (root / MANIFEST).write_text(manifest.to_json())
    return manifest


def _png_name(filename: str, row: int, used: set[str]) -> str:
    """The pickle's file name as a PNG name; a name seen twice gets the row number appended
    (and a counter, should that name be taken too).

    The name comes from untrusted data and becomes a path, so it must be a plain file name.
    """
    if not _PLAIN_NAME.fullmatch(filename) or ".." in filename:
        raise UnsafeArchive(f"file name {filename!r} in the pickle is not a plain file name")
    stem = filename.removesuffix(".png")
    name = f"{stem}.png"
    if name in used:
        name = f"{stem}-{row}.png"
        suffix = 0
        while name in used:  # another row's own name: never overwrite its image
            suffix += 1
            name = f"{stem}-{row}-{suffix}.png"
    used.add(name)
    return name


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _write_file(path: Path, content: bytes) -> str:
    path.write_bytes(content)
    return _md5(content)


def _md5(content: bytes) -> str:
    return hashlib.md5(content).hexdigest()
