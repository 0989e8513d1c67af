"""What an execution did, read from its Step Functions history.

Step Functions records every task attempt (``TaskScheduled`` -> ``TaskStarted`` ->
``TaskSucceeded`` | ``TaskFailed`` | ``TaskTimedOut``, linked by ``previousEventId``), so the
history is the one place where retries, Lambda run times, endpoint calls and published alerts
can be counted exactly, on the local stack and on AWS alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

SCHEDULED = {"TaskScheduled", "LambdaFunctionScheduled"}
STARTED = {"TaskStarted", "LambdaFunctionStarted"}
ENDED = {
    "TaskSucceeded": "succeeded",
    "TaskFailed": "failed",
    "TaskTimedOut": "timed_out",
    "TaskStartFailed": "failed",
    "TaskSubmitFailed": "failed",
    "LambdaFunctionSucceeded": "succeeded",
    "LambdaFunctionFailed": "failed",
    "LambdaFunctionTimedOut": "timed_out",
    "LambdaFunctionStartFailed": "failed",
}
TASK_ENTERED = "TaskStateEntered"
# Longest chain of previousEventId links between a task's end and its scheduling event.
_MAX_LINKS = 8


@dataclass(frozen=True)
class TaskAttempt:
    """One try of one Task state: which resource it called and how that ended."""

    resource_type: str  # "lambda", "sns", ...
    function: str  # Lambda function name, or "<resourceType>:<resource>" for other services
    outcome: str  # "succeeded" | "failed" | "timed_out"
    error: str
    cause: str
    started: datetime | None
    ended: datetime
    inference_id: str = ""  # the InferenceId a successful classify call reports sending


@dataclass
class HistoryFacts:
    """The figures the load test needs from one execution's history."""

    attempts: list[TaskAttempt] = field(default_factory=list)
    states_entered: int = 0
    tasks_entered: int = 0
    execution_error: str = ""
    map_iterations: dict[int, tuple[datetime, datetime | None]] = field(default_factory=dict)

    @property
    def retries(self) -> int:
        """Task attempts beyond the first of each Task state entered: the Retry rules at work."""
        return max(0, len(self.attempts) - self.tasks_entered)

    @property
    def transitions(self) -> int:
        """Billable state transitions: every state entered, plus every retry."""
        return self.states_entered + self.retries


def function_name(function: str) -> str:
    """``my-fn`` from a Lambda name, a qualified name or a (qualified) function ARN."""
    if function.startswith("arn:"):
        parts = function.split(":")
        return parts[6] if len(parts) > 6 else function
    return function.split(":")[0]


def _details(event: dict) -> dict:
    for key, value in event.items():
        if key.endswith("EventDetails") and isinstance(value, dict):
            return value
    return {}


def _scheduled_target(event: dict) -> tuple[str, str]:
    details = _details(event)
    if event["type"] == "LambdaFunctionScheduled":
        return "lambda", function_name(details.get("resource", ""))
    resource_type = details.get("resourceType", "")
    resource = details.get("resource", "")
    if resource_type == "lambda":
        try:
            params = json.loads(details.get("parameters") or "{}")
        except json.JSONDecodeError:
            params = {}
        name = params.get("FunctionName") if isinstance(params, dict) else None
        if isinstance(name, str):
            return "lambda", function_name(name)
    return resource_type, f"{resource_type}:{resource}"


def parse_history(events: list[dict]) -> HistoryFacts:
    """Task attempts, states entered, the execution's error and Map iteration times."""
    facts = HistoryFacts()
    by_id = {event["id"]: event for event in events}
    for event in events:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            facts.states_entered += 1
            facts.tasks_entered += kind == TASK_ENTERED
        elif kind in ENDED:
            facts.attempts.append(_attempt(event, by_id))
        elif kind in ("ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"):
            facts.execution_error = _details(event).get("error", "") or facts.execution_error
        elif kind == "MapIterationStarted":
            index = _details(event).get("index")
            if isinstance(index, int):
                facts.map_iterations[index] = (event["timestamp"], None)
        elif kind in ("MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted"):
            index = _details(event).get("index")
            if isinstance(index, int) and index in facts.map_iterations:
                facts.map_iterations[index] = (facts.map_iterations[index][0], event["timestamp"])
    return facts


def _attempt(end: dict, by_id: dict[int, dict]) -> TaskAttempt:
    """Follow ``previousEventId`` from a task's end back to the event that scheduled it."""
    details = _details(end)
    started = None
    resource_type, function = details.get("resourceType", ""), ""
    link = end.get("previousEventId")
    for _ in range(_MAX_LINKS):
        event = by_id.get(link)
        if event is None:
            break
        if event["type"] in STARTED and started is None:
            started = event["timestamp"]
        if event["type"] in SCHEDULED:
            resource_type, function = _scheduled_target(event)
            started = started or event["timestamp"]
            break
        link = event.get("previousEventId")
    return TaskAttempt(
        resource_type=resource_type,
        function=function or f"{resource_type}:{details.get('resource', '')}",
        outcome=ENDED[end["type"]],
        error=details.get("error", "") or "",
        cause=details.get("cause", "") or "",
        started=started,
        ended=end["timestamp"],
        inference_id=_inference_id(details.get("output")),
    )


def _inference_id(output: object) -> str:
    """``inference_id`` of a task's result, directly or in a Lambda ``Payload``."""
    if not isinstance(output, str) or "inference_id" not in output:
        return ""
    try:
        result = json.loads(output)
    except json.JSONDecodeError:
        return ""
    if isinstance(result, dict) and isinstance(result.get("Payload"), dict):
        result = result["Payload"]
    value = result.get("inference_id") if isinstance(result, dict) else None
    return value if isinstance(value, str) else ""


def fetch_history(sfn, execution_arn: str) -> list[dict]:
    """All events of one execution (paginated; the payloads are kept, the parser needs them)."""
    events: list[dict] = []
    for page in sfn.get_paginator("get_execution_history").paginate(
        executionArn=execution_arn, PaginationConfig={"PageSize": 1000}
    ):
        events.extend(page["events"])
    return events
