"""The load test finds the Lambdas of the real state machines in asl/ (for their memory sizes)."""

import json
import re
from pathlib import Path

import pytest

from loadtest.run import lambda_functions

ASL = Path(__file__).resolve().parents[2] / "asl"


def render(path: Path) -> dict:
    """Fill the templatefile variables the way Terraform does (ARNs named after the variable)."""

    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "max_concurrency":
            return "10"
        if name.endswith("_function_arn"):
            return f"arn:aws:lambda:us-east-1:123456789012:function:{name[: -len('_function_arn')]}"
        return f"arn:aws:sns:us-east-1:123456789012:{name}"

    return json.loads(re.sub(r"\$\{(\w+)\}", value, path.read_text()))


@pytest.mark.parametrize("name", ["classify_image.asl.json", "classify_batch.asl.json"])
def test_every_lambda_task_is_found_including_inside_the_map(name):
    definition = render(ASL / name)
    found = lambda_functions(definition)
    expected = {
        m.group(1)[: -len("_function_arn")]
        for m in re.finditer(r"\$\{(\w+_function_arn)\}", (ASL / name).read_text())
    }
    assert found == expected
    assert {"serialize", "classify", "filter"} <= found
