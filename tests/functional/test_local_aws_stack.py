"""The local AWS stack through plain boto3: S3, Lambda, Step Functions, SNS -> SQS, control API.

Everything here talks HTTP to the stack started by the ``local_stack`` fixture (the same
``python -m local_aws serve`` that ``make up`` starts); the Lambda handlers are real Python in a
zip made by the tests.
"""

from __future__ import annotations

import io
import json
import os
import re
import time
import urllib.error
import urllib.request
import uuid
import zipfile

import boto3
import pytest

pytestmark = pytest.mark.stack

TRUST_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
            "Action": "sts:AssumeRole",
        }
    ],
}

HANDLERS = '''
import decimal
import json
import os
import os
import time

import boto3


class LowConfidence(Exception):
    pass


class TransientError(Exception):
    pass


def echo(event, context):
    return {
        "event": event,
        "greeting": os.environ["GREETING"],
        "function": context.function_name,
        "region": os.environ["AWS_REGION"],
        "buckets": sorted(b["Name"] for b in boto3.client("s3").list_buckets()["Buckets"]),
    }


def low_confidence(event, context):
    raise LowConfidence(f"confidence {event['confidence']} is below the threshold")


def sleepy(event, context):
    with open(event["pid_file"], "w") as pid_file:
        pid_file.write(str(os.getpid()))
    time.sleep(event["seconds"])
    return "awake"


def priced(event, context):
    return {"price": decimal.Decimal(event["price"]), "items": [decimal.Decimal("2")]}


def unmarshallable(event, context):
    return {"labels": {"bicycle"}}


def measure(event, context):
    return len(event["pad"])


def crash(event, context):
    os._exit(3)


def flaky(event, context):
    """Fails with TransientError until it has been called event["failures"] + 1 times."""
    path = event["counter_file"]
    calls = int(open(path).read()) + 1 if os.path.exists(path) else 1
    with open(path, "w") as counter:
        counter.write(str(calls))
    if calls <= event["failures"]:
        raise TransientError(f"call {calls} failed")
    return dict(event, calls=calls)
'''


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def role(local_stack) -> str:
    return boto3.client("iam").create_role(
        RoleName=unique("stack-test"), AssumeRolePolicyDocument=json.dumps(TRUST_POLICY)
    )["Role"]["Arn"]


@pytest.fixture(scope="module")
def handlers_zip() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("handlers.py", HANDLERS)
    return archive.getvalue()


@pytest.fixture(scope="module")
def function(role, handlers_zip):
    """``function("echo")`` -> the ARN of a Lambda running ``handlers.echo`` (created once per
    handler and timeout)."""
    created: dict[tuple[str, int], str] = {}

    def make(handler: str, timeout: int = 5) -> str:
        if (handler, timeout) not in created:
            created[handler, timeout] = boto3.client("lambda").create_function(
                FunctionName=unique(handler),
                Runtime="python3.11",
                Role=role,
                Handler=f"handlers.{handler}",
                Code={"ZipFile": handlers_zip},
                Timeout=timeout,
                Environment={"Variables": {"GREETING": "hello from the zip"}},
            )["FunctionArn"]
        return created[handler, timeout]

    return make


def invoke(function_arn: str, event: dict) -> tuple[str | None, object]:
    response = boto3.client("lambda").invoke(FunctionName=function_arn, Payload=json.dumps(event))
    assert response["StatusCode"] == 200
    return response.get("FunctionError"), json.loads(response["Payload"].read())


def run_execution(machine_arn: str, event: dict, name: str | None = None) -> dict:
    sfn = boto3.client("stepfunctions")
    options = {"name": name} if name else {}
    arn = sfn.start_execution(stateMachineArn=machine_arn, input=json.dumps(event), **options)[
        "executionArn"
    ]
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still running"
        time.sleep(0.1)
    return described


def run_one_task(role: str, resource: str, parameters: dict, event: dict) -> dict:
    """Run a state machine made of one Task state; returns its final DescribeExecution."""
    definition = {
        "StartAt": "Task",
        "States": {
            "Task": {"Type": "Task", "Resource": resource, "Parameters": parameters, "End": True}
        },
    }
    machine = boto3.client("stepfunctions").create_state_machine(
        name=unique("one-task"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    return run_execution(machine, event)


def control(url: str, route: str, body: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/_local/{route}",
        data=None if body is None else json.dumps(body).encode(),
        method="GET" if body is None else "POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_bucket_and_object_round_trip(local_stack):
    s3 = boto3.client("s3")
    bucket = unique("round-trip")
    s3.create_bucket(Bucket=bucket)
    body = bytes(range(256)) * 10
    s3.put_object(Bucket=bucket, Key="dir/object.bin", Body=body)
    assert s3.get_object(Bucket=bucket, Key="dir/object.bin")["Body"].read() == body
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="dir/")["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("dir/object.bin", len(body))]
    s3.delete_object(Bucket=bucket, Key="dir/object.bin")
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_lambda_returns_what_its_handler_computes_with_its_environment(local_stack, function):
    s3 = boto3.client("s3")
    bucket = unique("seen-by-lambda")
    s3.create_bucket(Bucket=bucket)
    error, payload = invoke(function("echo"), {"n": 41})
    assert error is None
    assert payload["event"] == {"n": 41}
    assert payload["greeting"] == "hello from the zip"
    assert payload["function"] == function("echo").rsplit(":", 1)[1]
    assert payload["region"] == "us-east-1"
    # The handler's own boto3 calls reach this stack (AWS_ENDPOINT_URL set by the runtime).
    assert bucket in payload["buckets"]


def test_a_raising_handler_gives_function_error_with_the_exception_name(local_stack, function):
    error, payload = invoke(function("low_confidence"), {"confidence": 0.5})
    assert error == "Unhandled"
    assert payload["errorType"] == "LowConfidence"
    assert payload["errorMessage"] == "confidence 0.5 is below the threshold"
    assert any("low_confidence" in frame for frame in payload["stackTrace"])


def test_a_decimal_in_the_result_is_a_number_and_a_set_is_a_marshal_error(local_stack, function):
    """The Lambda Python runtime writes Decimals (boto3's DynamoDB numbers) as JSON numbers;
    what it cannot write is Runtime.MarshalError, with json's message."""
    assert invoke(function("priced"), {"price": "12.25"}) == (None, {"price": 12.25, "items": [2]})
    error, payload = invoke(function("unmarshallable"), {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.MarshalError"
    assert payload["errorMessage"] == (
        "Unable to marshal response: Object of type set is not JSON serializable"
    )


def test_a_handler_that_cannot_be_imported_is_reported_as_lambda_does(
    local_stack, role, handlers_zip
):
    arn = boto3.client("lambda").create_function(
        FunctionName=unique("missing"),
        Runtime="python3.11",
        Role=role,
        Handler="nowhere.handler",
        Code={"ZipFile": handlers_zip},
    )["FunctionArn"]
    error, payload = invoke(arn, {})
    assert error == "Unhandled"
    assert payload["errorType"] == "Runtime.ImportModuleError"
    assert payload["errorMessage"].startswith("Unable to import module 'nowhere'")


def test_a_payload_that_is_not_json_is_refused_before_the_handler(local_stack, function):
    client = boto3.client("lambda")
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        client.invoke(FunctionName=function("echo"), Payload=b"{not json")


def test_a_payload_over_the_invocation_types_limit_is_refused_before_the_handler(
    local_stack, function
):
    """Invoke takes at most 6 MB synchronously and 1 MB as an Event: Lambda refuses a larger
    payload with HTTP 413 and the code RequestEntityTooLargeException (what AWS answers; the
    service model's name for the shape, RequestTooLargeException, is not the code sent), and a
    payload at the limit runs."""
    client = boto3.client("lambda")
    measure = function("measure")
    padding = len(json.dumps({"pad": ""}))
    cases = {
        "RequestResponse": (
            6291456,
            "Request must be smaller than 6291456 bytes for the InvokeFunction operation",
        ),
        "Event": (
            1048576,
            "1048577 byte payload is too large for the Event invocation type (limit 1048576 bytes)",
        ),
    }
    for invocation_type, (limit, message) in cases.items():
        too_large = json.dumps({"pad": "x" * (limit + 1 - padding)})
        with pytest.raises(client.exceptions.ClientError) as raised:
            client.invoke(FunctionName=measure, InvocationType=invocation_type, Payload=too_large)
        response = raised.value.response
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 413
        assert response["Error"]["Code"] == "RequestEntityTooLargeException"
        assert response["Error"]["Message"] == message
        at_limit = json.dumps({"pad": "x" * (limit - padding)})
        answer = client.invoke(
            FunctionName=measure, InvocationType=invocation_type, Payload=at_limit
        )
        assert answer["StatusCode"] == (202 if invocation_type == "Event" else 200)
        assert "FunctionError" not in answer
        if invocation_type == "RequestResponse":
            assert json.loads(answer["Payload"].read()) == limit - padding


def test_a_task_on_a_missing_function_fails_with_lambdas_error_name(local_stack, role):
    missing = "arn:aws:lambda:us-east-1:123456789012:function:no-such-function"
    described = run_one_task(
        role, "arn:aws:states:::lambda:invoke", {"FunctionName": missing, "Payload.$": "$"}, {}
    )
    assert (described["status"], described["error"]) == (
        "FAILED",
        "Lambda.ResourceNotFoundException",
    )


def test_the_function_timeout_is_enforced(local_stack, function, tmp_path):
    """The timed-out call is Lambda's Sandbox.Timedout, and the sandbox that ran it is gone by
    the time the caller has the answer (killed, not left sleeping in the pool)."""
    pid_file = tmp_path / "sleepy.pid"
    error, payload = invoke(
        function("sleepy", timeout=1), {"seconds": 30, "pid_file": str(pid_file)}
    )
    assert error == "Unhandled"
    assert payload["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in payload["errorMessage"]
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


def test_a_crashing_handler_does_not_take_the_stack_down(local_stack, function):
    for _ in range(2):  # the second call needs a fresh worker
        error, payload = invoke(function("crash"), {})
        assert error == "Unhandled"
        assert payload["errorType"] == "Runtime.ExitError"
        assert "exit status 3" in payload["errorMessage"]
    assert control(local_stack, "health")[1]["status"] == "ok"
    assert invoke(function("echo"), {"after": "crash"})[1]["event"] == {"after": "crash"}


def test_state_machine_retries_then_catches_by_error_name(local_stack, role, function, tmp_path):
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name=unique("alerts"))["TopicArn"]
    queue_url = sqs.create_queue(QueueName=unique("alerts"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    definition = {
        "StartAt": "Flaky",
        "States": {
            "Flaky": {  # a plain function ARN as Resource
                "Type": "Task",
                "Resource": function("flaky"),
                "Retry": [
                    {
                        "ErrorEquals": ["TransientError"],
                        "IntervalSeconds": 1,
                        "MaxAttempts": 3,
                        "BackoffRate": 1.0,
                    }
                ],
                "Next": "Classify",
            },
            "Classify": {  # the Lambda service integration
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": function("low_confidence"), "Payload.$": "$"},
                "OutputPath": "$.Payload",
                "Catch": [
                    {"ErrorEquals": ["LowConfidence"], "ResultPath": "$.error", "Next": "Alert"}
                ],
                "End": True,
            },
            "Alert": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": topic, "Message.$": "$.error"},
                "Next": "Failed",
            },
            "Failed": {"Type": "Fail", "Error": "LowConfidence", "Cause": "caught and alerted"},
        },
    }
    machine = boto3.client("stepfunctions").create_state_machine(
        name=unique("retry-catch"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    counter = tmp_path / "flaky-calls"
    event = {"counter_file": str(counter), "failures": 2, "confidence": 0.4}

    described = run_execution(machine, event)

    assert described["status"] == "FAILED"
    assert described["error"] == "LowConfidence"
    assert counter.read_text() == "3"  # two TransientErrors retried, then success
    history = boto3.client("stepfunctions").get_execution_history(
        executionArn=described["executionArn"]
    )["events"]
    failures = [
        e["lambdaFunctionFailedEventDetails"]["error"]
        for e in history
        if e["type"] == "LambdaFunctionFailed"
    ]
    assert failures == ["TransientError", "TransientError"]
    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
    alert = json.loads(json.loads(messages[0]["Body"])["Message"])
    assert alert["Error"] == "LowConfidence"
    assert json.loads(alert["Cause"])["errorMessage"] == "confidence 0.4 is below the threshold"


def test_a_publish_to_a_missing_topic_fails_the_task_with_the_sns_error(local_stack, role):
    missing = f"arn:aws:sns:us-east-1:{boto3.client('sts').get_caller_identity()['Account']}:gone"
    described = run_one_task(
        role, "arn:aws:states:::sns:publish", {"TopicArn": missing, "Message.$": "$"}, {"a": 1}
    )
    assert described["status"] == "FAILED"
    assert described["error"].startswith("SNS.") and "NotFound" in described["error"]


def test_unnamed_executions_get_unique_names(local_stack, role):
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    machine = boto3.client("stepfunctions").create_state_machine(
        name=unique("unnamed"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    first, second = run_execution(machine, {"n": 1}), run_execution(machine, {"n": 2})
    assert first["status"] == second["status"] == "SUCCEEDED"
    assert first["name"] != second["name"]
    for described in (first, second):
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", described["name"]
        )
    assert json.loads(second["output"]) == {"n": 2}


@pytest.mark.parametrize(
    "name, error",
    [
        ("with space", "InvalidName"),
        ("with:colon", "InvalidName"),
        ("with/slash", "InvalidName"),
        ("wild*card", "InvalidName"),
        ("tab\there", "InvalidName"),
        ("x" * 81, "ValidationException"),
    ],
)
def test_an_execution_name_aws_refuses_is_refused(local_stack, role, name, error):
    sfn = boto3.client("stepfunctions")
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    machine = sfn.create_state_machine(
        name=unique("names"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    with pytest.raises(sfn.exceptions.ClientError) as refused:
        sfn.start_execution(stateMachineArn=machine, name=name)
    assert refused.value.response["Error"]["Code"] == error
    assert sfn.list_executions(stateMachineArn=machine)["executions"] == []
    # What AWS accepts still starts: letters beyond ASCII, dots, dashes, underscores.
    accepted = sfn.start_execution(stateMachineArn=machine, name="café.run-1_" + "x" * 69)
    assert accepted["executionArn"].endswith(":café.run-1_" + "x" * 69)


def _through_moto(account: str):
    """A Step Functions client whose requests carry moto's account header: the stack leaves
    them to moto's own handlers instead of answering the execution calls itself."""
    client = boto3.client("stepfunctions")
    for operation in (
        "StartExecution",
        "DescribeExecution",
        "ListExecutions",
        "GetExecutionHistory",
    ):
        client.meta.events.register(
            f"before-sign.states.{operation}",
            lambda request, **_: request.headers.__setitem__("x-moto-account-id", account),
        )
    return client


def _answer(call) -> dict:
    return {key: value for key, value in call().items() if key != "ResponseMetadata"}


def test_execution_calls_answer_exactly_as_moto_does(local_stack, role, function):
    plain = boto3.client("stepfunctions")
    through_moto = _through_moto(boto3.client("sts").get_caller_identity()["Account"])
    machines = {
        "succeeded": {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}},
        "failed": {
            "StartAt": "Fail",
            "States": {
                "Fail": {"Type": "Task", "Resource": function("low_confidence"), "End": True}
            },
        },
        "running": {
            "StartAt": "Wait",
            "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}},
        },
    }
    machine_arns, arns = {}, {}
    for kind, definition in machines.items():
        machine_arns[kind] = plain.create_state_machine(
            name=unique(kind), definition=json.dumps(definition), roleArn=role
        )["stateMachineArn"]
        if kind == "running":
            arns[kind] = plain.start_execution(
                stateMachineArn=machine_arns[kind], name="waiting", input='{"a": 1}'
            )["executionArn"]
        else:
            arns[kind] = run_execution(machine_arns[kind], {"confidence": 0.2})["executionArn"]

    answers = {}
    described = control(local_stack, "stats")[1]["direct_answers"]["states:DescribeExecution"]
    for kind, arn in arns.items():
        fast, slow = (
            _answer(lambda: client.describe_execution(executionArn=arn))
            for client in (plain, through_moto)
        )
        assert fast == slow, kind
        answers[kind] = fast
    # Each plain call was the stack's own answer, each one carrying the header moto's.
    assert control(local_stack, "stats")[1]["direct_answers"][
        "states:DescribeExecution"
    ] == described + len(arns)
    assert {kind: answer["status"] for kind, answer in answers.items()} == {
        "succeeded": "SUCCEEDED",
        "failed": "FAILED",
        "running": "RUNNING",
    }
    assert answers["failed"]["error"] == "LowConfidence"
    assert "stopDate" not in answers["running"]
    assert json.loads(answers["succeeded"]["output"]) == {"confidence": 0.2}

    histories = {}
    for kind, arn in arns.items():
        fast, slow = (
            _answer(lambda: client.get_execution_history(executionArn=arn, maxResults=1000))
            for client in (plain, through_moto)
        )
        assert fast == slow, kind
        histories[kind] = [event["type"] for event in fast["events"]]
    assert histories["failed"][-1] == "ExecutionFailed"
    assert "LambdaFunctionFailed" in histories["failed"]
    assert histories["succeeded"][-1] == "ExecutionSucceeded"
    for kind, machine_arn in machine_arns.items():
        for options in ({}, {"statusFilter": "RUNNING"}, {"statusFilter": "FAILED"}):
            fast, slow = (
                _answer(lambda: client.list_executions(stateMachineArn=machine_arn, **options))
                for client in (plain, through_moto)
            )
            assert fast == slow, (kind, options)
    listed = plain.list_executions(stateMachineArn=machine_arns["running"])["executions"]
    assert [e["executionArn"] for e in listed] == [arns["running"]]
    for n in range(2):
        run_execution(machine_arns["succeeded"], {"n": n})
    pages = {}
    for name, client in (("fast", plain), ("slow", through_moto)):
        paginator = client.get_paginator("list_executions")
        pages[name] = [
            [e["executionArn"] for e in page["executions"]]
            for page in paginator.paginate(
                stateMachineArn=machine_arns["succeeded"], PaginationConfig={"PageSize": 1}
            )
        ]
    assert pages["fast"] == pages["slow"]
    assert len(pages["fast"]) == 3 and all(len(page) == 1 for page in pages["fast"])

    # The same name and input while running is idempotent; another input is refused.
    same = dict(stateMachineArn=machine_arns["running"], name="waiting", input='{"a": 1}')
    fast, slow = (
        _answer(lambda: client.start_execution(**same)) for client in (plain, through_moto)
    )
    assert fast == slow
    assert fast["executionArn"] == arns["running"]
    with pytest.raises(plain.exceptions.InvalidExecutionInput):  # moto's own code is empty
        plain.start_execution(stateMachineArn=machine_arns["succeeded"], input="{not json")
    for client in (plain, through_moto):
        with pytest.raises(client.exceptions.ExecutionAlreadyExists):
            client.start_execution(**dict(same, input='{"a": 2}'))
        with pytest.raises(client.exceptions.StateMachineDoesNotExist):
            client.start_execution(stateMachineArn=machine_arns["succeeded"] + "-gone")
        missing = arns["succeeded"].rsplit(":", 1)[0] + ":no-such-execution"
        with pytest.raises(client.exceptions.ExecutionDoesNotExist):
            client.describe_execution(executionArn=missing)
        with pytest.raises(client.exceptions.InvalidArn):
            client.describe_execution(executionArn="not-an-arn")


def test_a_timed_out_execution_has_a_stop_date(local_stack, role):
    plain = boto3.client("stepfunctions")
    through_moto = _through_moto(boto3.client("sts").get_caller_identity()["Account"])
    definition = {
        "TimeoutSeconds": 1,
        "StartAt": "Wait",
        "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}},
    }
    machine = plain.create_state_machine(
        name=unique("timeout"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    described = run_execution(machine, {})
    described.pop("ResponseMetadata")
    assert described["status"] == "TIMED_OUT"
    assert described["stopDate"] >= described["startDate"]
    arn = described["executionArn"]
    fast, slow = (
        _answer(lambda: client.describe_execution(executionArn=arn))
        for client in (plain, through_moto)
    )
    assert fast == slow == described
    for options in ({}, {"statusFilter": "TIMED_OUT"}):
        fast, slow = (
            _answer(lambda: client.list_executions(stateMachineArn=machine, **options))
            for client in (plain, through_moto)
        )
        assert fast == slow
        assert [e["stopDate"] for e in fast["executions"]] == [described["stopDate"]]


def test_execution_history_in_reverse_order_lists_the_latest_event_first(local_stack, role):
    plain = boto3.client("stepfunctions")
    through_moto = _through_moto(boto3.client("sts").get_caller_identity()["Account"])
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
    machine = plain.create_state_machine(
        name=unique("reverse"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    arn = run_execution(machine, {})["executionArn"]
    forward = plain.get_execution_history(executionArn=arn)["events"]
    assert [e["type"] for e in forward][0] == "ExecutionStarted"
    for client in (plain, through_moto):
        backward = client.get_execution_history(executionArn=arn, reverseOrder=True)["events"]
        assert backward == forward[::-1]
        assert backward[0]["type"] == "ExecutionSucceeded"


def test_a_page_token_stays_valid_when_its_execution_has_ended(local_stack, role):
    """moto answers InvalidToken when the execution a token names has left the list; AWS does
    not, and a load test's tracker pages through the running executions while they end."""
    sfn = boto3.client("stepfunctions")
    waiting = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}}}
    machine = sfn.create_state_machine(
        name=unique("paging"), definition=json.dumps(waiting), roleArn=role
    )["stateMachineArn"]
    arns = [sfn.start_execution(stateMachineArn=machine)["executionArn"] for _ in range(3)]
    first = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING", maxResults=1)
    assert [e["executionArn"] for e in first["executions"]] == [arns[2]]
    sfn.stop_execution(executionArn=arns[2])
    rest, token = [], first["nextToken"]
    while token:
        page = sfn.list_executions(
            stateMachineArn=machine, statusFilter="RUNNING", maxResults=1, nextToken=token
        )
        rest += [e["executionArn"] for e in page["executions"]]
        token = page.get("nextToken")
    assert rest == [arns[1], arns[0]]
    for arn in arns[:2]:
        sfn.stop_execution(executionArn=arn)
    assert sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"] == []
    aborted = sfn.list_executions(stateMachineArn=machine, statusFilter="ABORTED")["executions"]
    assert [e["executionArn"] for e in aborted] == arns[::-1]


def test_terraform_calls_validate_and_list_versions_answer(local_stack, role):
    sfn = boto3.client("stepfunctions")
    good = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    assert sfn.validate_state_machine_definition(definition=good, type="STANDARD")["result"] == "OK"
    bad = sfn.validate_state_machine_definition(definition='{"StartAt": "Nowhere"}')
    assert bad["result"] == "FAIL"
    assert bad["diagnostics"][0]["severity"] == "ERROR"
    machine = sfn.create_state_machine(
        name=unique("versions"), definition=good, roleArn=role, publish=True
    )["stateMachineArn"]
    versions = sfn.list_state_machine_versions(stateMachineArn=machine)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [f"{machine}:1"]


def test_an_execution_is_described_with_the_definition_it_ran(local_stack, role, tmp_path):
    # As on AWS: once the state machine is updated, DescribeStateMachineForExecution still
    # gives an earlier execution the definition it ran (the one `make graph EXECUTION=` draws).
    from monitor import graph

    sfn = boto3.client("stepfunctions")
    before = {"StartAt": "Before", "States": {"Before": {"Type": "Pass", "End": True}}}
    after = {"StartAt": "After", "States": {"After": {"Type": "Pass", "End": True}}}
    machine = sfn.create_state_machine(
        name=unique("updated"), definition=json.dumps(before), roleArn=role
    )["stateMachineArn"]
    earlier = run_execution(machine, {})["executionArn"]
    sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps(after))
    later = run_execution(machine, {})["executionArn"]

    ran = sfn.describe_state_machine_for_execution(executionArn=earlier)
    assert json.loads(ran["definition"]) == before
    assert ran["stateMachineArn"] == machine
    ran_later = sfn.describe_state_machine_for_execution(executionArn=later)
    assert json.loads(ran_later["definition"]) == after
    svg_text = graph.draw_execution(earlier, tmp_path).read_text()
    assert "data-state='Before'" in svg_text and "data-state='After'" not in svg_text


def test_sns_publish_reaches_an_sqs_subscriber(local_stack):
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name=unique("topic"))["TopicArn"]
    queue_url = sqs.create_queue(QueueName=unique("queue"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sns.publish(TopicArn=topic, Subject="alert", Message=json.dumps({"error": "LowConfidence"}))
    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=2)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert envelope["TopicArn"] == topic
    assert envelope["Subject"] == "alert"
    assert json.loads(envelope["Message"]) == {"error": "LowConfidence"}


def _raw_queue_on_topic(topic_arn: str) -> str:
    """A queue subscribed to the topic with raw delivery, as terraform/base subscribes alerts."""
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName=unique("events"))["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    boto3.client("sns").subscribe(
        TopicArn=topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true"},
    )
    return queue_url


def _received(queue_url: str, count: int, wait_s: float = 10) -> list[dict]:
    """The queue's messages (JSON), once ``count`` have come or after ``wait_s``."""
    sqs, found = boto3.client("sqs"), []
    deadline = time.monotonic() + wait_s
    while len(found) < count and time.monotonic() < deadline:
        for message in sqs.receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_execution_status_changes_reach_eventbridge_rules_and_their_sns_topics(local_stack, role):
    definition = {
        "StartAt": "Choose",
        "States": {
            "Choose": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.fail", "BooleanEquals": True, "Next": "Failed"}],
                "Default": "Done",
            },
            "Done": {"Type": "Pass", "End": True},
            "Failed": {"Type": "Fail", "Error": "LowConfidence", "Cause": "under 0.93"},
        },
    }
    machine = boto3.client("stepfunctions").create_state_machine(
        name=unique("events"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    sns, events = boto3.client("sns"), boto3.client("events")
    failed_topic, every_topic = (sns.create_topic(Name=unique(n))["TopicArn"] for n in "fe")
    failed_queue, every_queue = _raw_queue_on_topic(failed_topic), _raw_queue_on_topic(every_topic)
    pattern = {"source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"]}
    rules = {  # the first one as terraform/serving writes it
        unique("failed"): (
            dict(pattern, detail={"status": ["FAILED", "TIMED_OUT", "ABORTED"]}),
            failed_topic,
        ),
        unique("every"): (dict(pattern, detail={"stateMachineArn": [machine]}), every_topic),
    }
    sqs = boto3.client("sqs")
    direct_queue = sqs.create_queue(QueueName=unique("direct"))["QueueUrl"]
    direct_arn = sqs.get_queue_attributes(QueueUrl=direct_queue, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    gone = failed_topic.rsplit(":", 1)[0] + ":" + unique("gone")
    for name, (rule_pattern, topic) in rules.items():
        rule_pattern["detail"]["stateMachineArn"] = [machine]
        events.put_rule(Name=name, EventPattern=json.dumps(rule_pattern))
        # A target that cannot be reached first: the others still get the event.
        targets = [{"Id": "gone", "Arn": gone}, {"Id": "topic", "Arn": topic}]
        events.put_targets(Rule=name, Targets=targets)
    # A rule with an SNS and an SQS target: moto still delivers to the queue itself.
    events.put_targets(Rule=list(rules)[1], Targets=[{"Id": "queue", "Arn": direct_arn}])
    disabled = unique("disabled")
    events.put_rule(Name=disabled, EventPattern=json.dumps(pattern), State="DISABLED")
    events.put_targets(Rule=disabled, Targets=[{"Id": "topic", "Arn": failed_topic}])
    targets = {name: ["gone", "topic"] for name in rules} | {disabled: ["topic"]}
    targets[list(rules)[1]].append("queue")
    try:
        succeeded = run_execution(machine, {"fail": False})
        failed = run_execution(machine, {"fail": True})
        alerts = _received(failed_queue, 1)
        alerts += _received(failed_queue, 1, wait_s=1)  # must stay empty: see below
        every, direct = _received(every_queue, 4), _received(direct_queue, 4)
    finally:
        for name, ids in targets.items():
            events.remove_targets(Rule=name, Ids=ids)
            events.delete_rule(Name=name)

    assert len(alerts) == 1, alerts  # the failed execution only, and nothing from the disabled rule
    [alert] = alerts
    assert sorted(event["detail"]["status"] for event in direct) == [
        "FAILED", "RUNNING", "RUNNING", "SUCCEEDED"
    ]  # fmt: skip

    assert (succeeded["status"], failed["status"]) == ("SUCCEEDED", "FAILED")
    account = boto3.client("sts").get_caller_identity()["Account"]
    assert set(alert) == {
        "version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"
    }  # fmt: skip
    assert (alert["source"], alert["detail-type"]) == (
        "aws.states",
        "Step Functions Execution Status Change",
    )
    assert (alert["account"], alert["region"]) == (account, "us-east-1")
    assert alert["resources"] == [failed["executionArn"]]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", alert["time"])
    detail = alert["detail"]
    assert detail["executionArn"] == failed["executionArn"]
    assert (detail["stateMachineArn"], detail["name"]) == (machine, failed["name"])
    assert (detail["status"], detail["error"], detail["cause"]) == (
        "FAILED",
        "LowConfidence",
        "under 0.93",
    )
    assert json.loads(detail["input"]) == {"fail": True}
    assert (detail["output"], detail["outputDetails"]) == (None, None)
    assert detail["startDate"] == round(failed["startDate"].timestamp() * 1000)
    assert detail["stopDate"] == round(failed["stopDate"].timestamp() * 1000)

    by_execution = {}
    for event in every:
        by_execution.setdefault(event["detail"]["name"], []).append(event["detail"])
    first, last = by_execution[succeeded["name"]]
    assert (first["status"], first["stopDate"], first["output"]) == ("RUNNING", None, None)
    assert last["status"] == "SUCCEEDED" and json.loads(last["output"]) == {"fail": False}
    assert last["outputDetails"] == {"included": True} and last["error"] is None
    assert [d["status"] for d in by_execution[failed["name"]]] == ["RUNNING", "FAILED"]


def test_a_stopped_execution_sends_an_aborted_event(local_stack, role):
    definition = {
        "StartAt": "Wait",
        "States": {"Wait": {"Type": "Wait", "Seconds": 30, "End": True}},
    }
    sfn, events = boto3.client("stepfunctions"), boto3.client("events")
    machine = sfn.create_state_machine(
        name=unique("stopped"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    topic = boto3.client("sns").create_topic(Name=unique("aborted"))["TopicArn"]
    queue = _raw_queue_on_topic(topic)
    rule = unique("aborted")
    pattern = {"source": ["aws.states"], "detail": {"stateMachineArn": [machine]}}
    events.put_rule(Name=rule, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=rule, Targets=[{"Id": "topic", "Arn": topic}])
    try:
        arn = sfn.start_execution(stateMachineArn=machine, input="{}")["executionArn"]
        sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped by hand")
        received = _received(queue, 2)
    finally:
        events.remove_targets(Rule=rule, Ids=["topic"])
        events.delete_rule(Name=rule)

    assert [event["detail"]["status"] for event in received] == ["RUNNING", "ABORTED"]
    assert received[1]["detail"]["executionArn"] == arn


def test_stop_execution_ends_the_execution_before_it_answers(local_stack, role, function, tmp_path):
    """As on AWS, a stopped execution is ABORTED (with the answer's stopDate and the request's
    error and cause) as soon as StopExecution answers, also while a Task waits for its Lambda;
    moto's thread notices the stop only when the Lambda returns, and then adds the
    ExecutionAborted event without changing the status or the date."""
    pid_file = tmp_path / "sleepy.pid"
    resource = function("sleepy", timeout=10)
    definition = {
        "StartAt": "Task",
        "States": {"Task": {"Type": "Task", "Resource": resource, "End": True}},
    }
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name=unique("stop"), definition=json.dumps(definition), roleArn=role
    )["stateMachineArn"]
    event = {"seconds": 2, "pid_file": str(pid_file)}
    arn = sfn.start_execution(stateMachineArn=machine, input=json.dumps(event))["executionArn"]
    deadline = time.monotonic() + 30
    while not pid_file.exists():  # the Lambda runs: the execution waits in its Task
        assert time.monotonic() < deadline, "the Lambda never started"
        time.sleep(0.05)
    stopped = sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped by hand")
    described = sfn.describe_execution(executionArn=arn)
    running = sfn.list_executions(stateMachineArn=machine, statusFilter="RUNNING")["executions"]

    assert described["status"] == "ABORTED"
    assert described["stopDate"] == stopped["stopDate"]
    assert (described["error"], described["cause"]) == ("Operator", "stopped by hand")
    assert running == []
    while (history := sfn.get_execution_history(executionArn=arn)["events"])[-1]["type"] != (
        "ExecutionAborted"
    ):
        assert time.monotonic() < deadline, [e["type"] for e in history]
        time.sleep(0.1)
    later = sfn.describe_execution(executionArn=arn)
    later.pop("ResponseMetadata"), described.pop("ResponseMetadata")
    assert later == described


def test_queue_attributes_still_decide_how_messages_are_sent(local_stack):
    """The stack answers SendMessage's attribute lookup on its own; the rules it feeds hold."""
    sqs = boto3.client("sqs")
    deduplicating = sqs.create_queue(
        QueueName=unique("dedup") + ".fifo",
        Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"},
    )["QueueUrl"]
    for _ in range(2):
        sqs.send_message(QueueUrl=deduplicating, MessageBody="same", MessageGroupId="g")
    received = sqs.receive_message(QueueUrl=deduplicating, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in received] == ["same"]
    strict = sqs.create_queue(
        QueueName=unique("strict") + ".fifo", Attributes={"FifoQueue": "true"}
    )["QueueUrl"]
    with pytest.raises(sqs.exceptions.ClientError, match="ContentBasedDeduplication"):
        sqs.send_message(QueueUrl=strict, MessageBody="x", MessageGroupId="g")
    plain = sqs.create_queue(QueueName=unique("plain"))["QueueUrl"]
    for n in range(3):
        sqs.send_message(QueueUrl=plain, MessageBody=str(n))
    attributes = sqs.get_queue_attributes(QueueUrl=plain, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "3"
    assert "ContentBasedDeduplication" not in attributes


def test_control_api_answers_and_rejects_bad_requests(local_stack):
    status, health = control(local_stack, "health")
    assert status == 200 and health["status"] == "ok" and len(health["boot_id"]) == 32
    assert control(local_stack, "flush", {})[0] == 200
    status, problem = control(local_stack, "faults", {"endpoint_name": "x", "rate": 2})
    assert (status, problem["error"]) == (400, "InvalidFaultRequest")
    status, problem = control(local_stack, "faults", {"rate": 0.1})
    assert (status, problem["error"]) == (400, "InvalidFaultRequest")
    for seed in ("7", 1.5, True):
        request = {"endpoint_name": "x", "rate": 0.1, "seed": seed}
        status, problem = control(local_stack, "faults", request)
        assert (status, problem["message"]) == (400, "seed must be an integer")
    assert "x" not in control(local_stack, "stats")[1]["fault_rates"]
    assert control(local_stack, "nothing-here")[0] == 404
    assert control(local_stack, "health", {})[0] == 405


def test_a_tls_only_bucket_policy_admits_the_stack_and_other_policies_still_apply(local_stack):
    s3 = boto3.client("s3")
    bucket = unique("tls-only")
    s3.create_bucket(Bucket=bucket)
    tls_only = {
        "Sid": "DenyInsecureTransport",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    policy = {"Version": "2012-10-17", "Statement": [tls_only]}
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    s3.put_object(Bucket=bucket, Key="allowed.txt", Body=b"ok")
    assert s3.get_object(Bucket=bucket, Key="allowed.txt")["Body"].read() == b"ok"

    deny_reads = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    policy["Statement"].append(deny_reads)
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    with pytest.raises(s3.exceptions.ClientError) as denied:
        s3.get_object(Bucket=bucket, Key="allowed.txt")
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def _s3_through_moto(account: str):
    """An S3 client whose requests carry moto's account header: the stack leaves its GetObject
    calls to moto's own handlers instead of answering them itself."""
    client = boto3.client("s3")
    client.meta.events.register(
        "before-sign.s3.GetObject",
        lambda request, **_: request.headers.__setitem__("x-moto-account-id", account),
    )
    return client


def _get(client, **params) -> tuple[dict, bytes]:
    """GetObject's parsed fields and raw headers (but the per-request ones), and the body."""
    try:
        response = client.get_object(**params)
    except client.exceptions.ClientError as err:
        return {"error": err.response["Error"], "headers": _stable(err.response)}, b""
    body = response.pop("Body").read()
    return {"fields": {k: v for k, v in response.items() if k != "ResponseMetadata"}}, body


def _stable(response: dict) -> dict:
    headers = response["ResponseMetadata"]["HTTPHeaders"]
    return {k: v for k, v in headers.items() if k not in ("date", "x-amzn-requestid", "server")}


def test_get_object_answers_exactly_as_moto_does(local_stack):
    s3 = boto3.client("s3")
    through_moto = _s3_through_moto(boto3.client("sts").get_caller_identity()["Account"])
    plain, versioned, logged, logs = (unique(name) for name in ("plain", "ver", "logged", "logs"))
    for bucket in (plain, versioned, logged, logs):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=versioned, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_encryption(
        Bucket=versioned,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}}]
        },
    )
    log_delivery = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{logs}/*",
    }
    s3.put_bucket_policy(
        Bucket=logs, Policy=json.dumps({"Version": "2012-10-17", "Statement": [log_delivery]})
    )
    s3.put_bucket_logging(
        Bucket=logged,
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": logs, "TargetPrefix": "l/"}},
    )
    objects = {
        (plain, "a/plain.bin"): {"Body": b"\x00\x01 bytes"},
        (plain, "typed.png"): {
            "Body": b"png-ish",
            "ContentType": "image/png",
            "Metadata": {"label": "8"},
            "ChecksumAlgorithm": "SHA256",
        },
        (plain, "archived.txt"): {"Body": b"cold", "StorageClass": "GLACIER"},
        (plain, "empty"): {"Body": b""},
        (plain, "with space.txt"): {"Body": b"encoded key"},
        (versioned, "v.txt"): {"Body": b"second", "Tagging": "k=v"},
        (logged, "seen.txt"): {"Body": b"logged read"},
    }
    s3.put_object(Bucket=versioned, Key="v.txt", Body=b"first")
    for (bucket, key), options in objects.items():
        s3.put_object(Bucket=bucket, Key=key, **options)

    reads = [dict(Bucket=bucket, Key=key) for bucket, key in objects]
    reads += [
        dict(Bucket=plain, Key="typed.png", ChecksumMode="ENABLED"),
        dict(Bucket=plain, Key="a/plain.bin", Range="bytes=2-4"),
        dict(Bucket=plain, Key="a/plain.bin", ResponseContentType="text/plain"),
        dict(Bucket=plain, Key="missing.txt"),
        dict(Bucket=unique("no-bucket"), Key="a.txt"),
    ]
    answers = {}
    direct_before = control(local_stack, "stats")[1]["direct_answers"].get("s3:GetObject", 0)
    for params in reads:
        fast, slow = _get(s3, **params), _get(through_moto, **params)
        assert fast == slow, params
        answers[params["Key"], params.get("ChecksumMode")] = fast
    assert answers["typed.png", None][0]["fields"]["Metadata"] == {"label": "8"}
    assert answers["typed.png", "ENABLED"][0]["fields"]["ChecksumSHA256"]
    assert answers["v.txt", None][1] == b"second"
    assert answers["v.txt", None][0]["fields"]["ServerSideEncryption"] == "aws:kms"
    assert answers["missing.txt", None][0]["error"]["Code"] == "NoSuchKey"
    # The plain reads of a stored, non-empty, non-archived object under a plain key were the
    # stack's own answers (a.bin, typed.png twice, v.txt, seen.txt); the rest were moto's.
    direct = control(local_stack, "stats")[1]["direct_answers"]["s3:GetObject"] - direct_before
    assert direct == 5
    # Both paths write the access-log entry of the logged bucket (two reads, two entries).
    logged_entries = s3.list_objects_v2(Bucket=logs, Prefix="l/").get("Contents", [])
    assert len(logged_entries) >= 2
    # Raw headers too: the same names and values but the per-request ones.
    raw = {}
    for name, client in (("fast", s3), ("slow", through_moto)):
        raw[name] = _stable(client.get_object(Bucket=plain, Key="typed.png"))
    assert raw["fast"] == raw["slow"]
    assert raw["fast"]["content-type"] == "image/png"


def test_scalable_target_tags_answer(local_stack):
    autoscaling = boto3.client("application-autoscaling")
    resource_id = f"endpoint/{unique('scaled')}/variant/AllTraffic"
    autoscaling.register_scalable_target(
        ServiceNamespace="sagemaker",
        ResourceId=resource_id,
        ScalableDimension="sagemaker:variant:DesiredInstanceCount",
        MinCapacity=1,
        MaxCapacity=2,
        Tags={"project": "scones"},
    )
    (target,) = autoscaling.describe_scalable_targets(
        ServiceNamespace="sagemaker", ResourceIds=[resource_id]
    )["ScalableTargets"]
    arn = target["ScalableTargetARN"]
    assert autoscaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"project": "scones"}
    autoscaling.tag_resource(ResourceARN=arn, Tags={"owner": "ml"})
    autoscaling.untag_resource(ResourceARN=arn, TagKeys=["project"])
    assert autoscaling.list_tags_for_resource(ResourceARN=arn)["Tags"] == {"owner": "ml"}


def test_model_packages_and_their_group_can_be_deleted(local_stack):
    sagemaker = boto3.client("sagemaker")
    group = unique("registry")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    package = sagemaker.create_model_package(
        ModelPackageGroupName=group,
        InferenceSpecification={
            "Containers": [{"Image": "pytorch-inference", "ModelDataUrl": "s3://m/model.tar.gz"}],
            "SupportedContentTypes": ["image/png"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )["ModelPackageArn"]
    with pytest.raises(sagemaker.exceptions.ClientError):  # still holds a package
        sagemaker.delete_model_package_group(ModelPackageGroupName=group)
    sagemaker.delete_model_package(ModelPackageName=package)
    sagemaker.delete_model_package_group(ModelPackageGroupName=group)
    assert group not in [
        g["ModelPackageGroupName"]
        for g in sagemaker.list_model_package_groups()["ModelPackageGroupSummaryList"]
    ]
