"""``python -m settings.tfplan --plan ROOT PLAN.json [--plan ROOT PLAN.json] [--aws [--yes]]``:
what an apply will do.

The Makefile saves each plan (``terraform plan -out``; ``make destroy``: ``plan -destroy`` of both
roots), converts it with ``terraform show -json`` and runs this before ``terraform apply`` of
exactly that plan. It prints how many resources are created, replaced, updated and destroyed and
names each of them, and each bucket that is destroyed with the objects in it. With ``--aws``
(``TARGET=aws``) it adds the hourly price of the SageMaker endpoint's instances (at the initial
count and at the autoscaling maximum, from the project's price table ``loadtest.cost``) and asks
once, for all the plans given, before anything is applied; ``--yes`` (``YES=1``) answers for
you. Plans without changes print one line each and ask nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from loadtest.cost import PRICES_AS_OF, hourly_price
from loadtest.errors import UnknownInstancePrice
from settings.cli import CliError, answered_yes, run_cli

HOURS_PER_MONTH = 730
VERBS = {
    ("create",): "create",
    ("delete", "create"): "replace",
    ("create", "delete"): "replace",
    ("update",): "update",
    ("delete",): "destroy",
}
ORDER = ("create", "replace", "update", "destroy")


class UnreadablePlan(CliError):
    """The file is not the JSON that ``terraform show -json PLANFILE`` writes."""


class NotConfirmed(CliError):
    """The changes were not confirmed, so nothing was applied."""


@dataclass(frozen=True)
class Change:
    verb: str
    address: str


@dataclass(frozen=True)
class EndpointPrice:
    """Instances of one production variant and what they cost per hour."""

    instance_type: str
    initial_count: int
    max_count: int
    per_instance_hour: float | None


def load_plan(path: Path) -> dict:
    try:
        plan = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UnreadablePlan(f"{path}: {err}") from None
    if not isinstance(plan, dict) or not isinstance(plan.get("resource_changes", []), list):
        raise UnreadablePlan(f"{path}: no resource_changes list")
    return plan


def changes(plan: dict) -> list[Change]:
    """The resources the plan touches (no-op and read-only entries left out)."""
    found = []
    for entry in plan.get("resource_changes", []):
        verb = VERBS.get(tuple(entry.get("change", {}).get("actions", [])))
        if verb:
            found.append(Change(verb, entry["address"]))
    return sorted(found, key=lambda c: (ORDER.index(c.verb), c.address))


def _after(plan: dict, resource_type: str) -> list[dict]:
    return [
        entry["change"]["after"]
        for entry in plan.get("resource_changes", [])
        if entry.get("type") == resource_type and entry.get("change", {}).get("after")
    ]


def endpoint_prices(plan: dict) -> list[EndpointPrice]:
    """Each production variant of the planned endpoint configuration(s), with its price."""
    max_counts = [t.get("max_capacity") for t in _after(plan, "aws_appautoscaling_target")]
    prices = []
    for config in _after(plan, "aws_sagemaker_endpoint_configuration"):
        for variant in config.get("production_variants") or []:
            instance_type = variant.get("instance_type")
            initial = int(variant.get("initial_instance_count") or 0)
            if not instance_type:
                continue
            try:
                price: float | None = hourly_price(instance_type)
            except UnknownInstancePrice:
                price = None
            maximum = max([initial] + [int(m) for m in max_counts if m])
            prices.append(EndpointPrice(instance_type, initial, maximum, price))
    return prices


def emptied_buckets(plan: dict) -> list[str]:
    """Buckets the plan deletes with ``force_destroy`` on: every object in them goes too."""
    found = []
    for entry in plan.get("resource_changes", []):
        change = entry.get("change", {})
        before = change.get("before") or {}
        if (
            entry.get("type") == "aws_s3_bucket"
            and "delete" in change.get("actions", [])
            and before.get("force_destroy")
        ):
            found.append(str(before.get("bucket") or entry["address"]))
    return sorted(found)


def describe(plan: dict, root: str, prices: bool = True) -> list[str]:
    """The lines printed for a plan (empty plan: one line); ``prices``: the endpoint's too."""
    found = changes(plan)
    if not found:
        return [f"terraform/{root}: no changes"]
    counts = ", ".join(
        f"{sum(c.verb == verb for c in found)} to {verb}"
        for verb in ORDER
        if any(c.verb == verb for c in found)
    )
    lines = [f"terraform/{root}: {counts}"]
    lines += [f"  {c.verb:8} {c.address}" for c in found]
    lines += [
        f"bucket {bucket}: deleted with every object and version in it (force_destroy)"
        for bucket in emptied_buckets(plan)
    ]
    for price in endpoint_prices(plan) if prices else []:
        if price.per_instance_hour is None:
            lines.append(
                f"endpoint: {price.initial_count} x {price.instance_type}, price not in the "
                "project's table: see https://aws.amazon.com/sagemaker/pricing/"
            )
            continue
        hourly = price.per_instance_hour * price.initial_count
        lines.append(
            f"endpoint: {price.initial_count} x {price.instance_type} at "
            f"{price.per_instance_hour:.3f} USD/hour each = {hourly:.3f} USD/hour "
            f"(about {hourly * HOURS_PER_MONTH:.0f} USD/month) while it exists"
        )
        if price.max_count > price.initial_count:
            top = price.per_instance_hour * price.max_count
            lines.append(
                f"          autoscaling may run up to {price.max_count} instances: "
                f"{top:.3f} USD/hour"
            )
        lines.append(f"          (prices: {PRICES_AS_OF}; `make destroy` stops the charges)")
    return lines


def confirm(assume_yes: bool) -> None:
    """Ask on the terminal; without one, only ``--yes`` lets the apply go on."""
    if assume_yes:
        return
    if not sys.stdin.isatty():
        raise NotConfirmed("no terminal to ask on: run again with YES=1 to apply these changes")
    if not answered_yes("Apply these changes? [y/N] "):
        raise NotConfirmed("answered no")


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m settings.tfplan", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--plan", nargs=2, action="append", required=True, metavar=("ROOT", "PLAN_JSON"),
        help="a Terraform root and its plan (`terraform show -json PLANFILE`); repeatable",
    )  # fmt: skip
    parser.add_argument(
        "--aws", action="store_true", help="print the endpoint's price and ask before applying"
    )
    parser.add_argument("--yes", action="store_true", help="with --aws: do not ask")
    args = parser.parse_args()
    plans = [(root, load_plan(Path(path))) for root, path in args.plan]
    for root, plan in plans:
        for line in describe(plan, root, prices=args.aws):
            print(line)
    if args.aws and any(changes(plan) for _, plan in plans):
        confirm(args.yes)
    return 0


if __name__ == "__main__":
    run_cli(main)
