"""Test-split evaluation: accuracy, per-class precision/recall/F1, confusion matrix.

``evaluation_json`` writes them in the model-quality form that SageMaker Model Monitor produces
and the Model Registry displays (``ModelMetrics.ModelQuality.Statistics``)::

    {"multiclass_classification_metrics": {
        "confusion_matrix": {"<actual>": {"<predicted>": count, ...}, ...},
        "accuracy": {"value": 0.95, "standard_deviation": "NaN"},
        "weighted_recall": ..., "weighted_precision": ..., "weighted_f0_5": ...,
        "weighted_f1": ..., "weighted_f2": ..., "accuracy_best_constant_classifier": ..., ...},
     "per_class": {"<label>": {"precision", "recall", "f1", "support"}},
     "test_samples": 200}

Standard deviations are ``"NaN"``, as Model Monitor writes them when it did not bootstrap.
``per_class`` and ``test_samples`` are this project's additions (the registry ignores them).
Plain Python (no scikit-learn in the training container).
"""

from __future__ import annotations

from typing import Sequence

NAN = "NaN"


def confusion_matrix(actual: Sequence[int], predicted: Sequence[int], n: int) -> list[list[int]]:
    """``matrix[a][p]`` = number of images of class ``a`` predicted as ``p``."""
    matrix = [[0] * n for _ in range(n)]
    for a, p in zip(actual, predicted, strict=True):
        matrix[a][p] += 1
    return matrix


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


def _f_beta(precision: float, recall: float, beta: float) -> float:
    b2 = beta * beta
    return _ratio((1 + b2) * precision * recall, b2 * precision + recall)


def _weighted(matrix: list[list[int]]) -> dict[str, float]:
    """Support-weighted precision, recall and F-scores, and accuracy, of a confusion matrix."""
    n = len(matrix)
    total = sum(map(sum, matrix))
    support = [sum(matrix[c]) for c in range(n)]
    predicted = [sum(matrix[a][c] for a in range(n)) for c in range(n)]
    precision = [_ratio(matrix[c][c], predicted[c]) for c in range(n)]
    recall = [_ratio(matrix[c][c], support[c]) for c in range(n)]

    def weighted(values: list[float]) -> float:
        return _ratio(sum(v * s for v, s in zip(values, support)), total)

    scores = {
        "accuracy": _ratio(sum(matrix[c][c] for c in range(n)), total),
        "weighted_recall": weighted(recall),
        "weighted_precision": weighted(precision),
    }
    for name, beta in (("weighted_f0_5", 0.5), ("weighted_f1", 1.0), ("weighted_f2", 2.0)):
        scores[name] = weighted([_f_beta(p, r, beta) for p, r in zip(precision, recall)])
    return scores


def evaluation_json(actual: Sequence[int], predicted: Sequence[int], labels: list[str]) -> dict:
    """The ``evaluation.json`` document (see the module docstring) of one test run."""
    n = len(labels)
    matrix = confusion_matrix(actual, predicted, n)
    total = len(actual)
    support = [sum(matrix[c]) for c in range(n)]
    metrics: dict = {
        "confusion_matrix": {
            labels[a]: {labels[p]: matrix[a][p] for p in range(n)} for a in range(n)
        }
    }
    for name, value in _weighted(matrix).items():
        metrics[name] = {"value": value, "standard_deviation": NAN}
    # The best constant classifier always answers the most frequent class.
    majority = max(range(n), key=lambda c: support[c])
    constant = [[support[a] if p == majority else 0 for p in range(n)] for a in range(n)]
    for name, value in _weighted(constant).items():
        metrics[f"{name}_best_constant_classifier"] = {"value": value, "standard_deviation": NAN}
    per_class = {}
    for c, label in enumerate(labels):
        predicted_c = sum(matrix[a][c] for a in range(n))
        precision = _ratio(matrix[c][c], predicted_c)
        recall = _ratio(matrix[c][c], support[c])
        per_class[label] = {
            "precision": precision,
            "recall": recall,
            "f1": _f_beta(precision, recall, 1.0),
            "support": support[c],
        }
    return {
        "multiclass_classification_metrics": metrics,
        "per_class": per_class,
        "test_samples": total,
    }


def accuracy_of(evaluation: dict) -> float:
    return float(evaluation["multiclass_classification_metrics"]["accuracy"]["value"])


def format_table(evaluation: dict) -> str:
    """A short plain-text report: per-class precision/recall/F1, accuracy, confusion matrix."""
    per_class = evaluation["per_class"]
    labels = list(per_class)
    name_width = max(12, *(len(label) for label in labels))
    lines = [f"{'class':<{name_width}}  precision  recall     f1  support"]
    for label, row in per_class.items():
        lines.append(
            f"{label:<{name_width}}  {row['precision']:9.3f}  {row['recall']:6.3f}"
            f"  {row['f1']:5.3f}  {row['support']:7d}"
        )
    metrics = evaluation["multiclass_classification_metrics"]
    lines.append(
        f"{'accuracy':<{name_width}}  {metrics['accuracy']['value']:.4f}"
        f" on {evaluation['test_samples']} test images"
        f" (best constant classifier {metrics['accuracy_best_constant_classifier']['value']:.4f})"
    )
    lines.append("")
    lines.append("confusion matrix (rows: actual, columns: predicted)")
    cell = max(5, *(len(label) for label in labels))
    lines.append(" " * name_width + "  " + " ".join(f"{label:>{cell}}" for label in labels))
    for actual, row in metrics["confusion_matrix"].items():
        counts = " ".join(f"{row[label]:>{cell}d}" for label in labels)
        lines.append(f"{actual:<{name_width}}  {counts}")
    return "\n".join(lines)
