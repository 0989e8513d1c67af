"""S3 ``GetObject`` of a whole object answered from moto's backend, without Flask or moto's dispatch.

Every Step Functions execution of the workflow reads its image from S3 (the serialize Lambda):
through werkzeug's request object, Flask, moto's ``S3Response`` setup (which parses the body,
the query string and every header) and its key dispatch, one small ``GetObject`` was about
3 ms of the stack's single GIL, a quarter of the stack's time per execution at concurrency 16
(py-spy, ``bench/bench_stack.py``).

Here the plain case runs the same steps as moto's ``key_response`` -> ``get_object`` on the same
backend objects: the bucket policy decides first (a ``Deny`` is left to moto, which answers it),
then the object's stored headers, its version id, its checksum when the client asks for it
(``x-amz-checksum-mode``, which botocore sends by default), its metadata, and the access-log
entry moto writes when the bucket has logging on. Anything else goes to moto, which then
answers with its exact behaviour and errors: another method, a query string (versions, ranges of
parts, response header overrides, ACLs, tags...), a header outside the plain set (ranges,
conditional requests, customer-provided keys, CORS origins, an account override), a key with
characters that need URL decoding, a virtual-hosted bucket, an unknown bucket or key, an archived
object, an empty one, an unsigned request. A functional test compares both answers, headers included.
"""

from __future__ import annotations

import re
from typing import Any

from local_aws.fast_path import Answer, caller_of

# Request headers of a plain SDK GetObject (WSGI names); any other header goes to moto.
_PLAIN_HEADERS = frozenset(
    {
        "HTTP_HOST",
        "HTTP_USER_AGENT",
        "HTTP_ACCEPT",
        "HTTP_ACCEPT_ENCODING",
        "HTTP_CONNECTION",
        "HTTP_AUTHORIZATION",
        "HTTP_X_AMZ_DATE",
        "HTTP_X_AMZ_CONTENT_SHA256",
        "HTTP_X_AMZ_SECURITY_TOKEN",
        "HTTP_X_AMZ_CHECKSUM_MODE",
        "HTTP_AMZ_SDK_INVOCATION_ID",
        "HTTP_AMZ_SDK_REQUEST",
        "HTTP_CONTENT_LENGTH",
    }
)
# /bucket/key with nothing that URL decoding, moto's key parsing or a virtual host could change.
_PLAIN_PATH = re.compile(r"/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/([A-Za-z0-9._~/-]+)")
_LOOPBACK_HOST = re.compile(r"(127\.0\.0\.1|localhost)(:\d+)?")


class _LoggedRequest:
    """What moto's ``log_incoming_request`` reads of a request."""

    def __init__(self, environ: dict, path: str) -> None:
        self.method = "GET"
        self.url = f"http://{environ['HTTP_HOST']}{path}"
        self.headers = {"User-Agent": environ.get("HTTP_USER_AGENT")}


def answer_directly(environ: dict) -> Answer | None:
    """A plain ``GetObject`` answered as moto answers it; ``None`` leaves the request to moto."""
    if environ.get("REQUEST_METHOD") != "GET" or environ.get("QUERY_STRING"):
        return None
    path = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    match = _PLAIN_PATH.fullmatch(path)
    if match is None or not _LOOPBACK_HOST.fullmatch(environ.get("HTTP_HOST", "")):
        return None
    if any(name.startswith("HTTP_") and name not in _PLAIN_HEADERS for name in environ):
        return None
    if int(environ.get("CONTENT_LENGTH") or 0):
        return None
    caller = caller_of(environ)
    if caller is None or caller.service != "s3":
        return None
    from moto.iam.access_control import PermissionResult
    from moto.s3.models import s3_backends
    from moto.core.mime_types import APP_XML
    from moto.s3.utils import ARCHIVE_STORAGE_CLASSES
    from moto.utilities.aws_headers import gen_amzn_requestid_long
    from moto.utilities.utils import get_partition

    backend = s3_backends[caller.account][get_partition(caller.region)]
    bucket_name, key_name = match.groups()
    bucket = backend.buckets.get(bucket_name)
    if bucket is None:
        return None
    key: Any = backend.get_object(bucket_name, key_name)
    if key is None or key.storage_class in ARCHIVE_STORAGE_CLASSES or not key.size:
        return None
    resource = f"arn:{bucket.partition}:s3:::{bucket_name}/{key_name}"
    if bucket.get_permission("s3:GetObject", resource) == PermissionResult.DENIED:
        return None
    backend.log_incoming_request(_LoggedRequest(environ, path), bucket_name)

    headers: dict[str, Any] = {}
    if key.version_id != "null":
        headers["x-amz-version-id"] = key.version_id
    headers.update(key.response_dict)
    if environ.get("HTTP_X_AMZ_CHECKSUM_MODE") == "ENABLED" and key.checksum_algorithm:
        checksum = key.checksum_value
        if key.checksum_type == "COMPOSITE":
            checksum = f"{key.checksum_value}-{key.checksum_parts}"
        headers[f"x-amz-checksum-{key.checksum_algorithm.lower()}"] = checksum
        if key.checksum_type:
            headers["x-amz-checksum-type"] = key.checksum_type
    headers.update(key.metadata)
    headers["Accept-Ranges"] = "bytes"
    if not any(name.lower() == "content-type" for name in headers):
        headers["content-type"] = APP_XML  # as moto's S3 responses default a body's type
    headers["Access-Control-Allow-Origin"] = "*"  # moto's server (flask-cors) adds it to all
    gen_amzn_requestid_long(headers)
    headers_list = [(name, str(value)) for name, value in headers.items()]
    return Answer("s3:GetObject", 200, headers_list, key.value)
