import hashlib
import socket
from pathlib import Path

import pytest
from cifar_fixture import TarballServer
from tqdm import tqdm

from etl import extract
from etl.errors import (
    ChecksumMismatch,
    DataDirUnwritable,
    DownloadFailed,
    InvalidMd5,
    TarballNotFound,
    TarballUnreadable,
)
from etl.extract import fetch, local_tarball, parse_md5


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(extract, "BACKOFF_S", 0.0)
    monkeypatch.setattr(extract, "TIMEOUT_S", 5.0)
    monkeypatch.setattr(extract, "CHUNK", 16 * 1024)  # several chunks for the tiny tarball


@pytest.fixture(scope="module")
def content(tiny_cifar_tarball):
    return tiny_cifar_tarball.read_bytes()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _size(n: int) -> str:
    return tqdm.format_sizeof(n, divisor=1024)


def test_download_with_progress_bar_and_md5(tmp_path, content, capsys):
    with TarballServer(content) as server:
        tarball = fetch(server.url, tmp_path / "raw", _md5(content))
    assert tarball.downloaded and tarball.md5 == _md5(content)
    assert tarball.path == tmp_path / "raw" / "cifar-100-python.tar.gz"
    assert tarball.path.read_bytes() == content
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["cifar-100-python.tar.gz"]
    assert server.requests == [None]
    bar = capsys.readouterr().err
    assert "download cifar-100-python.tar.gz" in bar
    assert f"/{_size(len(content))}" in bar


def test_resumes_after_a_dropped_connection(tmp_path, content, capsys):
    cut = len(content) // 3
    with TarballServer(content, drops=[cut]) as server:
        tarball = fetch(server.url, tmp_path, _md5(content))
    assert tarball.path.read_bytes() == content
    assert server.requests == [None, f"bytes={cut}-"]
    assert f"{_size(cut)}/{_size(len(content))}" in capsys.readouterr().err  # bar resumes


@pytest.mark.parametrize("header", ["unknown", "-5", "12 345"])
def test_a_content_length_that_is_not_a_byte_count_only_loses_the_bar_total(
    tmp_path, content, capsys, header
):
    with TarballServer(content, content_length=header) as server:
        tarball = fetch(server.url, tmp_path, _md5(content))
    assert tarball.path.read_bytes() == content
    assert f"/{_size(len(content))}" not in capsys.readouterr().err


def test_restarts_when_the_server_ignores_range(tmp_path, content):
    with TarballServer(content, drops=[1000], honour_range=False) as server:
        tarball = fetch(server.url, tmp_path, _md5(content))
    assert tarball.path.read_bytes() == content
    assert server.requests == [None, "bytes=1000-"]


def test_retries_are_bounded_and_the_next_run_resumes(tmp_path, content, monkeypatch):
    monkeypatch.setattr(extract, "ATTEMPTS", 3)
    with TarballServer(content, drops=[1000, 1000, 1000, 1000]) as server:
        with pytest.raises(DownloadFailed, match="gave up after 3 attempts") as caught:
            fetch(server.url, tmp_path, _md5(content))
    assert len(server.requests) == 3
    assert "CIFAR_TARBALL" in str(caught.value)
    assert not (tmp_path / "cifar-100-python.tar.gz").exists()  # nothing unverified is trusted
    assert (tmp_path / "cifar-100-python.tar.gz.part").stat().st_size == 3000

    with TarballServer(content) as server:
        tarball = fetch(server.url, tmp_path, _md5(content))
    assert server.requests == ["bytes=3000-"]
    assert tarball.path.read_bytes() == content


def test_md5_mismatch_says_expected_and_found_and_keeps_nothing(tmp_path, content):
    expected = "eb9058c3a382ffc7106e4002c42a8d85"
    with TarballServer(content) as server:
        with pytest.raises(ChecksumMismatch) as caught:
            fetch(server.url, tmp_path, expected)
    assert f"expected md5 {expected}, found {_md5(content)}" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_a_verified_download_is_not_fetched_again(tmp_path, content):
    with TarballServer(content) as server:
        fetch(server.url, tmp_path, _md5(content))
        again = fetch(server.url, tmp_path, _md5(content))
    assert server.requests == [None]
    assert not again.downloaded and again.md5 == _md5(content)


def test_a_damaged_cached_file_is_downloaded_again(tmp_path, content):
    (tmp_path / "cifar-100-python.tar.gz").write_bytes(content[:100])
    with TarballServer(content) as server:
        tarball = fetch(server.url, tmp_path, _md5(content))
    assert server.requests == [None]
    assert tarball.downloaded and tarball.path.read_bytes() == content


def test_a_cached_file_with_another_md5_stays_until_a_download_verifies(tmp_path, content):
    cached = tmp_path / "cifar-100-python.tar.gz"
    cached.write_bytes(content)
    expected = "eb9058c3a382ffc7106e4002c42a8d85"
    with TarballServer(content) as server:
        with pytest.raises(ChecksumMismatch) as caught:
            fetch(server.url, tmp_path, expected)
    assert f"(the download was deleted; {cached} is kept; rerun to retry)" in str(caught.value)
    assert [p.name for p in tmp_path.iterdir()] == [cached.name]
    assert cached.read_bytes() == content


def test_md5_is_32_hex_digits_in_any_case():
    assert parse_md5(" EB9058C3A382FFC7106E4002C42A8D85\n") == "eb9058c3a382ffc7106e4002c42a8d85"
    for text in ("", "eb9058c3", "eb9058c3a382ffc7106e4002c42a8d8g", "0" * 33):
        with pytest.raises(InvalidMd5, match="is not an md5 \\(32 hexadecimal digits\\)"):
            parse_md5(text)


@pytest.mark.parametrize(
    "url", ["cifar.tar.gz", "/tmp/cifar.tar.gz", "ftp://h/c.tar.gz", "http:///c"]
)
def test_only_http_https_and_file_urls(tmp_path, url):
    with pytest.raises(
        DownloadFailed, match="is not an http://, https:// or file:// URL.*--tarball"
    ):
        fetch(url, tmp_path, "0" * 32)
    assert list(tmp_path.iterdir()) == []


def test_a_file_url_is_downloaded(tmp_path, tiny_cifar_tarball, content):
    tarball = fetch(tiny_cifar_tarball.as_uri(), tmp_path / "raw", _md5(content))
    assert tarball.downloaded and tarball.path.read_bytes() == content


def test_a_missing_file_url_fails_at_once(tmp_path, monkeypatch):
    """Not retried: waiting does not make a local file appear."""
    monkeypatch.setattr(extract.time, "sleep", lambda s: pytest.fail("a missing file was retried"))
    url = (tmp_path / "absent" / "cifar-100-python.tar.gz").as_uri()
    with pytest.raises(DownloadFailed, match="No such file or directory.*CIFAR_TARBALL="):
        fetch(url, tmp_path / "raw", "0" * 32)
    assert list((tmp_path / "raw").iterdir()) == []


def test_no_network_suggests_a_local_tarball(tmp_path, monkeypatch):
    monkeypatch.setattr(extract, "ATTEMPTS", 2)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadFailed) as caught:
        fetch(f"http://127.0.0.1:{port}/cifar-100-python.tar.gz", tmp_path, "0" * 32)
    message = str(caught.value)
    assert "gave up after 2 attempts" in message and "refused" in message
    assert "make data CIFAR_TARBALL=" in message
    assert not (tmp_path / "cifar-100-python.tar.gz").exists()


def test_client_errors_are_not_retried(tmp_path, content):
    with TarballServer(content, status=404) as server:
        with pytest.raises(DownloadFailed, match="HTTP 404"):
            fetch(server.url, tmp_path, _md5(content))
    assert len(server.requests) == 1


def test_server_errors_are_retried(tmp_path, content, monkeypatch):
    monkeypatch.setattr(extract, "ATTEMPTS", 3)
    with TarballServer(content, status=503) as server:
        with pytest.raises(DownloadFailed, match="gave up after 3 attempts.*503"):
            fetch(server.url, tmp_path, _md5(content))
    assert len(server.requests) == 3


def test_a_full_disk_is_named_not_retried_as_a_network_error(tmp_path, content):
    part = tmp_path / "cifar-100-python.tar.gz.part"
    part.symlink_to("/dev/full")  # every write fails with ENOSPC, as on a full disk
    with TarballServer(content) as server:
        with pytest.raises(DataDirUnwritable, match="No space left on device"):
            fetch(server.url, tmp_path, _md5(content))
    assert server.requests == [None]
    assert not (tmp_path / "cifar-100-python.tar.gz").exists()


def test_local_tarball_needs_no_official_md5(tiny_cifar_tarball, content):
    tarball = local_tarball(tiny_cifar_tarball)
    assert tarball.md5 == _md5(content) and not tarball.downloaded


def test_missing_local_tarball(tmp_path):
    with pytest.raises(TarballNotFound, match="does not exist"):
        local_tarball(tmp_path / "nope.tar.gz")


def test_an_unreadable_local_tarball_is_named():
    """A file whose read fails (here with EIO: the kernel refuses to read address 0 of the
    process's memory; permissions would not stop root) is no traceback."""
    path = Path("/proc/self/mem")
    assert path.is_file()
    with pytest.raises(TarballUnreadable, match=f"cannot read {path}: Input/output error"):
        local_tarball(path)
