"""Step Functions execution status changes reach EventBridge, and EventBridge rules reach SNS.

On AWS, Step Functions sends a ``Step Functions Execution Status Change`` event (source
``aws.states``) to the account's default event bus whenever an execution starts (``RUNNING``)
and when it ends (``SUCCEEDED``, ``FAILED``, ``TIMED_OUT``, ``ABORTED``). The project's
EventBridge rule (terraform/serving) sends the failed ones to the alert topic. moto's Step
Functions sends no events, and moto's EventBridge delivers to SQS, CloudWatch Logs, archives
and other buses but raises ``NotImplementedError`` for an SNS target. This module adds both:

- ``Execution.start`` and the end of an execution put the status change event on the default
  bus of the execution's account and region, with the fields AWS sends (dates in epoch
  milliseconds, ``output`` only when it succeeded, ``error``/``cause`` when it failed): each
  enabled rule of the bus matches it against its pattern and delivers it to its targets, as
  after moto's ``PutEvents`` (whose request checks and per-rule copies cost three times as much;
  an execution puts two events, and a load test runs 50 executions a second).
- A rule's SNS target publishes the event JSON to the topic (after the target's
  ``Input``, ``InputPath`` or ``InputTransformer``), with ``time`` as ISO 8601 text and without
  moto's extra ``ingestion-time`` field, as AWS delivers it. moto's own targets (SQS, ...) are
  left to moto.

A failure here is logged and never changes the execution, nor keeps the event from the other
rules and targets, as on AWS, where a target that cannot be reached counts a failed invocation
and touches nothing else.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import time
import uuid
from typing import Any

from settings import get_logger

log = get_logger("local_aws.events")

SOURCE = "aws.states"
DETAIL_TYPE = "Step Functions Execution Status Change"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def install() -> None:
    """Once moto's Step Functions interpreter modules are imported."""
    from moto.events.models import Rule
    from moto.stepfunctions.parser.backend.execution import (
        BaseExecutionWorkerCommunication,
        Execution,
    )

    original_start = Execution.start
    original_terminated = BaseExecutionWorkerCommunication.terminated

    def start(self: Any) -> None:
        # Before the worker runs, so that RUNNING always comes before the end of the execution.
        _put_status_change(self, "RUNNING")
        original_start(self)

    def terminated(self: Any) -> None:
        original_terminated(self)
        _put_status_change(self.execution, self.execution.exec_status.value)

    Execution.start = start  # type: ignore[method-assign]
    BaseExecutionWorkerCommunication.terminated = terminated  # type: ignore[method-assign]
    _deliver_to_sns(Rule)


def status_change_detail(execution: Any, status: str) -> dict[str, Any]:
    """The event's ``detail``: what AWS sends for this execution when it reaches ``status``."""
    succeeded, ended = status == "SUCCEEDED", status != "RUNNING"
    output = execution.output
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status,
        "startDate": _epoch_millis(execution.start_date),
        "stopDate": _epoch_millis(execution.stop_date) if ended else None,
        "input": execution.execution_input,
        "output": (
            (output if isinstance(output, str) else json.dumps(output)) if succeeded else None
        ),
        "inputDetails": {"included": True},
        "outputDetails": {"included": True} if succeeded else None,
        "error": execution.error if ended else None,
        "cause": execution.cause if ended else None,
    }


def _put_status_change(execution: Any, status: str) -> None:
    """Hand the event to every enabled rule of the default bus, as moto's ``PutEvents`` does
    with an entry (same message fields; a disabled rule gets nothing, as on AWS)."""
    try:
        from moto.events.models import events_backends

        bus = events_backends[execution.account_id][execution.region_name].event_buses.get(
            "default"
        )
        rules = [rule for rule in bus.rules.values() if rule.state == "ENABLED"] if bus else []
        if not rules:
            return
        now = time.time()
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": DETAIL_TYPE,
            "source": SOURCE,
            "account": execution.account_id,
            "time": now,  # moto's epoch seconds; ``delivered`` writes AWS's text
            "region": execution.region_name,
            "resources": [execution.exec_arn],
            "detail": status_change_detail(execution, status),
            "ingestion-time": now,
        }
    except Exception as err:  # an event that cannot be made leaves the execution as it is
        _log_failure(execution.exec_arn, "", err)
        return
    for rule in rules:
        try:
            rule.send_to_targets(event)
        except Exception as err:  # nor does a rule that cannot deliver it
            _log_failure(execution.exec_arn, rule.name, err)


def _log_failure(execution_arn: str, rule: str, err: Exception) -> None:
    log.error(
        "execution status event not delivered",
        extra={"fields": {"execution": execution_arn, "rule": rule, "error": repr(err)}},
    )


def _deliver_to_sns(rule_class: Any) -> None:
    from moto.sns.models import sns_backends
    from moto.utilities.arns import parse_arn

    original = rule_class.send_to_targets

    def send_to_targets(self: Any, original_event: dict, transform_input: bool = True) -> None:
        topics = [t for t in self.targets if parse_arn(t["Arn"]).service == "sns"]
        if not topics:
            return original(self, original_event, transform_input)
        if not self.event_pattern.matches_event(original_event):
            return None
        for target in topics:
            arn = parse_arn(target["Arn"])
            message = target_input(target, original_event) if transform_input else None
            message = message if message is not None else json.dumps(delivered(original_event))
            try:
                sns_backends[arn.account][arn.region].publish(message, arn=target["Arn"])
            except Exception as err:  # AWS counts a failed invocation; other targets go on
                fields = {"rule": self.name, "topic": target["Arn"], "error": repr(err)}
                log.error("event not delivered to SNS", extra={"fields": fields})
        others = copy.copy(self)
        others.targets = [t for t in self.targets if t not in topics]
        return original(others, original_event, transform_input) if others.targets else None

    rule_class.send_to_targets = send_to_targets


def delivered(event: dict[str, Any]) -> dict[str, Any]:
    """The event as AWS delivers it: ``time`` as ISO 8601 text (moto keeps epoch seconds),
    without moto's ``ingestion-time``."""
    event = {key: value for key, value in event.items() if key != "ingestion-time"}
    if "time" in event:
        event["time"] = _iso(event["time"])
    return event


def _iso(epoch_s: Any) -> Any:
    """moto's epoch seconds as AWS's ISO 8601 text (anything else as it is)."""
    if not isinstance(epoch_s, (int, float)):
        return epoch_s
    return dt.datetime.fromtimestamp(epoch_s, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def target_input(target: dict[str, Any], event: dict[str, Any]) -> str | None:
    """What a target's ``Input``, ``InputPath`` or ``InputTransformer`` makes of the event;
    ``None`` when it has none (the whole event is sent)."""
    from jsonpath_ng.ext import parse
    from moto.events.utils import EventTemplateParser

    if "Input" in target:
        return str(target["Input"])
    if "InputPath" in target:
        matches = parse(target["InputPath"]).find(delivered(event))
        return json.dumps(matches[0].value) if matches else None
    transformer = target.get("InputTransformer")
    if transformer:
        result = EventTemplateParser.parse(
            input_template=transformer.get("InputTemplate"),
            input_paths_map=transformer.get("InputPathsMap", {}),
            # Paths read the event as delivered (``time`` as text); moto's parser also wants
            # the ingestion time, for its ``<aws.events.event.ingestion-time>``.
            event=dict(delivered(event), **{"ingestion-time": _iso(event["ingestion-time"])}),
        )
        return result if isinstance(result, str) else json.dumps(result)
    return None


def _epoch_millis(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // dt.timedelta(milliseconds=1)
