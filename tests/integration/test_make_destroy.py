"""``make destroy`` on a copy of the repository: its final check looks for what still carries
base's ``name_prefix``, also when a variables file set a prefix other than the default."""

from __future__ import annotations

import json
import os
import subprocess

import boto3
import pytest

from local_aws import launcher
from repo_copy import copy_repository

pytestmark = pytest.mark.slow


def test_leftovers_are_looked_for_under_bases_own_prefix(tmp_path):
    clone = copy_repository(tmp_path / "clone")
    port = launcher.free_port()
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
