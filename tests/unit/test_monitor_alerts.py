"""``monitor.alerts``: alerts published to SNS, read from the SQS subscription, kept or deleted."""

from __future__ import annotations

import json
import re

import boto3
import pytest
from moto import mock_aws

from monitor import alerts
from lambdas_support import REGION, isolate_from_real_aws


@pytest.fixture
def topic_and_queue(monkeypatch, tmp_path):
    """SNS topic -> SQS queue as terraform/base makes them, and base outputs naming the queue."""
    isolate_from_real_aws(monkeypatch)
    with mock_aws():
        sns = boto3.client("sns", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        topic = sns.create_topic(Name="scones-alerts")["TopicArn"]
        queue_url = sqs.create_queue(QueueName="scones-alerts")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
        (tmp_path / "base.outputs.json").write_text(
            json.dumps(
                {"alert_queue_url": {"value": queue_url, "type": "string", "sensitive": False}}
            )
        )
        monkeypatch.setenv("OUTPUTS_DIR", str(tmp_path))
        yield sns, sqs, topic, queue_url


def publish_failure(sns, topic: str, key: str) -> None:
    cause = json.dumps({"errorMessage": f"s3://scones-data/{key} does not exist", "errorType": "x"})
    message = {"execution": "run-1", "s3_key": key, "error": "ImageNotFound", "cause": cause}
    sns.publish(TopicArn=topic, Subject="image classification failed", Message=json.dumps(message))


def test_no_alerts_says_so(topic_and_queue, capsys):
    assert alerts.main([]) == 0

    assert capsys.readouterr().out.startswith("no alerts in ")


def test_alerts_are_unwrapped_printed_and_kept(topic_and_queue, capsys):
    sns, sqs, topic, queue_url = topic_and_queue
    publish_failure(sns, topic, "test/a.png")
    publish_failure(sns, topic, "test/b.png")
    sns.publish(TopicArn=topic, Message="plain text alert")

    alerts.main([])
    first = capsys.readouterr().out
    alerts.main([])
    second = capsys.readouterr().out

    assert first == second
    assert "image classification failed" in first
    assert "s3_key     test/a.png" in first and "s3_key     test/b.png" in first
    assert "cause      s3://scones-data/test/a.png does not exist" in first
    assert "  plain text alert" in first
    assert "3 alert(s) shown; they stay in the queue" in first


def test_an_eventbridge_event_shows_its_type_and_detail(topic_and_queue, capsys):
    sns, _, topic, _ = topic_and_queue
    detail = {"name": "run-2", "status": "FAILED", "error": "LowConfidence", "cause": "under"}
    event = {
        "version": "0",
        "id": "9b8f0c1e-0000-4000-8000-000000000000",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-11-27T06:00:00Z",
        "region": REGION,
        "resources": ["arn:aws:states:us-east-1:123456789012:execution:m:run-2"],
        "detail": detail,
    }
    sns.publish(TopicArn=topic, Message=json.dumps(event))

    alerts.main([])
    out = capsys.readouterr().out

    assert "] Step Functions Execution Status Change\n" in out
    assert "  status  FAILED\n" in out and "  error   LowConfidence\n" in out
    assert "version" not in out and "resources" not in out


def test_ack_deletes_what_was_shown(topic_and_queue, capsys):
    sns, _, topic, _ = topic_and_queue
    publish_failure(sns, topic, "test/a.png")

    alerts.main(["--ack"])
    assert "1 alert(s) shown and deleted" in capsys.readouterr().out
    alerts.main([])
    assert capsys.readouterr().out.startswith("no alerts in ")


@pytest.mark.parametrize("ack", [True, False])
def test_alerts_sqs_refuses_to_release_are_counted_and_a_named_error(
    topic_and_queue, monkeypatch, capsys, ack
):
    sns, _, topic, _ = topic_and_queue
    publish_failure(sns, topic, "test/a.png")
    publish_failure(sns, topic, "test/b.png")
    read_all = alerts.read_all

    def read_with_one_stale_handle(client, queue_url):
        shown = read_all(client, queue_url)
        shown[0].receipt_handle = "a-receipt-handle-sqs-no-longer-knows"
        return shown

    monkeypatch.setattr(alerts, "read_all", read_with_one_stale_handle)
    with pytest.raises(alerts.AlertsNotReleased) as refused:
        alerts.main(["--ack"] if ack else [])
    if ack:
        assert str(refused.value).startswith("2 alert(s) shown, 1 deleted; 1 could not be deleted")
    else:
        assert str(refused.value).startswith("2 alert(s) shown; 1 could not be made visible")
    assert str(refused.value).endswith(": 1 x ReceiptHandleIsInvalid")
    assert "shown and deleted" not in capsys.readouterr().out


def test_json_nested_too_deeply_is_shown_as_text(topic_and_queue, capsys):
    sns, _, topic, _ = topic_and_queue
    deep = "[" * 50_000 + "]" * 50_000  # beyond json's recursion limit
    sns.publish(TopicArn=topic, Message=deep)
    cause = json.dumps({"errorMessage": "x"})[:-1] + ', "extra": ' + deep + "}"
    message = {"execution": "run-1", "error": "ImageNotFound", "cause": cause}
    sns.publish(TopicArn=topic, Subject="deep cause", Message=json.dumps(message))

    assert alerts.main([]) == 0

    out = capsys.readouterr().out
    assert f"  {deep}\n" in out and f"  cause      {cause}\n" in out


def test_a_deleted_queue_is_a_named_error(topic_and_queue):
    _, sqs, _, queue_url = topic_and_queue
    sqs.delete_queue(QueueUrl=queue_url)

    with pytest.raises(alerts.AlertQueueNotFound):
        alerts.main([])


def test_raw_deliveries_show_and_sort_by_an_iso_time(topic_and_queue, aws_requests, capsys):
    """terraform/base subscribes the queue with raw message delivery: no SNS envelope, so the
    time shown is SQS's SentTimestamp, in the form of SNS's Timestamp (it was milliseconds),
    asked for by its current parameter (``AttributeNames`` is deprecated: its model has no
    ``SentTimestamp``)."""
    sns, sqs, topic, queue_url = topic_and_queue
    (subscription,) = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    sns.set_subscription_attributes(
        SubscriptionArn=subscription["SubscriptionArn"],
        AttributeName="RawMessageDelivery",
        AttributeValue="true",
    )
    publish_failure(sns, topic, "test/first.png")
    publish_failure(sns, topic, "test/second.png")

    alerts.main([])
    out = capsys.readouterr().out

    times = re.findall(r"^\[([^\]]*)\]", out, re.M)
    assert len(times) == 2
    for time in times:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", time), time
    assert times == sorted(times)
    assert out.index("test/first.png") < out.index("test/second.png")
    assert "sqs.ReceiveMessage" in aws_requests.operations()
    assert aws_requests.violations() == []
