"""summarizeBatch: counts per status for the batch state machine."""

from __future__ import annotations

import pytest

from lambdas import errors
from lambdas.summarize_batch import MAX_LISTED, handler
from lambdas_support import event


def test_counts_every_status_and_lists_the_items_not_ok():
    request = event("summarize_batch")

    result = handler(request)

    assert result["total"] == 5
    assert result["counts"] == {"ImageNotFound": 1, "InvalidInput": 1, "LowConfidence": 1, "ok": 2}
    assert result["items"] == request["items"]
    assert [item["status"] for item in result["not_ok"]] == [
        "ImageNotFound",
        "LowConfidence",
        "InvalidInput",
    ]
    assert sum(result["counts"].values()) == result["total"]


def test_unexpected_error_names_are_counted_too():
    items = [{"s3_key": "a.png", "status": "States.Timeout"}, {"s3_key": "b.png", "status": "ok"}]

    assert handler({"items": items})["counts"] == {"States.Timeout": 1, "ok": 1}


def test_an_empty_batch_counts_nothing():
    assert handler({"items": []}) == {"total": 0, "counts": {}, "items": [], "not_ok": []}


@pytest.mark.parametrize(
    "request_event",
    [None, [], {}, {"items": {"s3_key": "a"}}, {"items": [1]}, {"items": [{"s3_key": "a.png"}]}],
)
def test_anything_but_a_list_of_results_is_invalid_input(request_event):
    with pytest.raises(errors.InvalidInput):
        handler(request_event)


def test_a_large_batch_lists_only_the_first_items_not_ok_and_counts_them_all():
    items = [
        {"s3_key": f"k{i}.png", "status": "ok" if i % 3 else "ImageNotFound"} for i in range(900)
    ]

    result = handler({"items": items})

    assert result["counts"] == {"ImageNotFound": 300, "ok": 600}
    assert result["items"] == items
    assert result["not_ok"] == [item for item in items if item["status"] != "ok"][:MAX_LISTED]
    assert MAX_LISTED == 100
