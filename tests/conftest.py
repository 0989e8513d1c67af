"""Shared pytest fixtures."""

# --- CIFAR-100 tiny tarball (tests/cifar_fixture.py) ----------------------------------------
import pytest as _cifar_pytest
from cifar_fixture import write_tiny_cifar_tarball as _write_tiny_cifar_tarball


@_cifar_pytest.fixture(scope="session")
def tiny_cifar_tarball(tmp_path_factory):
    """A tiny CIFAR-100 tarball in the official format (read-only: copy it to alter it)."""
    return _write_tiny_cifar_tarball(tmp_path_factory.mktemp("cifar") / "cifar-100-python.tar.gz")


# --- end of CIFAR-100 tiny tarball -----------------------------------------------------------


# --- training (tests/train_support.py) -------------------------------------------------------
@_cifar_pytest.fixture(scope="session")
def train_dataset(tmp_path_factory):
    """A tiny processed dataset (two classes) in the layout of `make data` (read-only)."""
    from train_support import write_dataset

    return write_dataset(tmp_path_factory.mktemp("processed"))


@_cifar_pytest.fixture(scope="session")
def trained_run(train_dataset, tmp_path_factory):
    """One tiny local training run: ``(RunDir, summary)`` (read-only: copy files to alter them)."""
    from train import local_job
    from train_support import TINY_HYPERPARAMETERS

    models = tmp_path_factory.mktemp("models")
    return local_job.train_local(
        train_dataset, models, "scones-test-run", TINY_HYPERPARAMETERS, progress=False
    )


@_cifar_pytest.fixture()
def train_aws(monkeypatch, tmp_path):
    """moto (in-process) with the base outputs of `make infra` and their buckets; yields the
    base outputs. AWS_ENDPOINT_URL is removed so that no call can leave for the local stack."""
    from moto import mock_aws

    from train_support import BASE_OUTPUTS, write_outputs

    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("OUTPUTS_DIR", str(tmp_path / "outputs"))
    write_outputs(tmp_path / "outputs", "base", BASE_OUTPUTS)
    with mock_aws():
        import boto3

        s3 = boto3.client("s3")
        for bucket in ("data_bucket", "model_bucket"):
            s3.create_bucket(Bucket=BASE_OUTPUTS[bucket])
        yield dict(BASE_OUTPUTS)


@_cifar_pytest.fixture()
def no_network(monkeypatch):
    """Every socket connection attempt is recorded and refused; the test asserts none."""
    import socket

    attempts: list = []

    def refuse(self, address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"network access in a test: {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


# --- end of training -------------------------------------------------------------------------


# --- local AWS stack (python/local_aws) ------------------------------------------------------
# No test may reach real AWS: real credentials, profiles and config files are dropped from the
# environment before any test module is imported, and dummy ones take their place. Tests that
# use moto in-process (mock_aws) need nothing else; tests that need the local stack take the
# session fixture `local_stack`, which starts `python -m local_aws serve` (the process
# `make up` starts) on a free port.
import os as _stack_os

import pytest as _stack_pytest
from local_aws import launcher as _stack_launcher

_REAL_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_ROLE_SESSION_NAME",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CA_BUNDLE",
    "AWS_ENDPOINT_URL",
)
for _name in _REAL_AWS_VARIABLES:
    _stack_os.environ.pop(_name, None)
_stack_os.environ.update(
    {
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": _stack_os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": _stack_os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
    }
)
_STACK_START_TIMEOUT_S = 60.0


@_stack_pytest.fixture(scope="session")
def local_stack(tmp_path_factory):
    """The local AWS stack for this test session; yields its URL (``http://127.0.0.1:PORT``).

    While it runs, ``AWS_ENDPOINT_URL`` points at it, so plain ``boto3.client(...)`` calls reach
    it. Its log is ``stack.log`` in the fixture's temporary directory (shown if it fails to start).
    """
    log_path = tmp_path_factory.mktemp("local_stack") / "stack.log"
    process, _, port = _stack_launcher.start_on_free_port(
        log_path, timeout_s=_STACK_START_TIMEOUT_S
    )
    url = f"http://127.0.0.1:{port}"
    _stack_os.environ["AWS_ENDPOINT_URL"] = url
    try:
        yield url
    finally:
        _stack_os.environ.pop("AWS_ENDPOINT_URL", None)
        _stack_launcher.stop(process)


@_stack_pytest.fixture(autouse=True)
def _aws_endpoint_only_for_stack_tests(request, monkeypatch):
    """Tests that do not use the stack never see its AWS_ENDPOINT_URL (moto in-process instead)."""
    if "local_stack" not in request.fixturenames:
        monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


# --- end of local AWS stack ------------------------------------------------------------------


# --- AWS API constraints (tests/aws_constraints.py) ------------------------------------------
import pytest as _constraints_pytest


@_constraints_pytest.fixture()
def aws_requests():
    """Every request that boto3 clients made during the test build, checked against the
    service models by ``aws_requests.violations()``. The recorder is one of botocore's built-in
    handlers while the test runs, so every session made meanwhile has it (moto's ``mock_aws``
    makes boto3 start a new default session), and a handler of boto3's default session of the
    moment; clients made before the test are not recorded."""
    import boto3
    import botocore.handlers

    from aws_constraints import RecordedRequests

    recorded = RecordedRequests()
    handler = ("before-parameter-build", recorded)
    # In place: moto adds its own handler to this very list when it is imported.
    botocore.handlers.BUILTIN_HANDLERS.append(handler)
    session = boto3.DEFAULT_SESSION
    if session is not None:
        session.events.register(*handler)
    try:
        yield recorded
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(handler)
        if session is not None:
            session.events.unregister(*handler)


# --- end of AWS API constraints --------------------------------------------------------------


# --- tools the README lists as prerequisites -------------------------------------------------
import shutil as _tools_shutil

import pytest as _tools_pytest


@_tools_pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """A test marked ``terraform`` fails, with this one line, where terraform is not on PATH:
    Terraform is a prerequisite (README), and a skip would pass a run that checked nothing of
    the Terraform roots. ``-m "not terraform"`` deselects them on purpose."""
    if item.get_closest_marker("terraform") and _tools_shutil.which("terraform") is None:
        _tools_pytest.fail(
            "terraform is not on PATH: install Terraform 1.11 (README), or deselect these "
            "tests with -m 'not terraform'",
            pytrace=False,
        )


# --- end of tools ----------------------------------------------------------------------------
