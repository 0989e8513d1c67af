"""Step Functions: what moto's executing backend lacks for this project.

- Executions run for real: moto's ASL interpreter is switched on (``execute_state_machine``) before
  any state machine exists. It calls SNS and the other services through boto3 at
  ``localhost:$MOTO_PORT``, i.e. through this stack; Lambda tasks invoke moto's Lambda backend
  directly (``_InProcessLambda``), which runs the real handlers (``lambda_runtime``).
- ``StartExecution`` without a name gets a UUID, as on AWS (moto would name it ``None``, and a
  second unnamed start would fail with ``ExecutionAlreadyExists``); a name with whitespace,
  wildcards, ``:``, ``/`` or other characters AWS refuses is ``InvalidName``, and one over 80
  characters a ``ValidationException`` (moto's interpreter backend accepted any name and made a
  malformed ARN of it).
- ``DescribeExecution`` and ``ListExecutions`` give a ``TIMED_OUT`` execution its ``stopDate``;
  ``GetExecutionHistory`` lists the latest events first with ``reverseOrder``.
- ``StopExecution`` ends the execution before it answers, as on AWS: ``ABORTED`` with the
  ``stopDate`` of its answer and the request's ``error`` and ``cause`` (``_stop_at_once``).
- Execution status changes go to EventBridge, whose rules can publish to SNS
  (``execution_events``).
- ``ValidateStateMachineDefinition`` and ``ListStateMachineVersions``, which the Terraform AWS
  provider calls on every apply (stock moto answers 500 and the provider retries for minutes).
- ``DescribeStateMachineForExecution`` answers with the definition the execution ran, as AWS
  does; moto gives the state machine's current one, so after an update ``make graph
  EXECUTION=...`` drew an earlier execution on a definition it never ran.
- Speed: ``StartExecution``, ``DescribeExecution``, ``ListExecutions`` and
  ``GetExecutionHistory`` are answered straight from the backend (``answer_directly``) instead
  of through Flask and moto's generic dispatch and serializer. The interpreter parses the
  definition with ANTLR on every execution (~14 ms) and builds a new boto3 client for every task
  (~10 ms). Parsed programs are cached per definition (they hold no per-execution state: that
  lives in the execution's environment) and clients per service and region (boto3 clients are
  thread-safe). More in ``speedups``.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import json
import os
import re
import threading
import uuid
from typing import Any

from local_aws import execution_events, speedups
from local_aws.fast_path import Answer, caller_of

_FINISHED = ("SUCCEEDED", "ABORTED", "FAILED", "TIMED_OUT")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")
# (HTTP status, JSON body) of an answer given without moto's dispatch.
Reply = tuple[int, str]
_TOKEN_PREFIX = "local-"  # page tokens of _list_executions (moto's are plain base64)
_PROGRAM_CACHE_SIZE = 64
_CLIENT_POOL_SIZE = 128


_interpreter_ready = threading.Event()


def install() -> None:
    """Patch moto's Step Functions; the interpreter half loads in the background.

    Importing moto's ASL interpreter takes seconds (its service integrations pull in moto's EC2
    data), so it is imported by a background thread once the stack serves; Step Functions
    requests wait for it (``_wait_for_interpreter``), everything else is served at once.
    """
    from moto.core.config import default_user_config
    from moto.stepfunctions import responses
    from moto.stepfunctions.responses import StepFunctionResponse

    default_user_config["stepfunctions"] = {"execute_state_machine": True}
    # Before any interpreter module imports it by name, so that they all get the shared one.
    _share_boto_clients()
    original_get_backend = responses.get_backend

    def get_backend(account: str, region: str) -> Any:
        _wait_for_interpreter()
        return original_get_backend(account, region)

    responses.get_backend = get_backend
    StepFunctionResponse.validate_state_machine_definition = _validate  # type: ignore[attr-defined]
    StepFunctionResponse.list_state_machine_versions = _list_versions  # type: ignore[attr-defined]
    moto_for_execution = StepFunctionResponse.describe_state_machine_for_execution

    def describe_state_machine_for_execution(self: Any) -> Any:
        result = moto_for_execution(self)  # moto's answer (and errors), today's definition
        ran = _definition_ran(self.stepfunction_backend, self._get_param("executionArn"))
        if ran is not None:
            result.result["definition"] = ran
        return result

    StepFunctionResponse.describe_state_machine_for_execution = (  # type: ignore[method-assign]
        describe_state_machine_for_execution
    )
    _stop_date_when_timed_out(StepFunctionResponse)
    moto_history = StepFunctionResponse.get_execution_history

    def get_execution_history(self: Any) -> Any:
        result = moto_history(self)  # moto ignores reverseOrder
        if self._get_bool_param("reverseOrder"):
            result.result["events"].reverse()
        return result

    StepFunctionResponse.get_execution_history = get_execution_history  # type: ignore[method-assign]
    threading.Thread(target=_install_interpreter, name="sfn-import", daemon=True).start()


def _stop_date_when_timed_out(response_class: Any) -> None:
    """``stopDate`` for a ``TIMED_OUT`` execution too, as AWS gives every ended execution one;
    moto's ``DescribeExecution`` and ``ListExecutions`` write it only for the other end states
    (the load test's latency is ``stopDate - startDate`` of each ended execution)."""
    moto_describe = response_class.describe_execution
    moto_list = response_class.list_executions

    def describe_execution(self: Any) -> Any:
        result = moto_describe(self)
        if result.result["status"] == "TIMED_OUT":
            execution = self.stepfunction_backend.describe_execution(
                self._get_param("executionArn")
            )
            result.result["stopDate"] = execution.stop_date
        return result

    def list_executions(self: Any) -> Any:
        result = moto_list(self)
        for item in result.result["executions"]:
            if item["status"] == "TIMED_OUT":
                execution = self.stepfunction_backend.describe_execution(item["executionArn"])
                item["stopDate"] = execution.stop_date
        return result

    response_class.describe_execution = describe_execution
    response_class.list_executions = list_executions


def _stop_at_once() -> None:
    """``StopExecution`` ends the execution when it answers. moto's interpreter backend only
    asks the execution's thread to stop, and that thread notices when its current state yields
    (a Task first waits for its Lambda): until then the execution stayed ``RUNNING`` (a
    ``ListExecutions`` of running ones still listed it), the answer had no ``stopDate``, and the
    request's ``error`` and ``cause`` were dropped. The thread still ends the program and writes
    the ``ExecutionAborted`` history event; the status it reflects then is left as it is."""
    from moto.stepfunctions.parser.api import ExecutionStatus
    from moto.stepfunctions.parser.backend.execution import (
        BaseExecutionWorkerCommunication,
        Execution,
    )
    from moto.stepfunctions.responses import StepFunctionResponse

    moto_stop = Execution.stop
    moto_reflect = BaseExecutionWorkerCommunication._reflect_execution_status
    moto_stop_execution = StepFunctionResponse.stop_execution

    def stop(self: Any, stop_date: dt.datetime, error: str | None, cause: str | None) -> None:
        if stop_date.tzinfo is None:  # moto's utcnow(): naive UTC
            stop_date = stop_date.replace(tzinfo=dt.timezone.utc)
        moto_stop(self, stop_date=stop_date, error=error, cause=cause)
        if self.exec_status == ExecutionStatus.RUNNING:
            self.exec_status = ExecutionStatus.ABORTED
            self.stop_date = stop_date
            self.aborted_by_request = True

    def reflect(self: Any) -> None:
        if self.execution.exec_status != ExecutionStatus.ABORTED:  # else: StopExecution ended it
            moto_reflect(self)

    def stop_execution(self: Any) -> Any:
        result = moto_stop_execution(self)  # moto's backend passes no error or cause on
        execution = self.stepfunction_backend.describe_execution(self._get_param("executionArn"))
        if execution.__dict__.pop("aborted_by_request", False):
            execution.error = self._get_param("error")
            execution.cause = self._get_param("cause")
        return result

    Execution.stop = stop  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication._reflect_execution_status = reflect  # type: ignore[method-assign]
    StepFunctionResponse.stop_execution = stop_execution  # type: ignore[method-assign]


def _wait_for_interpreter() -> None:
    if not _interpreter_ready.wait(timeout=120):
        raise RuntimeError("moto's Step Functions interpreter did not load within 120 s")


def _install_interpreter() -> None:
    from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils
    from moto.stepfunctions.parser.asl.utils import boto_client
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend

    assert lambda_eval_utils.boto_client_for is boto_client.boto_client_for
    original_start = StepFunctionsParserBackend.start_execution

    def start_execution(
        self: Any,
        state_machine_arn: str,
        name: str | None = None,
        execution_input: str | None = None,
        trace_header: str | None = None,
    ) -> Any:
        _forget_finished_threads()
        if name:  # moto's interpreter backend skips the check its base class makes
            self._validate_name(name)
        return original_start(
            self, state_machine_arn, name or str(uuid.uuid4()), execution_input, trace_header
        )

    StepFunctionsParserBackend.start_execution = start_execution  # type: ignore[method-assign]
    ExecutionWorker._get_evaluation_entrypoint = _cached_entrypoint  # type: ignore[method-assign]
    # A component's heap key names its slot in each execution's own heap. moto draws it lazily at
    # random, which races once programs are shared; the object's id is stable and unique.
    EvalComponent.heap_key = property(lambda self: f"heap-{id(self)}")  # type: ignore[assignment]
    _stop_at_once()
    speedups.install_stepfunctions()
    execution_events.install()
    speedups.freeze_long_lived_objects()
    _interpreter_ready.set()


@functools.lru_cache(maxsize=_PROGRAM_CACHE_SIZE)
def _parse(definition: str) -> Any:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    return AmazonStateLanguageParser.parse(definition)[0]


def _cached_entrypoint(worker: Any) -> Any:
    return _parse(worker._evaluation_details.state_machine_details.definition)


def _forget_finished_threads() -> None:
    """moto keeps every interpreter thread in a module list; drop the finished ones."""
    from moto.stepfunctions.parser.utils import TMP_THREADS

    if len(TMP_THREADS) > 1000:
        TMP_THREADS[:] = [thread for thread in TMP_THREADS if thread.is_alive()]


def _share_boto_clients() -> None:
    """One boto3 client per (service, region) for the interpreter instead of one per task.

    Same settings as moto's ``boto_client_for`` (no retries, no parameter validation), plus a
    connection pool large enough for many concurrent executions, and 127.0.0.1 rather than
    ``localhost`` (which may resolve to ::1 first, where the stack does not listen).
    """
    import boto3
    from botocore.config import Config
    from moto.settings import moto_server_port
    from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import TimeoutSeconds
    from moto.stepfunctions.parser.asl.utils import boto_client

    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()
    config = Config(
        parameter_validation=False,
        retries={"max_attempts": 0, "total_max_attempts": 1},
        connect_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        read_timeout=TimeoutSeconds.DEFAULT_TIMEOUT_SECONDS,
        max_pool_connections=_CLIENT_POOL_SIZE,
    )

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        key = (region, service)
        client = clients.get(key)
        if client is None:
            with lock:
                client = clients.get(key)
                if client is None:
                    client = boto3.client(
                        service_name=service,
                        region_name=region,
                        endpoint_url=f"http://127.0.0.1:{moto_server_port()}",
                        aws_access_key_id="ak",
                        aws_secret_access_key="sk",
                        config=config,
                    )
                    if service == "lambda":
                        client = _InProcessLambda(region, client)
                    elif service == "sns":
                        client = _InProcessSns(region, client)
                    clients[key] = client
        return client

    boto_client.boto_client_for = boto_client_for


class _InProcessLambda:
    """The interpreter's Lambda client: ``Invoke`` goes straight to moto's Lambda backend.

    A Lambda task otherwise makes an HTTP request from the stack to itself: botocore serialising
    and signing on one side, werkzeug, Flask and moto's dispatch on the other, about a third of
    the stack's CPU time per 3-task execution. Here the function is looked up in the same backend
    and invoked through the same ``LambdaFunction.invoke`` as an ``Invoke`` API call, and the
    answer has the shape botocore gives the interpreter (``StatusCode``, ``FunctionError``,
    ``ExecutedVersion``, a readable ``Payload``; a missing function raises the same
    ``ResourceNotFoundException`` ``ClientError``). Every other operation uses the HTTP client.
    """

    def __init__(self, region: str, http_client: Any) -> None:
        self._region = region
        self._http_client = http_client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._http_client, name)

    def invoke(
        self,
        FunctionName: str,  # noqa: N803 (botocore's parameter names)
        Payload: bytes = b"",  # noqa: N803
        Qualifier: str | None = None,  # noqa: N803
        InvocationType: str = "RequestResponse",  # noqa: N803
        **_: Any,
    ) -> dict[str, Any]:
        from botocore.exceptions import ClientError
        from moto.awslambda.exceptions import LambdaClientError
        from moto.awslambda.models import lambda_backends
        from moto.core import DEFAULT_ACCOUNT_ID

        account = os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)
        if FunctionName.startswith("arn:"):
            account = FunctionName.split(":")[4]
        request_id = str(uuid.uuid4())
        metadata = {"RequestId": request_id, "HTTPStatusCode": 200, "HTTPHeaders": {}}
        try:
            function = lambda_backends[account][self._region].get_function(FunctionName, Qualifier)
            response_headers: dict[str, str] = {}
            payload = function.invoke(
                Payload, {"x-amz-invocation-type": InvocationType}, response_headers
            )
        except LambdaClientError as err:
            metadata["HTTPStatusCode"] = err.code
            error = {"Error": {"Code": err.error_type, "Message": err.message}}
            raise ClientError(dict(error, ResponseMetadata=metadata), "Invoke") from err
        response: dict[str, Any] = {
            "ResponseMetadata": metadata,
            "StatusCode": 202 if InvocationType == "Event" else 200,
            "ExecutedVersion": response_headers.get("x-amz-executed-version", "$LATEST"),
            "Payload": io.BytesIO(payload),
        }
        if "x-amz-function-error" in response_headers:
            response["FunctionError"] = response_headers["x-amz-function-error"]
        return response


class _InProcessSns:
    """The interpreter's SNS client: a plain ``Publish`` goes straight to moto's SNS backend.

    Every alert of a failing execution (a load test's low-confidence images) was an HTTP request
    from the stack to itself, parsed and dispatched by Flask and moto. ``Publish`` with only a
    topic, a message and a subject calls the same ``SNSBackend.publish`` as the HTTP handler
    (subscriptions, SQS delivery and all). A publish moto refuses, and anything but the plain
    case (message attributes, FIFO fields, other operations), goes through the HTTP client, so
    errors reach the interpreter exactly as before (``SNS.<Code>``).
    """

    PLAIN = frozenset({"TopicArn", "Message", "Subject"})

    def __init__(self, region: str, http_client: Any) -> None:
        self._region = region
        self._http_client = http_client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._http_client, name)

    def publish(self, **parameters: Any) -> dict[str, Any]:
        topic_arn, message = parameters.get("TopicArn"), parameters.get("Message")
        if not (
            set(parameters) <= self.PLAIN
            and isinstance(topic_arn, str)
            and topic_arn.count(":") == 5
            and isinstance(message, str)
        ):
            return self._http_client.publish(**parameters)
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.core.exceptions import ServiceException
        from moto.sns.models import sns_backends

        account = os.environ.get("MOTO_ACCOUNT_ID", DEFAULT_ACCOUNT_ID)  # as for its HTTP calls
        if topic_arn.split(":")[4] != account:
            return self._http_client.publish(**parameters)
        try:
            message_id = sns_backends[account][self._region].publish(
                message, arn=topic_arn, subject=parameters.get("Subject")
            )
        except (ServiceException, ValueError):
            # Refused before anything was delivered (no such topic, a subject too long...):
            # the same call over HTTP raises moto's exact error as botocore parses it.
            return self._http_client.publish(**parameters)
        metadata = {"RequestId": str(uuid.uuid4()), "HTTPStatusCode": 200, "HTTPHeaders": {}}
        return {"MessageId": message_id, "ResponseMetadata": metadata}


def answer_directly(environ: dict) -> Answer | None:
    """The execution calls every client makes answered from the backend, ``None`` for moto.

    ``StartExecution``, ``DescribeExecution`` (polled while waiting), ``ListExecutions`` (a load
    test's tracker) and ``GetExecutionHistory`` (latencies, retries): through Flask, moto's
    generic dispatch and its model-driven serializer (which parses every timestamp back with
    dateutil) that is about 2 ms of the stack's single GIL per call, and far more for a list of
    a few hundred running executions or a history of a few thousand events. Here the
    plain case calls the same backend methods as moto's ``StepFunctionResponse`` and writes the
    same fields (a functional test compares both answers); ``ListExecutions`` pages with its own
    tokens (``_list_executions``). Anything else is left to moto, which then answers with its
    exact behaviour and errors: an account override header, a body that is not the plain shape,
    an ARN of another account or region than the caller's, a version or alias ARN, an unknown
    state machine or execution. One error moto gets wrong is answered here: an input that is not
    JSON is ``InvalidExecutionInput`` (moto's interpreter sends an empty error code). The body
    read here is put back for moto.
    """
    handler = _DIRECT.get(environ.get("HTTP_X_AMZ_TARGET", ""))
    if handler is None:
        return None
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"], environ["CONTENT_LENGTH"] = io.BytesIO(body), str(len(body))
    caller = caller_of(environ)
    if "HTTP_X_MOTO_ACCOUNT_ID" in environ or caller is None or caller.service != "states":
        return None
    try:
        request = json.loads(body)
    except ValueError:
        return None
    if not isinstance(request, dict):
        return None
    reply = handler(request, caller.account, caller.region)
    if reply is None:
        return None
    status, payload = reply
    operation = "states:" + environ["HTTP_X_AMZ_TARGET"].rpartition(".")[2]
    headers = [
        ("Content-Type", "application/x-amz-json-1.0"),
        ("x-amzn-RequestId", str(uuid.uuid4())),
    ]
    return Answer(operation, status, headers, payload.encode())


def _start_execution(request: dict, account: str, region: str) -> Reply | None:
    from moto.core.exceptions import JsonRESTError
    from moto.stepfunctions.responses import get_backend

    arn, name = request.get("stateMachineArn"), request.get("name")
    execution_input = request.get("input", "{}")
    if not set(request) <= {"stateMachineArn", "name", "input"} or not _plain_arn(
        arn, "stateMachine", account, region
    ):
        return None
    if name is not None and not (isinstance(name, str) and _NAME.fullmatch(name)):
        return None
    if not isinstance(execution_input, str):
        return None
    try:
        json.loads(execution_input)
    except ValueError as err:  # moto's interpreter answers this with an empty error code
        message = f"Invalid State Machine Execution Input: '{err}'"
        return 400, json.dumps({"__type": "InvalidExecutionInput", "message": message})
    try:
        backend = get_backend(account, region)
        backend.describe_state_machine(arn)
    except Exception:  # an unknown state machine: moto's answer
        return None
    try:
        execution = backend.start_execution(arn, name, execution_input)
    except JsonRESTError as err:  # a name taken meanwhile (ExecutionAlreadyExists), ...
        return err.code, err.get_body()
    answer = {
        "executionArn": execution.execution_arn,
        "startDate": _epoch_millis(execution.start_date),
    }
    return 200, json.dumps(answer)


def _describe_execution(request: dict, account: str, region: str) -> Reply | None:
    from moto.stepfunctions.responses import get_backend

    arn = request.get("executionArn")
    if set(request) != {"executionArn"} or not _plain_arn(arn, "execution", account, region):
        return None
    try:
        execution = get_backend(account, region).describe_execution(arn)
    except Exception:  # moto's own error (ExecutionDoesNotExist, ...) comes from moto's path
        return None
    status = execution.status
    answer: dict[str, Any] = {
        "executionArn": arn,
        "input": execution.execution_input,
        "name": execution.name,
        "startDate": _epoch_millis(execution.start_date),
        "stateMachineArn": execution.state_machine_arn,
        "status": status,
    }
    if status in _FINISHED:
        answer["stopDate"] = _epoch_millis(execution.stop_date)
    if status == "SUCCEEDED":
        output = execution.output
        if output is not None:
            answer["output"] = output if isinstance(output, str) else json.dumps(output)
        answer["outputDetails"] = execution.output_details
    if execution.error is not None:
        answer["error"] = execution.error
    if execution.cause is not None:
        answer["cause"] = execution.cause
    return 200, json.dumps(answer)


def _list_executions(request: dict, account: str, region: str) -> Reply | None:
    """The executions moto would list, in moto's order (newest first; ties in start order),
    paged here.

    moto's page token names the last execution returned and becomes ``InvalidToken`` when that
    execution is no longer in the list, e.g. when it ended between two pages of
    ``statusFilter=RUNNING``: a load test polling a few hundred running executions hit that
    every few seconds, which AWS never answers. This page token names the last execution too,
    and the next page starts after its place in the order, listed or not.
    """
    from moto.stepfunctions.responses import get_backend

    arn = request.get("stateMachineArn")
    allowed = {"stateMachineArn", "statusFilter", "maxResults", "nextToken"}
    if not set(request) <= allowed or not _plain_arn(arn, "stateMachine", account, region):
        return None
    status_filter, limit = request.get("statusFilter"), request.get("maxResults") or 100
    if not (isinstance(limit, int) and 0 < limit <= 1000):
        return None
    try:
        machine = get_backend(account, region).describe_state_machine(arn)
    except Exception:  # an unknown state machine: moto's answer
        return None
    if status_filter == "RUNNING":
        executions = speedups.running_executions(machine)
    else:
        executions = [e for e in machine.executions if status_filter in (None, e.status)]

    positions = speedups.execution_positions(machine)

    def place(execution: Any) -> tuple[dt.datetime, int]:
        return execution.start_date, -positions[execution.execution_arn]

    ordered = sorted(executions, key=place, reverse=True)
    if "nextToken" in request:
        after = _token_execution(request["nextToken"], machine)
        if after is None:  # not a token of this answer: moto's own tokens and errors
            return None
        ordered = [e for e in ordered if place(e) < place(after)]
    page = ordered[:limit]
    items = []
    for execution in page:
        item = {
            "executionArn": execution.execution_arn,
            "name": execution.name,
            "startDate": _epoch_millis(execution.start_date),
            "stateMachineArn": machine.arn,
            "status": execution.status,
        }
        if execution.status in _FINISHED:
            item["stopDate"] = _epoch_millis(execution.stop_date)
        items.append(item)
    answer: dict[str, Any] = {"executions": items}
    if len(ordered) > limit:
        last = json.dumps({"after": page[-1].execution_arn}).encode()
        answer["nextToken"] = _TOKEN_PREFIX + base64.urlsafe_b64encode(last).decode()
    return 200, json.dumps(answer)


def _token_execution(token: Any, machine: Any) -> Any | None:
    """The execution a page token of ``_list_executions`` names, ``None`` for any other token."""
    if not isinstance(token, str) or not token.startswith(_TOKEN_PREFIX):
        return None
    try:
        named = json.loads(base64.urlsafe_b64decode(token[len(_TOKEN_PREFIX) :]))["after"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(named, str):
        return None
    return speedups.execution_by_arn(machine, named)


def _get_execution_history(request: dict, account: str, region: str) -> Reply | None:
    """All events in one page, as moto answers (it ignores ``maxResults``); latest first with
    ``reverseOrder``, as on AWS."""
    from moto.stepfunctions.responses import get_backend

    arn = request.get("executionArn")
    if not set(request) <= {"executionArn", "maxResults", "reverseOrder"} or not _plain_arn(
        arn, "execution", account, region
    ):
        return None
    if not isinstance(request.get("reverseOrder", False), bool):
        return None
    try:
        events = get_backend(account, region).get_execution_history(arn)["events"]
    except Exception:  # moto's own error comes from moto's path
        return None
    for event in events:
        event["timestamp"] = _epoch_millis(dt.datetime.fromisoformat(event["timestamp"]))
    if request.get("reverseOrder"):
        events.reverse()
    return 200, json.dumps({"events": events})


def _plain_arn(arn: Any, kind: str, account: str, region: str) -> bool:
    """``arn:aws:states:<region>:<account>:<kind>:<name>:<name>`` (execution) or ``...:<name>``."""
    if not isinstance(arn, str):
        return False
    parts = arn.split(":")
    expected = 8 if kind == "execution" else 7
    return len(parts) == expected and parts[3:6] == [region, account, kind]


_DIRECT = {
    "AWSStepFunctions.StartExecution": _start_execution,
    "AWSStepFunctions.DescribeExecution": _describe_execution,
    "AWSStepFunctions.ListExecutions": _list_executions,
    "AWSStepFunctions.GetExecutionHistory": _get_execution_history,
}


def _epoch_millis(value: dt.datetime) -> float:
    """A timestamp as moto's JSON serializer writes it: epoch seconds, truncated to ms."""
    return int(_epoch(value)) + value.microsecond // 1000 / 1000.0


def _validate(self: Any) -> tuple[str, dict[str, str]]:
    """``ValidateStateMachineDefinition``: parse with moto's ASL parser, report like AWS."""
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    _wait_for_interpreter()
    definition = self._get_param("definition") or ""
    diagnostics = []
    try:
        AmazonStateLanguageParser.parse(definition)
    except Exception as err:  # the parser raises various types; all mean "invalid"
        diagnostics.append(
            {"severity": "ERROR", "code": "SCHEMA_VALIDATION_FAILED", "message": str(err)[:1000]}
        )
    body = {"result": "FAIL" if diagnostics else "OK", "diagnostics": diagnostics}
    body["truncated"] = False
    return json.dumps(body), {"Content-Type": "application/x-amz-json-1.0"}


def _definition_ran(backend: Any, execution_arn: str) -> str | None:
    """The definition of the snapshot of its state machine that an execution keeps."""
    machine = backend.describe_state_machine_for_execution(execution_arn)
    for execution in machine.executions:
        if execution.execution_arn == execution_arn:
            return getattr(getattr(execution, "state_machine", None), "definition", None)
    return None


def _list_versions(self: Any) -> tuple[str, dict[str, str]]:
    """``ListStateMachineVersions``: the versions moto keeps when a machine is published."""
    state_machine = self.stepfunction_backend.describe_state_machine(
        self._get_param("stateMachineArn")
    )
    versions = sorted(state_machine.versions.values(), key=lambda v: v.version, reverse=True)
    body = {
        "stateMachineVersions": [
            {"stateMachineVersionArn": v.arn, "creationDate": _epoch(v.creation_date)}
            for v in versions
        ]
    }
    return json.dumps(body), {"Content-Type": "application/x-amz-json-1.0"}


def _epoch(value: dt.datetime) -> float:
    """moto keeps naive UTC datetimes."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.timestamp()
