"""Project-wide settings: which AWS the code talks to, Terraform outputs, logging, CLI errors.

The Makefile decides the target (``TARGET=local`` or ``TARGET=aws``) and exports the matching
environment: for the local stack ``AWS_ENDPOINT_URL`` plus dummy credentials, for AWS nothing
but what the standard credential chain already provides. boto3 honours ``AWS_ENDPOINT_URL`` on
its own, so no code path below this package (and none in a Lambda) knows which target it runs on.
"""

from settings.cli import CliError, answered_yes, run_cli
from settings.logs import get_logger
from settings.outputs import MissingOutputs, outputs, repo_root

__all__ = [
    "CliError",
    "MissingOutputs",
    "answered_yes",
    "get_logger",
    "outputs",
    "repo_root",
    "run_cli",
]
