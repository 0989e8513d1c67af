"""settings.tfplan on a real ``terraform show -json`` plan of terraform/serving (trimmed fixture).

``tests/fixtures/terraform/serving-plan.json`` is the first plan of terraform/serving against an
empty local stack, reduced to the fields settings.tfplan reads (address, type, actions, and the
planned values of the endpoint configuration and the autoscaling target).
"""

from __future__ import annotations

import copy
import io
import json
import sys
from pathlib import Path

import pytest

from settings import tfplan

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "terraform" / "serving-plan.json"


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
    monkeypatch.setattr(sys, "argv", ["tfplan", str(path), "--root", "serving", "--aws"])
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
    monkeypatch.setattr(sys, "argv", ["tfplan", str(path), "--root", "serving", "--aws"])
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
    monkeypatch.setattr(sys, "argv", ["tfplan", str(path), "--root", "serving", "--aws"])
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
