"""serializeImageData: read an image from S3 and hand it on as base64.

Event ``{"s3_bucket", "s3_key"}`` (an ``image_data`` field, as in the original project's test
events, is ignored). Returns ``{"image_data", "s3_bucket", "s3_key", "inferences": []}``.
"""

from __future__ import annotations

import base64
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, HTTPClientError

from lambdas.errors import TRANSIENT_STATUSES, ImageNotFound, ImageTooLarge, ImageUnavailable
from lambdas.events import MAX_IMAGE_BYTES, check_image, require_location, require_object

# The SDK retries S3's throttling (SlowDown), 5xx, dropped connections and timeouts itself
# (standard mode, 3 attempts in all); what still fails is ``ImageUnavailable``, which the state
# machines retry with backoff (a longer outage than the SDK's attempts span). A GetObject of at
# most 150 KiB answers in milliseconds, so 1 s to connect and 2 s to read are generous, and three
# attempts that all time out (9 s, plus up to 1 + 2 s of backoff with the runtime's botocore: the
# zip carries none, and older ones back off that long) still end before the function's 15 s
# timeout: the handler reports the error, Lambda does not cut it.
S3_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=1,
    read_timeout=2,
)

# Created once per container, reused by every invocation it serves.
s3 = boto3.client("s3", config=S3_CONFIG)

# Without s3:ListBucket, S3 answers 403 instead of 404 for a missing key: both mean "not there".
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "404", "AccessDenied", "403"}
# Error codes that say "try again later" (the ones the SDK's standard mode retries).
_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout"}


def handler(event: Any, context: Any = None) -> dict:
    bucket, key = require_location(require_object(event))
    where = f"s3://{bucket}/{key}"
    try:
        data = read_image(bucket, key, where)
    except ClientError as err:
        raise s3_error(err, where) from None
    except (ConnectionError, HTTPClientError) as err:  # refused, dropped, timed out
        raise ImageUnavailable(f"{where} could not be read: {err}") from None
    except BotoCoreError as err:
        raise ImageNotFound(f"{where} cannot be read: {err}") from None
    return {
        "image_data": base64.b64encode(data).decode("ascii"),
        "s3_bucket": bucket,
        "s3_key": key,
        "inferences": [],
    }


def read_image(bucket: str, key: str, where: str) -> bytes:
    """The object's bytes, checked to be a PNG or JPEG of at most ``MAX_IMAGE_BYTES``."""
    response = s3.get_object(Bucket=bucket, Key=key)
    if response.get("ContentLength", 0) > MAX_IMAGE_BYTES:
        response["Body"].close()
        raise ImageTooLarge(
            f"{where} is {response['ContentLength']} bytes, the limit is {MAX_IMAGE_BYTES}"
        )
    with response["Body"] as body:
        return check_image(body.read(MAX_IMAGE_BYTES + 1), where)


def s3_error(err: ClientError, where: str) -> Exception:
    """The named error of a GetObject error answer."""
    error = err.response.get("Error", {})
    code = error.get("Code", "")
    status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in _NOT_FOUND_CODES:
        return ImageNotFound(f"{where} does not exist or may not be read")
    detail = f"{code}: {error.get('Message', '')}"
    if code in _TRANSIENT_CODES or status in TRANSIENT_STATUSES:
        return ImageUnavailable(f"{where} could not be read: {detail}")
    return ImageNotFound(f"{where} cannot be read: {detail}")  # e.g. archived (InvalidObjectState)
