"""``make destroy`` on a copy of the repository: it destroys through saved plans that it prints
first (and, on aws, asks about), and its final check looks for what still carries base's
``name_prefix``, also when a variables file set a prefix other than the default."""

from __future__ import annotations

import json
import os
import subprocess

import boto3
import pytest

from local_aws import launcher
from repo_copy import copy_repository

pytestmark = pytest.mark.slow


def make_in(clone, port: int):
    """``make ARGS LOCAL_PORT=port`` in ``clone``, with none of this shell's AWS settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MAKE"))}
    env.update(PYTHONPATH=str(clone / "python"))

    def make(*arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["make", *arguments, f"LOCAL_PORT={port}"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return make


def test_destroy_prints_the_plan_applies_it_and_leaves_nothing(tmp_path):
    clone = copy_repository(tmp_path / "clone")
    port = launcher.free_port()
    make = make_in(clone, port)
    try:
        infra = make("infra")
        assert infra.returncode == 0, infra.stdout + infra.stderr
        result = make("destroy")
        again = make("destroy")
    finally:
        make("down")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert "terraform/base: 40 to destroy" in lines
    assert "  destroy  module.data_bucket.aws_s3_bucket.this" in lines
    assert (
        "bucket scones-data-123456789012-us-east-1: deleted with every object and version in it"
        " (force_destroy)"
    ) in lines
    assert lines[-2:] == [
        "terraform/base: destroyed",
        "nothing left: no resource named scones-* exists any more",
    ]
    assert not any(path.name.endswith(".tfplan") for path in (clone / "build/local").iterdir())
    # nothing in either state: nothing to plan, print or apply
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.splitlines()[-1:] == [
        "nothing left: no resource named scones-* exists any more"
    ]
    assert "destroy" not in again.stdout


def test_leftovers_are_looked_for_under_bases_own_prefix(tmp_path):
    clone = copy_repository(tmp_path / "clone")
    port = launcher.free_port()
    make = make_in(clone, port)
    try:
        assert make("up").returncode == 0
        # What `terraform output -json` wrote when base was applied with name_prefix = "acme";
        # the state is gone (as after a destroy that stopped half way), a queue of it is not.
        (clone / "build/local").mkdir(parents=True, exist_ok=True)
        (clone / "build/local/base.outputs.json").write_text(
            json.dumps({"name_prefix": {"value": "acme", "type": "string", "sensitive": False}})
        )
        sqs = boto3.client(
            "sqs",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        sqs.create_queue(QueueName="acme-alerts")
        result = make("destroy")
    finally:
        make("down")

    assert result.returncode == 2, result.stdout + result.stderr
    assert "left over: SQS queue: acme-alerts" in result.stdout
    assert "LeftoversFound: 1 resource(s) named acme-* still exist" in result.stderr
    assert not (clone / "build/local/base.outputs.json").exists()
