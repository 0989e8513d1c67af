"""``python -m monitor.alerts [--ack]``: print the alerts published to the project's SNS topic.

The alert topic (terraform/base) delivers to an SQS queue, so alerts wait there until someone
reads them, locally and on AWS alike. This reads every message in the queue, unwraps the SNS
envelope and prints each alert: the state machines' own alerts field by field, and the events
that the EventBridge rule for failed executions (terraform/serving) sends as their type and
detail. Messages stay in the queue (they are made visible again at
once) unless ``--ack`` deletes them.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from settings import CliError, get_logger, outputs, run_cli

log = get_logger("monitor.alerts")

# What json.loads raises for text that is not JSON, or JSON nested deeper than it can recurse.
_NOT_JSON = (ValueError, RecursionError)
# While this command reads, the messages it has seen stay hidden so no alert is read twice.
READ_VISIBILITY_S = 30
_MISSING_QUEUE_CODES = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


class AlertQueueNotFound(CliError):
    """The alert queue named by the Terraform outputs does not exist (destroyed, other TARGET)."""


class AlertQueueUnreachable(CliError):
    """SQS could not be reached (local stack down, no network, no credentials)."""


class AlertsNotReleased(CliError):
    """SQS refused to delete (``--ack``) or to make visible again some of the alerts shown."""


@dataclass
class Alert:
    receipt_handle: str
    timestamp: str
    subject: str
    message: Any  # the published message: a dict when it was JSON, else the text


def parse(body: str, receipt_handle: str, sent_ms: str = "") -> Alert:
    """An alert from an SQS body: an SNS notification envelope, or a raw delivery."""
    try:
        envelope = json.loads(body)
    except _NOT_JSON:
        envelope = None
    if isinstance(envelope, dict) and envelope.get("Type") == "Notification":
        text = envelope.get("Message", "")
        timestamp = envelope.get("Timestamp", "")
        subject = envelope.get("Subject") or ""
    else:
        text, timestamp, subject = body, _iso_time(sent_ms), ""
    try:
        message = json.loads(text)
    except _NOT_JSON:
        message = text
    if _is_event(message):  # an EventBridge rule's delivery: the event's type and detail
        subject = subject or message["detail-type"]
        message = message["detail"]
    return Alert(receipt_handle, timestamp, subject, message)


def _iso_time(epoch_ms: str) -> str:
    """SQS's ``SentTimestamp`` (milliseconds since the epoch) in the form of SNS's ``Timestamp``
    (``2026-11-27T12:00:00.123Z``), so that alerts of both kinds read and sort alike."""
    if not epoch_ms.isdigit():
        return epoch_ms
    moment = datetime.fromtimestamp(int(epoch_ms) / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _is_event(message: Any) -> bool:
    return (
        isinstance(message, dict)
        and isinstance(message.get("detail-type"), str)
        and isinstance(message.get("detail"), dict)
        and "source" in message
    )


def _readable(name: str, value: Any) -> str:
    """One value of an alert as text: a Lambda error cause shows its message only."""
    if name == "cause" and isinstance(value, str):
        try:
            cause = json.loads(value)
        except _NOT_JSON:
            return value
        if isinstance(cause, dict) and "errorMessage" in cause:
            return str(cause["errorMessage"])
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return "null" if value is None else str(value)


def format_alert(alert: Alert) -> str:
    lines = [f"[{alert.timestamp}] {alert.subject}".rstrip()]
    if isinstance(alert.message, dict):
        width = max((len(name) for name in alert.message), default=0)
        for name, value in alert.message.items():
            lines.append(f"  {name.ljust(width)}  {_readable(name, value)}")
    else:
        lines.append(f"  {alert.message}")
    return "\n".join(lines)


def read_all(client: Any, queue_url: str) -> list[Alert]:
    """Every message now in the queue, oldest first, hidden while this reads them."""
    alerts: dict[str, Alert] = {}
    while True:
        response = client.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            VisibilityTimeout=READ_VISIBILITY_S,
            WaitTimeSeconds=1,
            MessageSystemAttributeNames=["SentTimestamp"],
        )
        messages = response.get("Messages", [])
        if not messages:
            break
        for message in messages:
            sent = message.get("Attributes", {}).get("SentTimestamp", "")
            alerts[message["MessageId"]] = parse(message["Body"], message["ReceiptHandle"], sent)
    return sorted(alerts.values(), key=lambda alert: alert.timestamp)


def _in_batches(alerts: list[Alert]) -> Iterable[list[Alert]]:
    for start in range(0, len(alerts), 10):
        yield alerts[start : start + 10]


def release(client: Any, queue_url: str, alerts: list[Alert], delete: bool) -> list[dict]:
    """Delete the alerts (``--ack``), or make them visible again for the next reader; the
    entries SQS refused (its ``Failed`` lists: ``Id``, ``Code``, ``Message``)."""
    refused = []
    for batch in _in_batches(alerts):
        handles = [{"Id": str(i), "ReceiptHandle": a.receipt_handle} for i, a in enumerate(batch)]
        if delete:
            response = client.delete_message_batch(QueueUrl=queue_url, Entries=handles)
        else:
            response = client.change_message_visibility_batch(
                QueueUrl=queue_url,
                Entries=[entry | {"VisibilityTimeout": 0} for entry in handles],
            )
        refused += response.get("Failed", [])
    return refused


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ack", action="store_true", help="delete the alerts once printed")
    args = parser.parse_args(None if argv is None else list(argv))
    queue_url = outputs("base")["alert_queue_url"]
    client = boto3.client("sqs")
    try:
        alerts = read_all(client, queue_url)
        for alert in alerts:
            print(format_alert(alert) + "\n")
        refused = release(client, queue_url, alerts, delete=args.ack)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in _MISSING_QUEUE_CODES:
            raise AlertQueueNotFound(f"{queue_url} does not exist") from None
        raise AlertQueueUnreachable(f"{code}: {err}") from None
    except BotoCoreError as err:
        raise AlertQueueUnreachable(str(err)) from None
    deleted = len(alerts) - len(refused) if args.ack else 0
    log.info("read", extra={"fields": {"alerts": len(alerts), "deleted": deleted}})
    if refused:
        codes = Counter(str(entry.get("Code")) for entry in refused)
        done = (
            f", {deleted} deleted; {len(refused)} could not be deleted"
            if args.ack
            else f"; {len(refused)} could not be made visible again (they reappear within "
            f"{READ_VISIBILITY_S} s)"
        )
        raise AlertsNotReleased(
            f"{len(alerts)} alert(s) shown{done}: "
            + ", ".join(f"{n} x {code}" for code, n in codes.items())
        )
    if not alerts:
        print(f"no alerts in {queue_url}")
    elif args.ack:
        print(f"{deleted} alert(s) shown and deleted")
    else:
        print(f"{len(alerts)} alert(s) shown; they stay in the queue (`--ack` deletes them)")
    return 0


if __name__ == "__main__":
    run_cli(main)
