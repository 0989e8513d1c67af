"""summarizeBatch: count the outcomes of a batch, so its output and its alert say how it went.

Event ``{"items": [{"s3_key", "status": "ok" | "<ErrorName>", ...}, ...]}``, the results of the
batch state machine's Map state, one per image in input order. Returns
``{"total", "counts": {status: n}, "items", "not_ok": [the first MAX_LISTED items whose status
is not "ok"]}``: ``not_ok`` feeds the summary alert, and a list of every failed item of a large
batch would pass the 256 KiB limits of an SNS message and of Step Functions' state data (the
counts cover them all).

A Lambda because Amazon States Language cannot group by an arbitrary value: intrinsic functions
can count an array, not the members of each error name, and a fixed list of names would miss
unexpected ones (``States.Timeout``, ``Lambda.Unknown``...) and so break the counts' total.
"""

from __future__ import annotations

from collections import Counter
from itertools import islice
from typing import Any

from lambdas.errors import InvalidInput
from lambdas.events import require_object

OK = "ok"
MAX_LISTED = 100


def handler(event: Any, context: Any = None) -> dict:
    items = require_object(event).get("items")
    if not isinstance(items, list):
        raise InvalidInput("field 'items' must be an array of batch results")
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("status"), str):
            raise InvalidInput(f"items[{index}] is not an object with a string 'status'")
    counts = Counter(item["status"] for item in items)
    return {
        "total": len(items),
        "counts": dict(sorted(counts.items())),
        "items": items,
        "not_ok": list(islice((item for item in items if item["status"] != OK), MAX_LISTED)),
    }
