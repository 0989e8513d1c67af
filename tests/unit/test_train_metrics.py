"""evaluation.json: SageMaker model-quality form, per-class figures, the printed table."""

from __future__ import annotations

import json
import math

import pytest

from train.metrics import accuracy_of, confusion_matrix, evaluation_json, format_table

LABELS = ["bicycle", "motorcycle", "bus"]
# 4 bicycles (3 right), 3 motorcycles (2 right), 1 bus (right)
ACTUAL = [0, 0, 0, 0, 1, 1, 1, 2]
PREDICTED = [0, 0, 0, 1, 1, 1, 0, 2]
MODEL_QUALITY_METRICS = {
    "accuracy",
    "weighted_recall",
    "weighted_precision",
    "weighted_f0_5",
    "weighted_f1",
    "weighted_f2",
}


def test_confusion_matrix_rows_are_actual_classes():
    assert confusion_matrix(ACTUAL, PREDICTED, 3) == [[3, 1, 0], [1, 2, 0], [0, 0, 1]]


def test_evaluation_json_has_the_model_quality_schema():
    document = json.loads(json.dumps(evaluation_json(ACTUAL, PREDICTED, LABELS)))
    metrics = document["multiclass_classification_metrics"]
    expected = (
        {"confusion_matrix"}
        | MODEL_QUALITY_METRICS
        | {f"{name}_best_constant_classifier" for name in MODEL_QUALITY_METRICS}
    )
    assert set(metrics) == expected
    for name in expected - {"confusion_matrix"}:
        assert set(metrics[name]) == {"value", "standard_deviation"}
        assert isinstance(metrics[name]["value"], float)
        assert metrics[name]["standard_deviation"] == "NaN"
    assert metrics["confusion_matrix"] == {
        "bicycle": {"bicycle": 3, "motorcycle": 1, "bus": 0},
        "motorcycle": {"bicycle": 1, "motorcycle": 2, "bus": 0},
        "bus": {"bicycle": 0, "motorcycle": 0, "bus": 1},
    }
    assert document["test_samples"] == 8


def test_evaluation_values():
    document = evaluation_json(ACTUAL, PREDICTED, LABELS)
    metrics = document["multiclass_classification_metrics"]
    assert accuracy_of(document) == pytest.approx(6 / 8)
    per_class = document["per_class"]
    assert per_class["bicycle"] == pytest.approx(
        {"precision": 3 / 4, "recall": 3 / 4, "f1": 3 / 4, "support": 4}
    )
    assert per_class["motorcycle"]["precision"] == pytest.approx(2 / 3)
    assert per_class["motorcycle"]["recall"] == pytest.approx(2 / 3)
    assert per_class["bus"]["f1"] == pytest.approx(1.0)
    weighted_recall = (4 * 3 / 4 + 3 * 2 / 3 + 1 * 1) / 8
    assert metrics["weighted_recall"]["value"] == pytest.approx(weighted_recall)
    # best constant classifier: always "bicycle" (the most frequent class)
    assert metrics["accuracy_best_constant_classifier"]["value"] == pytest.approx(4 / 8)
    assert metrics["weighted_precision_best_constant_classifier"]["value"] == pytest.approx(
        4 / 8 * 4 / 8
    )


def test_a_class_never_predicted_has_zero_precision_not_nan():
    document = evaluation_json([0, 1], [0, 0], ["a", "b"])
    assert document["per_class"]["b"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    for entry in document["multiclass_classification_metrics"].values():
        if "value" in entry:
            assert not math.isnan(entry["value"])


def test_table_lists_classes_accuracy_and_matrix():
    table = format_table(evaluation_json(ACTUAL, PREDICTED, LABELS))
    lines = table.splitlines()
    assert lines[0].split() == ["class", "precision", "recall", "f1", "support"]
    assert lines[1].split() == ["bicycle", "0.750", "0.750", "0.750", "4"]
    assert "accuracy      0.7500 on 8 test images" in table
    assert lines[-1].split() == ["bus", "0", "0", "1"]
