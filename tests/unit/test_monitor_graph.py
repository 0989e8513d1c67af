"""``monitor.graph``: both definitions drawn as SVG; an execution's states coloured by status.

The execution is a real one of moto's ASL interpreter, run in-process on the single-image
definition: with no Lambda function behind its ARNs, the first Task fails, is caught, alerts
and ends in the Fail state — a path with succeeded, caught, failed and unreached states.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from monitor import definitions, graph
from lambdas_support import REGION, isolate_from_real_aws

SVG = "{http://www.w3.org/2000/svg}"


def state_names(states: dict) -> set[str]:
    names = set(states)
    for state in states.values():
        if "ItemProcessor" in state:
            names |= state_names(state["ItemProcessor"]["States"])
    return names


def drawn_states(svg_text: str) -> dict[str, str]:
    """State name -> fill colour of its shape, from the SVG's ``<g data-state>`` groups."""
    root = ET.fromstring(svg_text)
    assert root.tag == f"{SVG}svg"
    fills = {}
    for group in root.iter(f"{SVG}g"):
        shape = next(el for el in group if el.tag in (f"{SVG}rect", f"{SVG}polygon"))
        fills[group.get("data-state")] = shape.get("fill")
    return fills


def test_every_definition_is_drawn_with_all_its_states(tmp_path, capsys):
    assert graph.main(["--output-dir", str(tmp_path)]) == 0

    printed = capsys.readouterr().out.split()
    assert sorted(printed) == sorted(
        str(tmp_path / f"{key}.svg") for key in definitions.DEFINITIONS
    )
    for key, filename in definitions.DEFINITIONS.items():
        definition = definitions.render_placeholders(definitions.ASL_DIR / filename)
        svg_text = (tmp_path / f"{key}.svg").read_text()
        assert set(drawn_states(svg_text)) == state_names(definition["States"])
        assert filename in svg_text


def entered_states(sfn, arn: str) -> set[str]:
    events = sfn.get_execution_history(executionArn=arn)["events"]
    return {
        e["stateEnteredEventDetails"]["name"] for e in events if "stateEnteredEventDetails" in e
    }


@pytest.fixture
def run_on_moto(monkeypatch):
    """Runs a definition to its end on moto's interpreter; returns the execution ARN."""
    isolate_from_real_aws(monkeypatch)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name=REGION)

        def run(
            definition: dict,
            payload: dict,
            machine: str,
            name: str = "graph-test",
            stop_in: str | None = None,
        ) -> str:
            """``stop_in``: stop the execution (StopExecution) once it has entered that state."""
            machine_arn = sfn.create_state_machine(
                name=machine,
                definition=json.dumps(definition),
                roleArn="arn:aws:iam::123456789012:role/states",
            )["stateMachineArn"]
            arn = sfn.start_execution(
                stateMachineArn=machine_arn, name=name, input=json.dumps(payload)
            )["executionArn"]
            deadline = time.monotonic() + 30
            while stop_in is not None and stop_in not in entered_states(sfn, arn):
                assert time.monotonic() < deadline, f"the execution did not reach {stop_in}"
                time.sleep(0.05)
            if stop_in is not None:
                sfn.stop_execution(executionArn=arn, error="Operator", cause="stopped by the test")
            while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                assert time.monotonic() < deadline, "the execution did not finish"
                time.sleep(0.05)
            return arn

        yield run


@pytest.fixture
def failed_execution(run_on_moto):
    """A finished execution of the real classify_image definition on moto's interpreter."""
    topic = boto3.client("sns", region_name=REGION).create_topic(Name="alerts")["TopicArn"]
    values = {
        name: f"arn:aws:lambda:{REGION}:123456789012:function:{name}"
        for name in ("serialize_function_arn", "classify_function_arn", "filter_function_arn")
    }
    definition = definitions.render(
        definitions.ASL_DIR / "classify_image.asl.json", values | {"alert_topic_arn": topic}
    )
    return run_on_moto(
        definition, {"s3_bucket": "scones-data", "s3_key": "test/a.png"}, "classify-image"
    )


def test_an_execution_is_coloured_by_what_each_state_did(failed_execution, tmp_path, capsys):
    assert graph.main(["--execution", failed_execution, "--output-dir", str(tmp_path)]) == 0

    path = tmp_path / "classify-image.graph-test.svg"
    assert capsys.readouterr().out.split() == [str(path)]
    fills = drawn_states(path.read_text())
    colour = {status: style[0] for status, style in graph.STATUS_STYLE.items()}
    assert fills == {
        "SerializeImageData": colour["caught"],
        "ClassifyImage": colour["not reached"],
        "FilterInferences": colour["not reached"],
        "HasImageKey": colour["succeeded"],
        "AlertWithKey": colour["succeeded"],
        "AlertWithoutKey": colour["not reached"],
        "Failed": colour["failed"],
    }
    assert "execution graph-test: FAILED (Lambda.ResourceNotFoundException)" in path.read_text()


def test_an_unknown_execution_is_a_named_error(monkeypatch):
    isolate_from_real_aws(monkeypatch)
    with mock_aws():
        arn = f"arn:aws:states:{REGION}:123456789012:execution:classify-image:nope"
        with pytest.raises(graph.ExecutionNotFound, match="nope"):
            graph.main(["--execution", arn])


def test_an_arn_longer_than_step_functions_takes_is_an_unknown_execution(monkeypatch, aws_requests):
    """Step Functions' Arn is 1-256 characters: AWS refuses a longer one with a
    ValidationException (moto answers ExecutionDoesNotExist), so it is named before any call."""
    isolate_from_real_aws(monkeypatch)
    arn = f"arn:aws:states:{REGION}:123456789012:execution:classify-image:" + "x" * 300
    with mock_aws(), pytest.raises(graph.ExecutionNotFound, match="more than an execution ARN"):
        graph.main(["--execution", arn])
    assert aws_requests.violations() == []
    assert aws_requests.operations() == []


def drawn_summaries(svg_text: str) -> dict[str, str]:
    """State name -> the second line drawn in its shape (what the execution did there)."""
    groups = ET.fromstring(svg_text).iter(f"{SVG}g")
    return {g.get("data-state"): [t.text for t in g.iter(f"{SVG}text")][1] for g in groups}


def test_a_map_whose_iteration_failed_is_caught_not_succeeded(run_on_moto, tmp_path):
    # An iteration ends in a Fail state, which never exits: the Map fails and its Catch takes
    # over. The Map is what was caught, whatever the state inside where the iteration failed.
    definition = {
        "StartAt": "Items",
        "States": {
            "Items": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "INLINE"},
                    "StartAt": "Check",
                    "States": {
                        "Check": {"Type": "Pass", "Next": "ItemFailed"},
                        "ItemFailed": {"Type": "Fail", "Error": "BadItem", "Cause": "no"},
                    },
                },
                "Catch": [
                    {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Alert"}
                ],
                "Next": "Done",
            },
            "Alert": {"Type": "Pass", "Next": "Failed"},
            "Done": {"Type": "Succeed"},
            "Failed": {"Type": "Fail", "Error": "BatchFailed", "Cause": "an item failed"},
        },
    }
    arn = run_on_moto(definition, {"items": [1]}, "map-caught")

    path = graph.draw_execution(arn, tmp_path)

    svg_text = path.read_text()
    assert drawn_summaries(svg_text) == {
        "Items": "caught 1",
        "Check": "succeeded 1",
        "ItemFailed": "failed 1",
        "Alert": "succeeded 1",
        "Done": "Succeed",  # not reached: its type is shown
        "Failed": "failed 1",
    }
    assert drawn_states(svg_text)["Items"] == graph.STATUS_STYLE["caught"][0]


def test_the_state_an_aborted_execution_was_stopped_in_is_aborted_not_failed(run_on_moto, tmp_path):
    definition = {
        "StartAt": "Prepare",
        "States": {
            "Prepare": {"Type": "Pass", "Next": "Hold"},
            "Hold": {"Type": "Wait", "Seconds": 30, "Next": "Finish"},
            "Finish": {"Type": "Pass", "End": True},
        },
    }
    arn = run_on_moto(definition, {}, "stopped", stop_in="Hold")

    svg_text = graph.draw_execution(arn, tmp_path).read_text()

    assert drawn_summaries(svg_text) == {
        "Prepare": "succeeded 1",
        "Hold": "aborted 1",
        "Finish": "Pass",  # not reached: its type is shown
    }
    assert drawn_states(svg_text)["Hold"] == graph.STATUS_STYLE["aborted"][0]
    assert "execution graph-test: ABORTED" in svg_text


@pytest.mark.parametrize(
    "original, broken, named",
    [
        ('"Next": "SummarizeBatch"', '"Next": "SummarizeBatches"', "'SummarizeBatches'"),
        ('"Default": "BatchResult"', '"Default": "BatchResults"', "'BatchResults'"),
        ('"Next": "ItemFailed"', '"Next": "ItemFail"', "'ItemFail'"),  # a Catch, in the Map
        ('"Next": "ItemSucceeded"', '"Next": "BatchResult"', "item processor"),  # out of scope
        ('"StartAt": "CheckBatchInput"', '"StartAt": "Check"', "'Check'"),
        ('"Type": "Choice"', '"Typo": "Choice"', "'CheckBatchInput'"),
    ],
)
def test_a_malformed_definition_is_a_named_error_and_nothing_is_written(
    monkeypatch, tmp_path, original, broken, named
):
    asl_dir = tmp_path / "asl"
    asl_dir.mkdir()
    for filename in definitions.DEFINITIONS.values():
        text = (definitions.ASL_DIR / filename).read_text()
        if filename == "classify_batch.asl.json":
            assert original in text
            text = text.replace(original, broken, 1)
        (asl_dir / filename).write_text(text)
    monkeypatch.setattr(definitions, "ASL_DIR", asl_dir)
    out = tmp_path / "out"
    out.mkdir()
    (out / "classify-image.svg").write_text("the previous picture")

    with pytest.raises(graph.InvalidDefinition, match=named) as raised:
        graph.main(["--output-dir", str(out)])

    assert "asl/classify_batch.asl.json" in str(raised.value)
    assert [p.name for p in out.iterdir()] == ["classify-image.svg"]
    assert (out / "classify-image.svg").read_text() == "the previous picture"


def test_an_output_dir_that_is_a_file_is_a_named_error(tmp_path):
    not_a_folder = tmp_path / "out"
    not_a_folder.write_text("a file")

    with pytest.raises(graph.OutputNotWritable, match="choose another --output-dir"):
        graph.main(["--output-dir", str(not_a_folder)])

    assert not_a_folder.read_text() == "a file"


def test_an_svg_that_cannot_replace_its_path_is_a_named_error_and_leaves_no_temporary(tmp_path):
    (tmp_path / "classify-image.svg").mkdir()  # in the way of the rename

    with pytest.raises(graph.OutputNotWritable, match="classify-image.svg"):
        graph.main(["--output-dir", str(tmp_path)])

    assert [p.name for p in tmp_path.iterdir()] == ["classify-image.svg"]


def test_the_svg_is_utf8_whatever_the_locale(tmp_path):
    # A locale whose encoding is ASCII (the C locale without Python's UTF-8 mode and locale
    # coercion): the shortened Choice label ends in an ellipsis, which ASCII cannot encode.
    python_dir = Path(__file__).resolve().parents[2] / "python"
    env = dict(os.environ, LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    env["PYTHONPATH"] = str(python_dir)
    done = subprocess.run(
        [sys.executable, "-m", "monitor.graph", "--output-dir", str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 0, done.stderr
    svg_text = (tmp_path / "classify-batch.svg").read_bytes().decode("utf-8")
    assert "…" in svg_text
    assert set(drawn_states(svg_text)) >= {"CheckBatchInput", "ClassifyImages"}
