import errno
import io
import json
import os
import pickle
import shutil
import tarfile
from pathlib import Path

import numpy as np
import pytest
from cifar_fixture import FINE_LABEL_NAMES, load_member, write_tiny_cifar_tarball
from PIL import Image

from etl import transform
from etl.archive import Archive, Split, read_archive
from etl.classes import VEHICLES
from etl.errors import DataDirUnwritable, UnknownClass, UnsafeArchive
from etl.transform import build, current_manifest, recover

MD5 = "0123456789abcdef0123456789abcdef"


@pytest.fixture(scope="module")
def archive(tiny_cifar_tarball):
    return read_archive(tiny_cifar_tarball)


def _pickled_by_name(tarball: Path, split: str) -> dict[str, tuple[int, np.ndarray]]:
    """file name -> (fine label, 32x32x3 pixels), straight from the pickle."""
    raw = load_member(tarball, split)
    images = raw[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return {
        name.decode(): (label, image)
        for name, label, image in zip(raw[b"filenames"], raw[b"fine_labels"], images)
    }


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*")
    }


def test_pngs_lst_and_labels_for_the_selected_classes(tmp_path, archive, tiny_cifar_tarball):
    processed = tmp_path / "processed"
    manifest = build(archive, ("bicycle", "motorcycle"), MD5, processed)

    assert json.loads((processed / "labels.json").read_text()) == ["bicycle", "motorcycle"]
    assert sorted(p.name for p in processed.iterdir()) == [
        "labels.json", "manifest.json", "test", "test.lst", "train", "train.lst",
    ]  # fmt: skip
    for split, per_class in (("train", 6), ("test", 3)):
        assert sorted(p.name for p in (processed / split).iterdir()) == ["bicycle", "motorcycle"]
        assert manifest.counts[split] == {"bicycle": per_class, "motorcycle": per_class}
        pickled = _pickled_by_name(tiny_cifar_tarball, split)
        lines = (processed / f"{split}.lst").read_text().splitlines()
        assert len(lines) == 2 * per_class
        for index, line in enumerate(lines):
            number, label, rel = line.split("\t")
            assert int(number) == index
            split_dir, class_dir, name = rel.split("/")
            assert split_dir == split and class_dir == ["bicycle", "motorcycle"][int(label)]
            fine, pixels = pickled[name]
            assert FINE_LABEL_NAMES[fine] == class_dir  # label from the pickle, not the name
            with Image.open(processed / rel) as image:
                assert image.format == "PNG" and image.mode == "RGB" and image.size == (32, 32)
                assert np.array_equal(np.asarray(image), pixels)
        # the pickled order is kept, and every selected image is there, no other
        selected = [n for n, (fine, _) in pickled.items() if fine in (8, 48)]
        assert [line.rsplit("/", 1)[1] for line in lines] == selected


def test_bike_named_motorcycles_are_motorcycles(tmp_path, archive, tiny_cifar_tarball):
    processed = tmp_path / "processed"
    build(archive, ("bicycle", "motorcycle"), MD5, processed)
    for split in ("train", "test"):
        bikes = {
            name: FINE_LABEL_NAMES[fine]
            for name, (fine, _) in _pickled_by_name(tiny_cifar_tarball, split).items()
            if name.startswith("bike_s_")
        }
        assert "motorcycle" in bikes.values()
        for name, truth in bikes.items():
            assert (processed / split / truth / name).is_file()
            lst = (processed / f"{split}.lst").read_text()
            label = ["bicycle", "motorcycle"].index(truth)
            assert f"\t{label}\t{split}/{truth}/{name}\n" in lst


def test_label_index_follows_the_requested_order(tmp_path, archive):
    processed = tmp_path / "processed"
    build(archive, ("motorcycle", "bicycle"), MD5, processed)
    assert json.loads((processed / "labels.json").read_text()) == ["motorcycle", "bicycle"]
    for line in (processed / "train.lst").read_text().splitlines():
        _, label, rel = line.split("\t")
        assert rel.split("/")[1] == ["motorcycle", "bicycle"][int(label)]


def test_vehicles(tmp_path, archive):
    processed = tmp_path / "processed"
    manifest = build(archive, VEHICLES, MD5, processed)
    assert json.loads((processed / "labels.json").read_text()) == list(VEHICLES)
    assert sorted(p.name for p in (processed / "train").iterdir()) == sorted(VEHICLES)
    assert manifest.counts["train"] == dict.fromkeys(VEHICLES, 6)
    assert manifest.counts["test"] == dict.fromkeys(VEHICLES, 3)
    labels = {
        int(line.split("\t")[1]) for line in (processed / "train.lst").read_text().splitlines()
    }
    assert labels == set(range(10))


def test_manifest_describes_the_tree(tmp_path, archive):
    processed = tmp_path / "processed"
    manifest = build(archive, ("bicycle", "motorcycle"), MD5, processed)
    saved = json.loads((processed / "manifest.json").read_text())
    assert saved["source_md5"] == MD5
    assert saved["classes"] == ["bicycle", "motorcycle"]
    assert saved["counts"] == {
        "train": {"bicycle": 6, "motorcycle": 6},
        "test": {"bicycle": 3, "motorcycle": 3},
    }
    files = {p.relative_to(processed).as_posix() for p in processed.rglob("*") if p.is_file()}
    assert set(saved["files"]) == files - {"manifest.json"}
    assert saved["content_sha256"] == transform.content_hash(saved["files"])
    assert current_manifest(processed, MD5, ("bicycle", "motorcycle")) == manifest


def test_the_same_data_gives_the_same_content_hash(tmp_path, archive):
    one = build(archive, ("bicycle", "motorcycle"), MD5, tmp_path / "one")
    two = build(archive, ("bicycle", "motorcycle"), MD5, tmp_path / "two")
    assert one.content_sha256 == two.content_sha256


@pytest.mark.parametrize(
    "change",
    [
        "other tarball",
        "other classes",
        "deleted file",
        "modified file",
        "extra file",
        "bad json",
        "json null",
        "json list",
        "files not an object",
        "counts without a class",
    ],
)
def test_changes_are_detected(tmp_path, archive, change):
    processed = tmp_path / "processed"
    build(archive, ("bicycle", "motorcycle"), MD5, processed)
    md5, classes = MD5, ("bicycle", "motorcycle")
    first_png = next((processed / "train" / "bicycle").iterdir())
    if change == "other tarball":
        md5 = "f" * 32
    elif change == "other classes":
        classes = ("motorcycle", "bicycle")
    elif change == "deleted file":
        first_png.unlink()
    elif change == "modified file":
        first_png.write_bytes(first_png.read_bytes() + b"\0")
    elif change == "extra file":
        (processed / "train" / "bicycle" / "stray.png").write_bytes(b"")
    elif change == "bad json":
        (processed / "manifest.json").write_text("{")
    elif change in ("json null", "json list"):
        (processed / "manifest.json").write_text("null" if change == "json null" else "[]")
    else:
        saved = json.loads((processed / "manifest.json").read_text())
        if change == "files not an object":
            saved["files"] = sorted(saved["files"])
        else:
            del saved["counts"]["test"]["motorcycle"]
        (processed / "manifest.json").write_text(json.dumps(saved))
    assert current_manifest(processed, md5, classes) is None


def test_a_failed_build_leaves_the_previous_dataset_untouched(
    tmp_path, archive, tiny_cifar_tarball
):
    processed = tmp_path / "processed"
    build(archive, ("bicycle", "motorcycle"), MD5, processed)
    before = _tree(processed)

    train = load_member(tiny_cifar_tarball, "train")
    train[b"filenames"][train[b"fine_labels"].index(8)] = b"../../escape.png"
    bad = tmp_path / "bad.tar.gz"
    with tarfile.open(bad, "w:gz") as tar:
        for name in ("meta", "train", "test"):
            content = load_member(tiny_cifar_tarball, name) if name != "train" else train
            blob = pickle.dumps(content, protocol=2)
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    with pytest.raises(UnsafeArchive, match="not a plain file name"):
        build(read_archive(bad), ("bicycle", "motorcycle"), "e" * 32, processed)

    assert _tree(processed) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tar.gz", "processed"]
    assert not (tmp_path.parent / "escape.png").exists()


def test_an_interrupted_build_leaves_the_previous_dataset_untouched(tmp_path, archive, monkeypatch):
    processed = tmp_path / "processed"
    build(archive, ("bicycle", "motorcycle"), MD5, processed)
    before = _tree(processed)
    written = []

    def interrupted(pixels):
        written.append(1)
        if len(written) == 5:
            raise KeyboardInterrupt
        return real(pixels)

    real = transform._png
    monkeypatch.setattr(transform, "_png", interrupted)
    with pytest.raises(KeyboardInterrupt):
        build(archive, VEHICLES, MD5, processed)
    assert _tree(processed) == before
    assert [p.name for p in tmp_path.iterdir()] == ["processed"]


def test_a_full_disk_is_named_and_leaves_the_previous_dataset_untouched(
    tmp_path, archive, monkeypatch
):
    processed = tmp_path / "processed"
    build(archive, ("bicycle", "motorcycle"), MD5, processed)
    before = _tree(processed)
    written = []

    def disk_fills_up(path, content):
        written.append(path)
        if len(written) == 5:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, content)

    real = transform._write_file
    monkeypatch.setattr(transform, "_write_file", disk_fills_up)
    with pytest.raises(DataDirUnwritable, match="cannot write the dataset.*No space left"):
        build(archive, VEHICLES, MD5, processed)
    assert _tree(processed) == before
    assert [p.name for p in tmp_path.iterdir()] == ["processed"]


def test_first_build_failing_leaves_nothing(tmp_path, archive):
    short_meta = Archive(fine_label_names=archive.fine_label_names[:5], splits=archive.splits)
    with pytest.raises(UnknownClass, match="bicycle not in the archive's meta"):
        build(short_meta, ("bicycle",), MD5, tmp_path / "processed")
    assert list(tmp_path.iterdir()) == []


def test_recover_cleans_temporary_builds_and_restores_a_cut_swap(tmp_path, archive):
    processed = tmp_path / "processed"
    build(archive, ("bicycle", "motorcycle"), MD5, processed)
    before = _tree(processed)
    (tmp_path / ".processed.tmp-123" / "train").mkdir(parents=True)
    os.replace(processed, tmp_path / ".processed.old-123")  # cut between the two renames
    recover(processed)
    assert _tree(processed) == before
    assert [p.name for p in tmp_path.iterdir()] == ["processed"]

    shutil.copytree(processed, tmp_path / ".processed.old-456")  # cut after the second rename
    recover(processed)
    assert [p.name for p in tmp_path.iterdir()] == ["processed"]


def test_duplicate_file_names_are_kept_apart(tmp_path):
    tarball = write_tiny_cifar_tarball(tmp_path / "dup.tar.gz", ("bicycle",), 2)
    archive = read_archive(tarball)
    names = archive.splits["train"].filenames
    dup = Split(
        data=archive.splits["train"].data,
        fine_labels=archive.splits["train"].fine_labels,
        filenames=(names[0], names[0]),
    )
    archive = Archive(archive.fine_label_names, {"train": dup, "test": archive.splits["test"]})
    processed = tmp_path / "processed"
    manifest = build(archive, ("bicycle",), MD5, processed)
    assert manifest.counts["train"] == {"bicycle": 2}
    stem = names[0].removesuffix(".png")
    assert sorted(p.name for p in (processed / "train" / "bicycle").iterdir()) == [
        f"{stem}-1.png", f"{stem}.png",
    ]  # fmt: skip


def test_a_renamed_duplicate_never_overwrites_another_image(tmp_path):
    # The third row repeats "a.png"; its renamed form "a-2.png" is the first row's own name.
    tarball = write_tiny_cifar_tarball(tmp_path / "dup.tar.gz", ("bicycle",), 3)
    archive = read_archive(tarball)
    train = archive.splits["train"]
    assert len(train.filenames) == 3
    dup = Split(
        data=train.data, fine_labels=train.fine_labels, filenames=("a-2.png", "a.png", "a.png")
    )
    archive = Archive(archive.fine_label_names, {"train": dup, "test": archive.splits["test"]})
    processed = tmp_path / "processed"
    build(archive, ("bicycle",), MD5, processed)
    paths = [line.split("\t")[2] for line in (processed / "train.lst").read_text().splitlines()]
    assert len(set(paths)) == 3
    for row, rel in enumerate(paths):
        pixels = np.asarray(Image.open(processed / rel))
        assert np.array_equal(pixels, train.data[row].reshape(3, 32, 32).transpose(1, 2, 0))
