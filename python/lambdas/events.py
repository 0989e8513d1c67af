"""Input checking shared by the handlers: every malformed event becomes a named error.

Handlers receive whatever a caller or a state machine sends. Reading a field through these
functions instead of ``event["x"]`` is what guarantees that a bad event ends as ``InvalidInput``
(or another named error), never as a ``KeyError``/``TypeError`` traceback.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from typing import Any

from lambdas.errors import ImageTooLarge, InvalidInput, UnsupportedImageFormat

# 150 KiB of image is 200 KiB of base64: with the other fields it stays well under the 256 KiB
# that Step Functions allows for a state's input or output.
MAX_IMAGE_BYTES = 150 * 1024
MAX_BASE64_CHARS = 4 * math.ceil(MAX_IMAGE_BYTES / 3)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
JPEG_MAGIC = b"\xff\xd8\xff"

# S3 rules: bucket names are 3-63 lower-case letters, digits, dots and hyphens, begin and end
# with a letter or digit, have no two adjacent dots and are not IP addresses; keys are 1-1024
# bytes of UTF-8. Checked here so that a malformed name is the caller's InvalidInput, never an
# S3 error answer or botocore's own validation error.
_BUCKET_RE = re.compile(r"(?!\d+\.\d+\.\d+\.\d+$)(?!.*\.\.)[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
MAX_KEY_BYTES = 1024


def require_object(event: Any) -> dict:
    if not isinstance(event, dict):
        raise InvalidInput(f"the event must be a JSON object, not {_json_type(event)}")
    return event


def require_str(event: dict, name: str) -> str:
    if name not in event:
        raise InvalidInput(f"field {name!r} is missing")
    value = event[name]
    if not isinstance(value, str):
        raise InvalidInput(f"field {name!r} must be a string, not {_json_type(value)}")
    if not value:
        raise InvalidInput(f"field {name!r} is empty")
    return value


def require_location(event: dict) -> tuple[str, str]:
    """``(s3_bucket, s3_key)`` of the event, checked against S3's naming rules."""
    bucket = require_str(event, "s3_bucket")
    key = require_str(event, "s3_key")
    if not _BUCKET_RE.fullmatch(bucket):
        raise InvalidInput(f"s3_bucket {_shorten(bucket)!r} is not a valid bucket name")
    try:
        key_bytes = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidInput("s3_key is not valid Unicode text") from None
    if key_bytes > MAX_KEY_BYTES:
        raise InvalidInput(f"s3_key is {key_bytes} bytes long, S3 allows {MAX_KEY_BYTES}")
    return bucket, key


def require_probability(event: dict, name: str) -> float:
    if name not in event:
        raise InvalidInput(f"field {name!r} is missing")
    value = event[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"field {name!r} must be a number, not {_json_type(value)}")
    if not 0.0 <= value <= 1.0:  # also false for NaN and infinities
        raise InvalidInput(f"field {name!r} must lie in [0, 1], not {value!r}")
    return float(value)


def check_image(data: bytes, where: str) -> bytes:
    """Raise unless ``data`` is a PNG or JPEG of at most ``MAX_IMAGE_BYTES``."""
    if len(data) > MAX_IMAGE_BYTES:
        raise ImageTooLarge(f"{where} is {len(data)} bytes, the limit is {MAX_IMAGE_BYTES}")
    if not (data.startswith(PNG_MAGIC) or data.startswith(JPEG_MAGIC)):
        raise UnsupportedImageFormat(f"{where} is not a PNG or JPEG image")
    return data


def decode_image(event: dict) -> bytes:
    """The image bytes of ``event["image_data"]`` (strict base64), checked by ``check_image``."""
    text = require_str(event, "image_data")
    if len(text) > MAX_BASE64_CHARS:
        raise ImageTooLarge(
            f"image_data is {len(text)} base64 characters, the limit is {MAX_BASE64_CHARS}"
        )
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error) as err:
        raise InvalidInput(f"image_data is not valid base64: {err}") from None
    return check_image(data, "image_data")


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "a number"
    return names.get(type(value), type(value).__name__)


def _shorten(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "..."
