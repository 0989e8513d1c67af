"""``python -m settings.leftovers``: after ``make destroy``, prove that nothing is left behind.

Every resource the Terraform roots create is named ``<prefix>-...`` (``name_prefix``, default
``scones``), so this lists, service by service, what still carries the prefix: SageMaker
endpoints, endpoint configurations, models, model package groups and autoscaling targets,
Lambda functions, state machines, S3 buckets, the SNS topic, the SQS queue, IAM roles, log
groups, EventBridge rules and the KMS alias. It prints "nothing left" and exits 0, or lists each
leftover and fails with ``LeftoversFound``. It talks to whatever AWS the environment points at
(the local stack for ``TARGET=local``), like every other tool of the project.

A KMS key itself is never deleted at once (AWS waits 7 to 30 days): a key pending deletion does
not count, its alias does.

S3 bucket and IAM role names are global to the account while the rest is regional, and the roots
end those names with their region: a bucket or role whose name ends with another region is that
region's deployment (``make destroy`` runs per ``AWS_REGION``), not a leftover of this one.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from settings.cli import CliError, run_cli
from settings.logs import get_logger

log = get_logger("leftovers")

DEFAULT_PREFIX = "scones"
# Terraform's rule for name_prefix (terraform/base/variables.tf). The prefix goes into the list
# calls' filters, whose constraints are narrower than a name's: SageMaker's NameContains takes
# letters, digits and hyphens only ([a-zA-Z0-9-]+), CloudWatch Logs' logGroupNamePrefix no space.
PREFIX = re.compile(r"[a-z][a-z0-9-]{1,18}[a-z0-9]")


class LeftoversFound(CliError):
    """Resources of the project still exist after the destroy."""


class AwsUnreachable(CliError):
    """The AWS APIs (or the local stack) could not be asked."""


class InvalidPrefix(CliError):
    """``--prefix`` is no name_prefix Terraform accepts, so no resource of the project has it."""


@dataclass(frozen=True)
class Leftover:
    kind: str
    name: str


def _pages(client, operation: str, key: str, **kwargs) -> Iterator[dict]:
    """Every item under ``key`` of every page of ``operation``."""
    if client.can_paginate(operation):
        for page in client.get_paginator(operation).paginate(**kwargs):
            yield from page.get(key, [])
    else:
        yield from getattr(client, operation)(**kwargs).get(key, [])


def _sagemaker(prefix: str) -> Iterator[Leftover]:
    sagemaker = boto3.client("sagemaker")
    listings = (
        ("SageMaker endpoint", "list_endpoints", "Endpoints", "EndpointName"),
        (
            "SageMaker endpoint config",
            "list_endpoint_configs",
            "EndpointConfigs",
            "EndpointConfigName",
        ),
        ("SageMaker model", "list_models", "Models", "ModelName"),
        (
            "SageMaker model package group",
            "list_model_package_groups",
            "ModelPackageGroupSummaryList",
            "ModelPackageGroupName",
        ),
    )
    for kind, operation, key, field in listings:
        for item in _pages(sagemaker, operation, key, NameContains=prefix):
            if item[field].startswith(f"{prefix}-"):
                yield Leftover(kind, item[field])


def _autoscaling(prefix: str) -> Iterator[Leftover]:
    client = boto3.client("application-autoscaling")
    for target in _pages(
        client, "describe_scalable_targets", "ScalableTargets", ServiceNamespace="sagemaker"
    ):
        if target["ResourceId"].startswith(f"endpoint/{prefix}-"):
            yield Leftover("autoscaling target", target["ResourceId"])


def _named(
    kind: str, service: str, operation: str, key: str, name: Callable[[dict], str], **kwargs
) -> Callable[[str], Iterator[Leftover]]:
    def find(prefix: str) -> Iterator[Leftover]:
        for item in _pages(boto3.client(service), operation, key, **kwargs):
            if name(item).startswith(f"{prefix}-"):
                yield Leftover(kind, name(item))

    return find


def _queues(prefix: str) -> Iterator[Leftover]:
    urls = boto3.client("sqs").list_queues(QueueNamePrefix=f"{prefix}-").get("QueueUrls", [])
    for url in urls:
        yield Leftover("SQS queue", url.rsplit("/", 1)[-1])


def _log_groups(prefix: str) -> Iterator[Leftover]:
    logs = boto3.client("logs")
    for group_prefix in (
        f"/aws/lambda/{prefix}-",
        f"/aws/vendedlogs/states/{prefix}-",
        f"/aws/sagemaker/Endpoints/{prefix}-",
    ):
        for group in _pages(
            logs, "describe_log_groups", "logGroups", logGroupNamePrefix=group_prefix
        ):
            yield Leftover("CloudWatch log group", group["logGroupName"])


def _kms_aliases(prefix: str) -> Iterator[Leftover]:
    for alias in _pages(boto3.client("kms"), "list_aliases", "Aliases"):
        if alias["AliasName"] == f"alias/{prefix}" or alias["AliasName"].startswith(
            f"alias/{prefix}-"
        ):
            yield Leftover("KMS alias", alias["AliasName"])


FINDERS: tuple[Callable[[str], Iterable[Leftover]], ...] = (
    _sagemaker,
    _autoscaling,
    _named(
        "Lambda function",
        "lambda",
        "list_functions",
        "Functions",
        lambda f: f["FunctionName"],
    ),
    _named(
        "state machine",
        "stepfunctions",
        "list_state_machines",
        "stateMachines",
        lambda m: m["name"],
    ),
    _named("S3 bucket", "s3", "list_buckets", "Buckets", lambda b: b["Name"]),
    _named("SNS topic", "sns", "list_topics", "Topics", lambda t: t["TopicArn"].rsplit(":", 1)[-1]),
    _queues,
    _named("IAM role", "iam", "list_roles", "Roles", lambda r: r["RoleName"]),
    _log_groups,
    _named("EventBridge rule", "events", "list_rules", "Rules", lambda r: r["Name"]),
    _kms_aliases,
)


# Kinds listed account-wide whatever the region asked; the roots end their names with the region.
GLOBAL_KINDS = ("S3 bucket", "IAM role")


def _other_regions() -> set[str]:
    """Every region botocore knows, in every partition, except the one asked."""
    session = boto3.session.Session()
    regions = {
        region
        for partition in session.get_available_partitions()
        for region in session.get_available_regions("s3", partition_name=partition)
    }
    return regions - {session.region_name}


def _of_another_region(item: Leftover, others: set[str]) -> bool:
    return item.kind in GLOBAL_KINDS and any(item.name.endswith(f"-{r}") for r in others)


def find_leftovers(prefix: str = DEFAULT_PREFIX) -> list[Leftover]:
    """Every resource whose name carries ``<prefix>-`` (the KMS alias: ``alias/<prefix>``)."""
    if not PREFIX.fullmatch(prefix):
        raise InvalidPrefix(
            f"{prefix!r} is not a name_prefix: 3-20 lowercase letters, digits and hyphens,"
            " starting with a letter and not ending with a hyphen"
        )
    found: list[Leftover] = []
    others = _other_regions()
    try:
        for finder in FINDERS:
            found.extend(item for item in finder(prefix) if not _of_another_region(item, others))
    except (BotoCoreError, ClientError) as err:
        raise AwsUnreachable(f"could not list the project's resources: {err}") from None
    log.info("checked", extra={"fields": {"prefix": prefix, "leftovers": len(found)}})
    return found


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m settings.leftovers", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--prefix",
        default=DEFAULT_PREFIX,
        help=f"name prefix of the project's resources (Terraform name_prefix, default {DEFAULT_PREFIX})",
    )
    args = parser.parse_args()
    leftovers = find_leftovers(args.prefix)
    if leftovers:
        for item in leftovers:
            print(f"left over: {item.kind}: {item.name}")
        raise LeftoversFound(
            f"{len(leftovers)} resource(s) named {args.prefix}-* still exist (listed above)"
        )
    print(f"nothing left: no resource named {args.prefix}-* exists any more")
    return 0


if __name__ == "__main__":
    run_cli(main)
