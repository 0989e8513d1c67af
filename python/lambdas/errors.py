"""The named errors of the workflow.

Lambda reports an unhandled exception with ``errorType`` = the exception's class name, and Step
Functions uses that as the error name that ``Retry`` and ``Catch`` match. So each failure the
workflow distinguishes is a class of exactly that name, and the state machines in ``asl/`` list
these names. Only ``ImageUnavailable`` and ``EndpointThrottled`` are worth retrying; every
other one is final.
"""

from __future__ import annotations

# HTTP statuses of an AWS error answer that mean "try again later" (those the SDK's standard
# retry mode retries, also for answers without an error code, such as a gateway's 502): the
# handlers turn them into ``ImageUnavailable`` or ``EndpointThrottled``.
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


class WorkflowError(Exception):
    """Base of every error a handler raises on purpose (never raised itself)."""


class InvalidInput(WorkflowError):
    """The event is not an object, or a field is missing, mistyped or out of range."""


class ImageNotFound(WorkflowError):
    """The S3 object (or its bucket) does not exist or may not be read."""


class ImageUnavailable(WorkflowError):
    """S3 throttled, failed or was unreachable while the image was read: worth a retry with backoff."""


class ImageTooLarge(WorkflowError):
    """The image exceeds ``MAX_IMAGE_BYTES``, so its base64 form would not fit a state payload."""


class UnsupportedImageFormat(WorkflowError):
    """The bytes are neither PNG nor JPEG (judged by their magic bytes, not by the key's suffix)."""


class EndpointError(WorkflowError):
    """The endpoint failed, or answered something that is not a probability list of the labels."""


class EndpointThrottled(WorkflowError):
    """The endpoint throttled or was briefly unreachable: worth a retry with backoff."""


class LowConfidence(WorkflowError):
    """The top probability is below the threshold: a person should look at the image."""


class ConfigurationError(WorkflowError):
    """The function's environment (ENDPOINT_NAME, CLASS_LABELS, THRESHOLD) is missing or invalid."""
