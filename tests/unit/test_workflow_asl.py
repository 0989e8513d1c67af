"""The asl/ definitions: they render with the Terraform variables and follow the workflow's rules.

That they render like Terraform's own templatefile is checked with the terraform binary
(tests/integration/test_asl_templatefile.py); what they do when executed is tested on the local
stack (tests/functional/test_workflow_*.py).
"""

from __future__ import annotations

import json

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from monitor import definitions

VALUES = {
    "serialize_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:serialize",
    "classify_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:classify",
    "filter_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:filter",
    "summarize_function_arn": "arn:aws:lambda:us-east-1:123456789012:function:summarize",
    "alert_topic_arn": "arn:aws:sns:us-east-1:123456789012:alerts",
    "max_concurrency": 8,
}
EXPECTED_VARIABLES = {
    "classify-image": {
        "serialize_function_arn",
        "classify_function_arn",
        "filter_function_arn",
        "alert_topic_arn",
    },
    "classify-batch": set(VALUES),
}
LAMBDA_TRANSIENT = {
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
}
# Publish errors of SNS that a later attempt can get past (the topic is encrypted with the
# project's KMS key, so KMS throttling reaches the publisher too).
SNS_TRANSIENT = {
    "SNS.ThrottledException",
    "SNS.InternalErrorException",
    "SNS.KMSThrottlingException",
}
FINAL_ERRORS = {
    "InvalidInput",
    "ImageNotFound",
    "ImageTooLarge",
    "UnsupportedImageFormat",
    "EndpointError",
    "LowConfidence",
    "ConfigurationError",
    "States.ALL",
}


def rendered(key: str) -> dict:
    return definitions.render(definitions.ASL_DIR / definitions.DEFINITIONS[key], VALUES)


def all_states(states: dict) -> dict:
    """States by name, those inside Map item processors included."""
    found = {}
    for name, state in states.items():
        found[name] = state
        processor = state.get("ItemProcessor") or state.get("Iterator")
        if processor:
            found.update(all_states(processor["States"]))
    return found


@pytest.mark.parametrize("key", sorted(definitions.DEFINITIONS))
def test_each_definition_uses_exactly_the_terraform_variables(key):
    path = definitions.ASL_DIR / definitions.DEFINITIONS[key]

    assert definitions.variables(path) == EXPECTED_VARIABLES[key]


@pytest.mark.parametrize("key", sorted(definitions.DEFINITIONS))
def test_each_definition_renders_to_json_that_moto_parses(key):
    definition = rendered(key)

    AmazonStateLanguageParser.parse(json.dumps(definition))
    assert "${" not in json.dumps(definition)


def test_max_concurrency_renders_as_a_number():
    assert rendered("classify-batch")["States"]["ClassifyImages"]["MaxConcurrency"] == 8


def test_a_missing_variable_is_a_named_error(tmp_path):
    with pytest.raises(definitions.MissingTemplateVariable, match="alert_topic_arn"):
        definitions.render(
            definitions.ASL_DIR / "classify_image.asl.json",
            {k: v for k, v in VALUES.items() if k != "alert_topic_arn"},
        )


def test_template_directives_are_refused(tmp_path):
    path = tmp_path / "x.asl.json"
    path.write_text('{"Comment": "%{ if x }"}')

    with pytest.raises(definitions.InvalidTemplate):
        definitions.render(path, {})


def tasks_of(key: str, resource: str) -> dict:
    """The Task states of definition ``key`` (Map item processors included) that call
    ``resource``, by name."""
    return {
        name: state
        for name, state in all_states(rendered(key)["States"]).items()
        if state.get("Resource") == resource
    }


@pytest.mark.parametrize("key", sorted(definitions.DEFINITIONS))
def test_lambda_tasks_retry_transient_errors_with_jitter_and_nothing_final(key):
    tasks = tasks_of(key, "arn:aws:states:::lambda:invoke")
    assert tasks
    for name, task in tasks.items():
        retried = {error for retrier in task["Retry"] for error in retrier["ErrorEquals"]}
        assert LAMBDA_TRANSIENT <= retried, name
        assert not retried & FINAL_ERRORS, name
        assert all(retrier["JitterStrategy"] == "FULL" for retrier in task["Retry"]), name
        assert all(retrier["BackoffRate"] > 1 for retrier in task["Retry"]), name
        assert [c["ErrorEquals"] for c in task["Catch"]] == [["States.ALL"]], name
        if name == "SerializeImageData":
            assert "ImageUnavailable" in retried
        if name == "ClassifyImage":
            assert "EndpointThrottled" in retried


@pytest.mark.parametrize("key", sorted(definitions.DEFINITIONS))
def test_alert_publishes_retry_snss_transient_errors_with_jitter(key):
    alerts = tasks_of(key, "arn:aws:states:::sns:publish")
    assert alerts
    for name, alert in alerts.items():
        retried = {error for retrier in alert["Retry"] for error in retrier["ErrorEquals"]}
        assert retried == SNS_TRANSIENT, name
        assert all(retrier["JitterStrategy"] == "FULL" for retrier in alert["Retry"]), name


@pytest.mark.parametrize("key", sorted(definitions.DEFINITIONS))
def test_every_transition_names_an_existing_state(key):
    def check(states: dict) -> None:
        for name, state in states.items():
            targets = [state.get("Next"), state.get("Default")]
            targets += [c["Next"] for c in state.get("Catch", [])]
            targets += [c["Next"] for c in state.get("Choices", [])]
            for target in filter(None, targets):
                assert target in states, f"{name} -> {target}"
            if "ItemProcessor" in state:
                check(state["ItemProcessor"]["States"])

    check(rendered(key)["States"])


def test_alerts_are_published_to_the_alert_topic_before_failing():
    for key in definitions.DEFINITIONS:
        states = all_states(rendered(key)["States"])
        alerts = [s for s in states.values() if s.get("Resource", "").endswith(":sns:publish")]
        assert alerts, key
        assert {a["Parameters"]["TopicArn"] for a in alerts} == {VALUES["alert_topic_arn"]}
        fails = [s for s in states.values() if s["Type"] == "Fail"]
        assert all(f.get("ErrorPath") == "$.Error" for f in fails if "ErrorPath" in f), key
