"""serializeImageData: read an image from S3 and hand it on as base64.

Event ``{"s3_bucket", "s3_key"}`` (an ``image_data`` field, as in the original project's test
events, is ignored). Returns ``{"image_data", "s3_bucket", "s3_key", "inferences": []}``.
"""

from __future__ import annotations

import base64
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from lambdas.errors import ImageNotFound, ImageTooLarge
from lambdas.events import MAX_IMAGE_BYTES, check_image, require_location, require_object

# The state machine retries this step only for Lambda's own service errors, so the SDK retries
# S3's throttling (SlowDown), 5xx, dropped connections and timeouts itself (standard mode, 3
# attempts in all). A GetObject of at most 150 KiB answers in milliseconds, so 1 s to connect
# and 2 s to read are generous, and three attempts that all time out (9 s plus backoff) still
# end before the function's 10 s timeout: the handler reports the error, Lambda does not cut it.
S3_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=1,
    read_timeout=2,
)

# Created once per container, reused by every invocation it serves.
s3 = boto3.client("s3", config=S3_CONFIG)

# Without s3:ListBucket, S3 answers 403 instead of 404 for a missing key: both mean "not there".
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "404", "AccessDenied", "403"}


def handler(event: Any, context: Any = None) -> dict:
    bucket, key = require_location(require_object(event))
    where = f"s3://{bucket}/{key}"
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _NOT_FOUND_CODES:
            raise ImageNotFound(f"{where} does not exist or may not be read") from None
        raise
    if response.get("ContentLength", 0) > MAX_IMAGE_BYTES:
        response["Body"].close()
        raise ImageTooLarge(
            f"{where} is {response['ContentLength']} bytes, the limit is {MAX_IMAGE_BYTES}"
        )
    with response["Body"] as body:
        data = check_image(body.read(MAX_IMAGE_BYTES + 1), where)
    return {
        "image_data": base64.b64encode(data).decode("ascii"),
        "s3_bucket": bucket,
        "s3_key": key,
        "inferences": [],
    }
