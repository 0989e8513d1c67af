"""``python -m settings.registry_purge``: delete the model packages of the project's registry group.

SageMaker refuses to delete a model package group that still holds model packages, and the
packages are registered by ``make train``, not by Terraform. ``make destroy`` therefore runs this
between destroying terraform/serving and terraform/base: it deletes every package of the group
named by the base outputs (``model_package_group_name``), so that ``terraform destroy`` can
remove the group. The artifacts the packages point at live in the model bucket and go with it.
"""

from __future__ import annotations

import argparse
from typing import Sequence

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from settings.cli import CliError, run_cli
from settings.logs import get_logger
from settings.outputs import MissingOutputs, outputs

log = get_logger("registry_purge")


class PurgeFailed(CliError):
    """A model package could not be listed or deleted."""


def _missing_group(err: ClientError) -> bool:
    """SageMaker answers ValidationException (or ResourceNotFound) for a group that is gone."""
    code = err.response.get("Error", {}).get("Code", "")
    message = err.response.get("Error", {}).get("Message", "")
    return code == "ResourceNotFound" or (
        code == "ValidationException" and "does not exist" in message
    )


def purge(group: str) -> list[str]:
    """Delete every model package (any approval status) of ``group``; return their ARNs."""
    sagemaker = boto3.client("sagemaker")
    deleted = []
    try:
        paginator = sagemaker.get_paginator("list_model_packages")
        arns = [
            package["ModelPackageArn"]
            for page in paginator.paginate(ModelPackageGroupName=group)
            for package in page.get("ModelPackageSummaryList", [])
        ]
        for arn in arns:
            sagemaker.delete_model_package(ModelPackageName=arn)
            deleted.append(arn)
            log.info("deleted", extra={"fields": {"model_package": arn}})
    except ClientError as err:
        if _missing_group(err):
            return deleted
        raise PurgeFailed(f"model package group {group}: {err}") from None
    except BotoCoreError as err:
        raise PurgeFailed(f"model package group {group}: {err}") from None
    return deleted


def main(argv: Sequence[str] | None = None) -> int:
    argparse.ArgumentParser(
        prog="python -m settings.registry_purge", description=__doc__.splitlines()[0]
    ).parse_args(argv)
    try:
        group = outputs("base")["model_package_group_name"]
    except MissingOutputs as err:
        print(f"registry: no model package group to empty ({err})")
        return 0
    deleted = purge(group)
    print(f"registry: deleted {len(deleted)} model package(s) of {group}")
    return 0


if __name__ == "__main__":
    run_cli(main)
