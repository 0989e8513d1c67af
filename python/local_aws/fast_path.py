"""What the stack's fast paths share: who calls, and the answer given instead of moto's.

A fast path (``s3_objects``, ``stepfunctions``, ``sagemaker_runtime``) answers a request from
moto's backend without moto's dispatch. Like that dispatch, it picks the backend of the
caller's account and region, which the SigV4 ``Authorization`` header names in its credential
scope, ``Credential=<access key>/<date>/<region>/<service>/aws4_request`` (signatures are not
checked, as in moto): the account is ``MOTO_ACCOUNT_ID`` when set, else the one moto derives
from the access key.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import NamedTuple

_CREDENTIAL = re.compile(r"Credential=([^/]+)/[^/]+/([^/]+)/([^/]+)/")


@dataclass(frozen=True)
class Caller:
    account: str
    region: str
    service: str  # the SigV4 signing name: "s3", "states", "sagemaker", ...


class Answer(NamedTuple):
    """A whole HTTP answer; ``operation`` (e.g. ``s3:GetObject``) is counted in
    ``GET /_local/stats`` under ``direct_answers``."""

    operation: str
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def caller_of(environ: dict) -> Caller | None:
    """The caller of a SigV4-signed WSGI request; ``None`` when it is not signed so."""
    match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match is None:
        return None
    from moto.iam.models import get_account_id_from

    access_key, region, service = match.groups()
    return Caller(
        os.environ.get("MOTO_ACCOUNT_ID") or get_account_id_from(access_key), region, service
    )
