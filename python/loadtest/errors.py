"""The named errors of the load test: each says what is wrong and what to do about it."""

from __future__ import annotations

from settings import CliError


class FaultsNotSupported(CliError):
    """Fault injection is a feature of the local stack; a real endpoint cannot be told to fail."""


class TooManyExecutions(CliError):
    """The run would start more workflow runs than ``--max-executions`` allows."""


class ConfirmationRequired(CliError):
    """An AWS run above the cost threshold needs ``--yes`` (or a terminal to answer the prompt)."""


class Declined(CliError):
    """The user answered no to the cost confirmation."""


class InvalidArguments(CliError):
    """A rate, duration, count or fraction outside its allowed range."""


class NoTestImages(CliError):
    """The data bucket has no usable ``test.lst`` (run ``make data``)."""


class DataBucketNotFound(CliError):
    """The data bucket named by the Terraform outputs does not exist (destroyed, other TARGET)."""


class BatchTooLarge(CliError):
    """The batch's input or output would exceed Step Functions' 256 KiB state data limit."""


class UnknownInstancePrice(CliError):
    """The endpoint's instance type is not in the price table, so no cost can be estimated."""


class WorkflowNotDeployed(CliError):
    """The state machine or endpoint named by the Terraform outputs does not exist."""


class AwsUnreachable(CliError):
    """The AWS endpoint (or the local stack) does not answer."""


class AwsNotConfigured(CliError):
    """No region or no credentials: the AWS SDK cannot make a call."""


class LocalStackControlError(CliError):
    """A ``/_local/`` control call of the local stack failed."""


class RunFailed(CliError):
    """The run finished but lost executions or exceeded ``--max-error-rate``.

    Exit code 1 (not 2) so that scripts can tell "the system under load misbehaved" from "the
    command was used wrongly".
    """

    exit_code = 1


class ResultsIncomplete(CliError):
    """The executions ran, but a later phase (histories, capture check, the local stack's
    counters) failed: the records gathered so far were written, and the summary's
    ``failed_phases`` names what is missing.

    Exit code 1, like ``RunFailed``: the run did start executions.
    """

    exit_code = 1


class Interrupted(CliError):
    """Ctrl-C (or SIGTERM) once executions were being started: no more are started or waited
    for; what had started is described once and written to the results files (executions still
    running are left running and count as lost; images never started end
    ``NotStarted.Interrupted``). Exit code 130, as for any interrupted command.
    """

    exit_code = 130


class AwsCallFailed(CliError):
    """An AWS call failed before any execution started (access denied, throttled, ...)."""
