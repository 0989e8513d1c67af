"""settings.tfplan on real ``terraform show -json`` plans (trimmed fixtures).

``tests/fixtures/terraform/serving-plan.json`` is the first plan of terraform/serving against an
empty local stack, reduced to the fields settings.tfplan reads (address, type, actions, and the
planned values of the endpoint configuration and the autoscaling target).
``base-destroy-plan.json`` is ``terraform plan -destroy`` of terraform/base on the local stack
after ``make infra``, reduced the same way (the buckets keep ``bucket`` and ``force_destroy``).
"""

from __future__ import annotations

import copy
import io
import json
import sys
from pathlib import Path

import pytest

from settings import tfplan

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
FIXTURE = FIXTURES / "serving-plan.json"


@pytest.fixture
def plan() -> dict:
    return json.loads(FIXTURE.read_text())


def test_first_deploy_creates_everything_and_prices_the_endpoint(plan):
    lines = tfplan.describe(plan, "serving")
    assert lines[0] == "terraform/serving: 29 to create"
    assert "  create   aws_sagemaker_endpoint.this" in lines
    assert "  create   module.summarize_batch.aws_lambda_function.this" in lines
    assert not any("data.aws_iam_policy_document" in line for line in lines)
    assert (
        "endpoint: 1 x ml.m5.large at 0.115 USD/hour each = 0.115 USD/hour "
        "(about 84 USD/month) while it exists"
    ) in lines
    assert "          autoscaling may run up to 2 instances: 0.230 USD/hour" in lines


def test_replacement_and_destruction_are_named_and_counted(plan):
    changed = copy.deepcopy(plan)
    for entry in changed["resource_changes"]:
        if entry["address"] == "aws_sagemaker_endpoint_configuration.this":
            entry["change"]["actions"] = ["create", "delete"]
        elif entry["address"] == "aws_cloudwatch_event_target.execution_failed":
            entry["change"]["actions"] = ["delete"]
        else:
            entry["change"]["actions"] = ["no-op"]
    lines = tfplan.describe(changed, "serving")
    assert lines[:3] == [
        "terraform/serving: 1 to replace, 1 to destroy",
        "  replace  aws_sagemaker_endpoint_configuration.this",
        "  destroy  aws_cloudwatch_event_target.execution_failed",
    ]


def test_empty_plan_is_one_line_and_asks_nothing(plan, tmp_path, monkeypatch, capsys):
    for entry in plan["resource_changes"]:
        entry["change"]["actions"] = ["no-op"]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    monkeypatch.setattr(sys, "argv", ["tfplan", "--plan", "serving", str(path), "--aws"])
    assert tfplan.main() == 0
    assert capsys.readouterr().out == "terraform/serving: no changes\n"


def test_local_plans_name_no_price(plan):
    assert not any("USD" in line for line in tfplan.describe(plan, "serving", prices=False))


def test_unknown_instance_type_points_at_the_price_page(plan):
    for entry in plan["resource_changes"]:
        if entry["type"] == "aws_sagemaker_endpoint_configuration":
            entry["change"]["after"]["production_variants"][0]["instance_type"] = "ml.x9.huge"
    assert any(
        "ml.x9.huge, price not in the project's table" in line
        for line in tfplan.describe(plan, "serving")
    )


def test_confirmation_without_terminal_needs_yes(plan, tmp_path, monkeypatch):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setattr(sys, "argv", ["tfplan", "--plan", "serving", str(path), "--aws"])
    with pytest.raises(tfplan.NotConfirmed, match="YES=1"):
        tfplan.main()
    monkeypatch.setattr(sys, "argv", [*sys.argv, "--yes"])
    assert tfplan.main() == 0


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("answer, applied", [("yes\n", True), ("n\n", False), ("", False)])
def test_the_terminal_answer_decides_and_end_of_input_is_no(
    plan, tmp_path, monkeypatch, answer, applied
):
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(plan))
    monkeypatch.setattr(sys, "stdin", Terminal(answer))  # "": Ctrl-D at the prompt
    monkeypatch.setattr(sys, "argv", ["tfplan", "--plan", "serving", str(path), "--aws"])
    if applied:
        assert tfplan.main() == 0
    else:
        with pytest.raises(tfplan.NotConfirmed, match="answered no"):
            tfplan.main()


def test_a_file_that_is_not_a_plan_is_a_named_error(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text("not json")
    with pytest.raises(tfplan.UnreadablePlan):
        tfplan.load_plan(path)


def test_a_destroy_plan_names_every_resource_and_each_bucket_emptied():
    plan = json.loads((FIXTURES / "base-destroy-plan.json").read_text())
    lines = tfplan.describe(plan, "base")
    assert lines[0] == "terraform/base: 40 to destroy"
    assert "  destroy  module.data_bucket.aws_s3_bucket.this" in lines
    assert "  destroy  aws_kms_key.main" in lines
    emptied = [line for line in lines if line.startswith("bucket ")]
    assert emptied == [
        f"bucket scones-{purpose}-123456789012-us-east-1: deleted with every object and version"
        " in it (force_destroy)"
        for purpose in ("access-logs", "capture", "data", "models")
    ]
    for entry in plan["resource_changes"]:
        if entry["type"] == "aws_s3_bucket":
            entry["change"]["before"]["force_destroy"] = False
    assert not any(line.startswith("bucket ") for line in tfplan.describe(plan, "base"))


def test_plans_of_both_roots_are_printed_then_asked_about_once(plan, tmp_path, monkeypatch, capsys):
    """``make destroy TARGET=aws``: both roots' destroy plans, one question for all of them."""
    serving = copy.deepcopy(plan)
    for entry in serving["resource_changes"]:
        if entry["change"]["actions"] == ["create"]:
            entry["change"]["actions"] = ["delete"]
            entry["change"].pop("after", None)
    (tmp_path / "serving.json").write_text(json.dumps(serving))
    base = FIXTURES / "base-destroy-plan.json"
    prompts = []
    monkeypatch.setattr(sys, "stdin", Terminal("y\n"))
    monkeypatch.setattr("builtins.input", lambda prompt: prompts.append(prompt) or "y")
    argv = ["tfplan", "--plan", "serving", str(tmp_path / "serving.json")]
    monkeypatch.setattr(sys, "argv", [*argv, "--plan", "base", str(base), "--aws"])
    assert tfplan.main() == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "terraform/serving: 29 to destroy"
    assert "terraform/base: 40 to destroy" in out
    assert out.index("terraform/base: 40 to destroy") > out.index(
        "  destroy  aws_sagemaker_endpoint.this"
    )
    assert not any("USD" in line for line in out)  # nothing is created, nothing will cost
    assert prompts == ["Apply these changes? [y/N] "]


def test_destroy_without_terminal_needs_yes(tmp_path, monkeypatch):
    base = FIXTURES / "base-destroy-plan.json"
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    monkeypatch.setattr(sys, "argv", ["tfplan", "--plan", "base", str(base), "--aws"])
    with pytest.raises(tfplan.NotConfirmed, match="YES=1"):
        tfplan.main()
