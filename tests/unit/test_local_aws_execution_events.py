"""What an EventBridge rule's SNS target publishes for an event (local stack)."""

from __future__ import annotations

import json

from local_aws.execution_events import delivered, target_input

EVENT = {  # as moto's PutEvents hands it to a rule
    "version": "0",
    "id": "5f1e2a4e-0000-4000-8000-000000000000",
    "detail-type": "Step Functions Execution Status Change",
    "source": "aws.states",
    "account": "123456789012",
    "time": 1795000000.25,
    "region": "us-east-1",
    "resources": ["arn:aws:states:us-east-1:123456789012:execution:m:e"],
    "detail": {"name": "e", "status": "FAILED", "error": "LowConfidence"},
    "ingestion-time": 1795000000.5,
}


def test_the_whole_event_goes_out_as_aws_delivers_it():
    event = delivered(EVENT)
    assert "ingestion-time" not in event
    assert event["time"] == "2026-11-18T11:06:40Z"
    assert {k: v for k, v in event.items() if k != "time"} == {
        k: v for k, v in EVENT.items() if k not in ("time", "ingestion-time")
    }
    assert target_input({"Arn": "arn:aws:sns:us-east-1:123456789012:t"}, EVENT) is None


def test_input_replaces_the_event():
    assert target_input({"Input": '{"fixed": 1}'}, EVENT) == '{"fixed": 1}'


def test_input_path_selects_part_of_the_event():
    assert json.loads(target_input({"InputPath": "$.detail"}, EVENT)) == EVENT["detail"]


def test_input_transformer_fills_its_template():
    target = {
        "InputTransformer": {
            "InputPathsMap": {"name": "$.detail.name", "status": "$.detail.status"},
            "InputTemplate": '{"execution": "<name>", "status": "<status>"}',
        }
    }
    assert json.loads(target_input(target, EVENT)) == {"execution": "e", "status": "FAILED"}


def test_input_transformer_reads_the_event_as_aws_delivers_it():
    target = {
        "InputTransformer": {
            "InputPathsMap": {"time": "$.time"},
            "InputTemplate": '{"at": "<time>"}',
        }
    }
    assert json.loads(target_input(target, EVENT)) == {"at": "2026-11-18T11:06:40Z"}
