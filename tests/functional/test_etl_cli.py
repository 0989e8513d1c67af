"""`python -m etl` end to end: tiny tarball -> data/processed -> S3 (moto), and its errors."""

import hashlib
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from cifar_fixture import TarballServer
from moto import mock_aws
from moto.server import ThreadedMotoServer

from etl import extract, transform
from etl.cli import main
from etl.errors import DownloadFailed, InvalidMd5

BUCKET = "scones-data-test"


def _aws_env(monkeypatch, outputs_dir: Path) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("OUTPUTS_DIR", str(outputs_dir))
    outputs_dir.mkdir(exist_ok=True)
    (outputs_dir / "base.outputs.json").write_text(
        json.dumps({"data_bucket": {"value": BUCKET, "type": "string", "sensitive": False}})
    )


@pytest.fixture
def s3(tmp_path, monkeypatch):
    _aws_env(monkeypatch, tmp_path / "outputs")
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def _keys(s3) -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
    return {item["Key"] for page in pages for item in page.get("Contents", [])}


def _versions(s3) -> int:
    return len(s3.list_object_versions(Bucket=BUCKET).get("Versions", []))


def test_first_run_builds_and_uploads_second_run_changes_nothing(
    tmp_path, s3, tiny_cifar_tarball, capsys
):
    data = tmp_path / "data"
    argv = ["--tarball", str(tiny_cifar_tarball), "--data-dir", str(data)]
    assert main(argv) == 0
    first = capsys.readouterr().out
    assert "rebuilt from cifar-100-python.tar.gz" in first
    assert "bicycle          6       3" in first and "motorcycle       6       3" in first
    assert "total           12       6" in first
    assert "22 uploaded, 0 unchanged, 0 deleted" in first  # 18 PNG, 2 .lst, labels, manifest

    processed = data / "processed"
    local = {p.relative_to(processed).as_posix() for p in processed.rglob("*") if p.is_file()}
    assert _keys(s3) == local | {"_etl/index.json"}
    for key in local:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        assert body == (processed / key).read_bytes()

    before, versions = _tree(processed), _versions(s3)
    assert main(argv) == 0
    second = capsys.readouterr().out
    assert "unchanged (cifar-100-python.tar.gz, same classes)" in second
    assert "0 uploaded, 22 unchanged, 0 deleted" in second
    assert _tree(processed) == before  # not one file re-written
    assert _versions(s3) == versions  # not one object re-uploaded


def test_changing_classes_rebuilds_and_mirrors_the_bucket(tmp_path, s3, tiny_cifar_tarball, capsys):
    data = tmp_path / "data"
    base = ["--tarball", str(tiny_cifar_tarball), "--data-dir", str(data)]
    main([*base, "--classes", "vehicles"])
    assert any(key.startswith("train/bus/") for key in _keys(s3))
    main([*base, "--classes", "bicycle,motorcycle"])
    out = capsys.readouterr().out
    assert "72 deleted" in out  # 8 other vehicle classes x (6 + 3) images
    keys = _keys(s3)
    assert {key.split("/")[1] for key in keys if key.startswith(("train/", "test/"))} == {
        "bicycle",
        "motorcycle",
    }
    labels = json.loads(s3.get_object(Bucket=BUCKET, Key="labels.json")["Body"].read())
    assert labels == ["bicycle", "motorcycle"]


def test_download_through_the_cli(tmp_path, s3, tiny_cifar_tarball, monkeypatch, capsys):
    monkeypatch.setattr(extract, "BACKOFF_S", 0.0)
    content = tiny_cifar_tarball.read_bytes()
    md5 = hashlib.md5(content).hexdigest()
    data = tmp_path / "data"
    with TarballServer(content, drops=[50_000]) as server:
        argv = ["--url", server.url, "--md5", md5, "--data-dir", str(data)]
        assert main(argv) == 0
        assert "(downloaded)" in capsys.readouterr().out
        assert main(argv) == 0
    assert server.requests == [None, "bytes=50000-"]  # resumed once, then cached
    assert (data / "raw" / "cifar-100-python.tar.gz").read_bytes() == content
    assert json.loads((data / "processed" / "manifest.json").read_text())["source_md5"] == md5


def test_an_md5_in_upper_case_uses_the_cached_download(tmp_path, s3, tiny_cifar_tarball, capsys):
    content = tiny_cifar_tarball.read_bytes()
    md5 = hashlib.md5(content).hexdigest()
    data = tmp_path / "data"
    with TarballServer(content) as server:
        assert main(["--url", server.url, "--md5", md5, "--data-dir", str(data)]) == 0
        assert main(["--url", server.url, "--md5", md5.upper(), "--data-dir", str(data)]) == 0
    assert server.requests == [None]
    assert (
        f"unchanged (cifar-100-python.tar.gz, same classes), md5 {md5}" in capsys.readouterr().out
    )
    assert (data / "raw" / "cifar-100-python.tar.gz").read_bytes() == content


def test_bad_md5_and_url_are_named_before_any_download(tmp_path, s3):
    with pytest.raises(InvalidMd5, match="'eb9058c3' is not an md5"):
        main(["--md5", "eb9058c3", "--data-dir", str(tmp_path / "data")])
    with pytest.raises(
        DownloadFailed, match="'cifar.tar.gz' is not an http://, https:// or file://"
    ):
        main(["--url", "cifar.tar.gz", "--data-dir", str(tmp_path / "data")])
    assert not (tmp_path / "data" / "raw").exists()


def test_download_failure_through_the_cli(tmp_path, s3, monkeypatch):
    monkeypatch.setattr(extract, "BACKOFF_S", 0.0)
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/cifar-100-python.tar.gz"
    with pytest.raises(DownloadFailed, match="gave up after 5 attempts.*CIFAR_TARBALL"):
        main(["--url", url, "--data-dir", str(tmp_path / "data")])
    assert not (tmp_path / "data" / "processed").exists()


def test_interrupted_run_keeps_the_previous_dataset(tmp_path, s3, tiny_cifar_tarball, monkeypatch):
    data = tmp_path / "data"
    main(["--tarball", str(tiny_cifar_tarball), "--data-dir", str(data)])
    before = _tree(data / "processed")

    def interrupted(pixels):
        raise KeyboardInterrupt

    monkeypatch.setattr(transform, "_png", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(["--tarball", str(tiny_cifar_tarball), "--data-dir", str(data), "--classes", "bus"])
    assert _tree(data / "processed") == before
    assert sorted(p.name for p in data.iterdir()) == [".etl.lock", "processed"]


# --- the real command line, in a subprocess, against a moto server ---------------------------


@pytest.fixture(scope="module")
def moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def cli(tmp_path, moto_server):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "base.outputs.json").write_text(
        json.dumps({"data_bucket": {"value": BUCKET, "type": "string", "sensitive": False}})
    )
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "OUTPUTS_DIR": str(outputs),
    }
    client = boto3.client(
        "s3", endpoint_url=moto_server, region_name="us-east-1",
        aws_access_key_id="test", aws_secret_access_key="test",
    )  # fmt: skip
    client.create_bucket(Bucket=BUCKET)
    data = tmp_path / "data"

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "etl", "--data-dir", str(data), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    run.data = data
    run.s3 = client
    yield run
    objects = [{"Key": key} for key in _keys(client)]
    if objects:
        client.delete_objects(Bucket=BUCKET, Delete={"Objects": objects})
    client.delete_bucket(Bucket=BUCKET)


def _one_line_error(result: subprocess.CompletedProcess, name: str) -> str:
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(f"error: {name}: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


def test_cli_run_and_unknown_class(cli, tiny_cifar_tarball):
    result = cli("--tarball", str(tiny_cifar_tarball))
    assert result.returncode == 0, result.stderr
    assert "total           12       6" in result.stdout
    before = _tree(cli.data / "processed")

    line = _one_line_error(cli("--classes", "bicycle,scooter"), "UnknownClass")
    assert "'scooter' is not a CIFAR-100 class; valid names: apple, aquarium_fish" in line
    assert _tree(cli.data / "processed") == before


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_cli_corrupt_tarball_leaves_nothing_then_keeps_the_good_data(
    cli, tmp_path, tiny_cifar_tarball, damage
):
    content = tiny_cifar_tarball.read_bytes()
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(os.urandom(2048) if damage == "garbage" else content[: len(content) // 2])

    _one_line_error(cli("--tarball", str(bad)), "CorruptArchive")
    assert not (cli.data / "processed").exists()
    assert [p.name for p in cli.data.iterdir()] == [".etl.lock"]
    assert _keys(cli.s3) == set()

    assert cli("--tarball", str(tiny_cifar_tarball)).returncode == 0
    before = _tree(cli.data / "processed")
    _one_line_error(cli("--tarball", str(bad), "--classes", "vehicles"), "CorruptArchive")
    assert _tree(cli.data / "processed") == before


def test_cli_md5_mismatch(cli, tiny_cifar_tarball):
    with TarballServer(tiny_cifar_tarball.read_bytes()) as server:
        line = _one_line_error(cli("--url", server.url), "ChecksumMismatch")
    found = hashlib.md5(tiny_cifar_tarball.read_bytes()).hexdigest()
    assert f"expected md5 eb9058c3a382ffc7106e4002c42a8d85, found {found}" in line
    assert list((cli.data / "raw").iterdir()) == []
    assert not (cli.data / "processed").exists()


def test_cli_missing_bucket(cli, tiny_cifar_tarball):
    cli.s3.delete_bucket(Bucket=BUCKET)
    line = _one_line_error(cli("--tarball", str(tiny_cifar_tarball)), "BucketUnreachable")
    assert f"bucket '{BUCKET}' does not exist (run `make infra` to create it)" in line
    assert not (cli.data / "processed").exists()
    cli.s3.create_bucket(Bucket=BUCKET)


def test_cli_data_dir_in_the_way(cli, tmp_path, tiny_cifar_tarball):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the data directory should be")
    data = blocker / "data"  # the last --data-dir wins over the fixture's
    line = _one_line_error(
        cli("--tarball", str(tiny_cifar_tarball), "--data-dir", str(data)), "DataDirUnwritable"
    )
    assert f"cannot use {data} as the data directory" in line
    assert blocker.read_text() == "a file where the data directory should be"
    assert _keys(cli.s3) == set()


def test_cli_missing_tarball(cli, tmp_path):
    line = _one_line_error(cli("--tarball", str(tmp_path / "nope.tar.gz")), "TarballNotFound")
    assert "nope.tar.gz does not exist" in line
