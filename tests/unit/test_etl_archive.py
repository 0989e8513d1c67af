import io
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
from cifar_fixture import _meta, load_member, write_tiny_cifar_tarball

from etl import archive
from etl.archive import read_archive
from etl.errors import CorruptArchive, UnsafeArchive


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, content in members:
            if content is not None:
                info.size = len(content)
            tar.addfile(info, io.BytesIO(content) if content is not None else None)
    return path


def _file(name: str, content: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), content


def _official_members(tarball: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [
        _file(f"cifar-100-python/{name}", pickle.dumps(load_member(tarball, name), protocol=2))
        for name in ("meta", "train", "test")
    ]


def test_reads_labels_pixels_and_names_from_the_pickles(tiny_cifar_tarball):
    archive = read_archive(tiny_cifar_tarball)
    assert len(archive.fine_label_names) == 100
    for split in ("train", "test"):
        pickled = load_member(tiny_cifar_tarball, split)
        part = archive.splits[split]
        assert part.fine_labels.tolist() == pickled[b"fine_labels"]
        assert np.array_equal(part.data, pickled[b"data"])
        assert list(part.filenames) == [name.decode() for name in pickled[b"filenames"]]


def test_not_an_archive(tmp_path):
    path = tmp_path / "bad.tar.gz"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(CorruptArchive, match="not a readable tar.gz archive"):
        read_archive(path)


@pytest.mark.parametrize("keep", [0.3, 0.7, 0.99])
def test_truncated_archive(tmp_path, tiny_cifar_tarball, keep):
    content = tiny_cifar_tarball.read_bytes()
    path = tmp_path / "truncated.tar.gz"
    path.write_bytes(content[: int(len(content) * keep)])
    with pytest.raises(CorruptArchive):
        read_archive(path)


def test_a_member_over_the_size_limit_is_refused_before_it_is_read(
    tmp_path, tiny_cifar_tarball, monkeypatch
):
    members = _official_members(tiny_cifar_tarball)
    sizes = {info.name: len(content) for info, content in members}
    monkeypatch.setattr(archive, "MAX_MEMBER_BYTES", sizes["cifar-100-python/train"] - 1)
    path = _tar(tmp_path / "a.tar.gz", members)
    with pytest.raises(UnsafeArchive, match="'cifar-100-python/train' holds .* bytes, more than"):
        read_archive(path)
    monkeypatch.setattr(archive, "MAX_MEMBER_BYTES", sizes["cifar-100-python/train"])
    assert read_archive(path).splits["train"].data.shape[1] == 3072


def test_missing_member(tmp_path, tiny_cifar_tarball):
    members = [m for m in _official_members(tiny_cifar_tarball) if not m[0].name.endswith("test")]
    with pytest.raises(CorruptArchive, match="missing member.*cifar-100-python/test"):
        read_archive(_tar(tmp_path / "a.tar.gz", members))


@pytest.mark.parametrize(
    "name, message",
    [
        ("../../etc/evil", "escapes the archive directory"),
        ("cifar-100-python/../../evil", "escapes the archive directory"),
        ("/etc/evil", "absolute path"),
    ],
)
def test_member_escaping_the_directory(tmp_path, tiny_cifar_tarball, name, message):
    members = [_file(name, b"x"), *_official_members(tiny_cifar_tarball)]
    with pytest.raises(UnsafeArchive, match=message):
        read_archive(_tar(tmp_path / "a.tar.gz", members))


@pytest.mark.parametrize("kind", [tarfile.SYMTYPE, tarfile.LNKTYPE])
def test_link_members_are_refused(tmp_path, tiny_cifar_tarball, kind):
    link = tarfile.TarInfo("cifar-100-python/train")
    link.type, link.linkname = kind, "/etc/passwd"
    members = [m for m in _official_members(tiny_cifar_tarball) if "train" not in m[0].name]
    with pytest.raises(UnsafeArchive, match="is a link"):
        read_archive(_tar(tmp_path / "a.tar.gz", [(link, None), *members]))


def test_pickle_running_code_is_refused_and_not_run(tmp_path, tiny_cifar_tarball):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    members = [m for m in _official_members(tiny_cifar_tarball) if "meta" not in m[0].name]
    members.append(_file("cifar-100-python/meta", pickle.dumps(Exploit(), protocol=2)))
    with pytest.raises(UnsafeArchive, match="references posix.system"):
        read_archive(_tar(tmp_path / "a.tar.gz", members))
    assert not marker.exists()


def test_damaged_pickle(tmp_path, tiny_cifar_tarball):
    members = _official_members(tiny_cifar_tarball)
    info, content = members[1]
    members[1] = (info, content[: len(content) // 2])
    with pytest.raises(CorruptArchive, match="cifar-100-python/train: cannot be unpickled"):
        read_archive(_tar(tmp_path / "a.tar.gz", members))


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda d: d.update({b"data": d[b"data"][:, :100]}), "rows of 100 bytes"),
        (lambda d: d.update({b"data": d[b"data"].astype(np.float32)}), "2-D uint8"),
        (lambda d: d[b"fine_labels"].pop(), "not one per image"),
        (lambda d: d[b"fine_labels"].__setitem__(0, 100), "outside 0..99"),
        (lambda d: d[b"filenames"].pop(), "filenames missing or not one per image"),
        (lambda d: d.pop(b"fine_labels"), "fine_labels missing"),
    ],
)
def test_malformed_split(tmp_path, tiny_cifar_tarball, change, message):
    train = load_member(tiny_cifar_tarball, "train")
    change(train)
    members = [m for m in _official_members(tiny_cifar_tarball) if "train" not in m[0].name]
    members.append(_file("cifar-100-python/train", pickle.dumps(train, protocol=2)))
    with pytest.raises(CorruptArchive, match=message):
        read_archive(_tar(tmp_path / "a.tar.gz", members))


def test_meta_without_label_names(tmp_path, tiny_cifar_tarball):
    meta = _meta()
    del meta[b"fine_label_names"]
    members = [m for m in _official_members(tiny_cifar_tarball) if "meta" not in m[0].name]
    members.append(_file("cifar-100-python/meta", pickle.dumps(meta, protocol=2)))
    with pytest.raises(CorruptArchive, match="fine_label_names is missing"):
        read_archive(_tar(tmp_path / "a.tar.gz", members))


def test_extra_members_are_ignored_and_dot_slash_names_accepted(tmp_path, tiny_cifar_tarball):
    members = [
        (_file("./" + info.name, content))
        for info, content in _official_members(tiny_cifar_tarball)
    ]
    members.append(_file("cifar-100-python/file.txt~", b""))
    archive = read_archive(_tar(tmp_path / "a.tar.gz", members))
    assert len(archive.splits["train"].filenames) == len(
        load_member(tiny_cifar_tarball, "train")[b"filenames"]
    )


def test_fixture_is_deterministic(tmp_path):
    one = write_tiny_cifar_tarball(tmp_path / "one.tar.gz", seed=3)
    two = write_tiny_cifar_tarball(tmp_path / "two.tar.gz", seed=3)
    assert one.read_bytes() == two.read_bytes()
