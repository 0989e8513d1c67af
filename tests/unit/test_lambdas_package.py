"""``python -m lambdas.package``: a deterministic zip that the Lambda runtime can import from."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

from lambdas import package

# What the Lambda Python runtime provides besides the standard library (botocore imports certifi
# when it is there), and the interpreter's own entries.
RUNTIME_PACKAGES = {
    "__main__",
    "__mp_main__",
    "lambdas",
    "certifi",
    "boto3",
    "botocore",
    "s3transfer",
    "jmespath",
    "dateutil",
    "urllib3",
    "six",
    "_distutils_hack",
    "sitecustomize",
}
HANDLERS = [
    "lambdas.serialize_image_data",
    "lambdas.classify_image",
    "lambdas.filter_inferences",
    "lambdas.summarize_batch",
]


def test_two_builds_are_byte_identical(tmp_path):
    first, second = tmp_path / "a" / "lambdas.zip", tmp_path / "b" / "lambdas.zip"

    package.build(first)
    package.build(second)

    assert (
        hashlib.sha256(first.read_bytes()).digest() == hashlib.sha256(second.read_bytes()).digest()
    )
    assert not list(tmp_path.glob("*/.lambdas-*"))


def test_the_zip_holds_only_the_runtime_modules_sorted_with_fixed_metadata(tmp_path):
    destination = tmp_path / "lambdas.zip"

    names = package.build(destination)

    with zipfile.ZipFile(destination) as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == names == sorted(names)
    assert "lambdas/package.py" not in names
    assert {f"{module.replace('.', '/')}.py" for module in HANDLERS} <= set(names)
    assert all(name.endswith(".py") for name in names)
    assert {info.date_time for info in infos} == {package.FIXED_DATE}
    assert {info.external_attr >> 16 for info in infos} == {0o100644}


def test_the_handlers_import_from_the_zip_alone(tmp_path):
    """As on Lambda: only the zip, the standard library and boto3, imported at cold start."""
    destination = tmp_path / "lambdas.zip"
    package.build(destination)
    probe = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(destination)!r})\n"
        f"for name in {HANDLERS!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(destination)!r}), module.__file__\n"
        "    assert callable(module.handler)\n"
        "top = {name.split('.')[0] for name in sys.modules}\n"
        f"foreign = top - set(sys.stdlib_module_names) - {RUNTIME_PACKAGES!r}\n"
        "assert not foreign, f'not in the Lambda runtime: {sorted(foreign)}'\n"
    )
    environment = {"PATH": os.environ.get("PATH", ""), "AWS_DEFAULT_REGION": "us-east-1"}

    subprocess.run([sys.executable, "-c", probe], check=True, env=environment, cwd=tmp_path)


def test_the_command_line_writes_the_zip(tmp_path):
    destination = tmp_path / "build" / "lambdas.zip"

    result = subprocess.run(
        [sys.executable, "-m", "lambdas.package", str(destination)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )

    assert destination.is_file()
    assert str(destination) in result.stdout
