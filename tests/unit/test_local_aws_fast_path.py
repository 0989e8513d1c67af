"""The fast paths read the caller (account, region, service) as moto's dispatch does."""

from __future__ import annotations

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from local_aws.fast_path import caller_of


def signed_environ(access_key: str, region: str, service: str) -> dict:
    """The WSGI environ of a request signed by botocore's own SigV4 signer."""
    request = botocore.awsrequest.AWSRequest(
        method="POST", url="http://127.0.0.1:4566/", data=b"{}"
    )
    credentials = botocore.credentials.Credentials(access_key, "secret")
    botocore.auth.SigV4Auth(credentials, service, region).add_auth(request)
    return {"HTTP_AUTHORIZATION": request.headers["Authorization"]}


@pytest.mark.parametrize("service", ["s3", "states", "sagemaker"])
def test_region_and_service_come_from_the_credential_scope(service, monkeypatch):
    monkeypatch.delenv("MOTO_ACCOUNT_ID", raising=False)
    caller = caller_of(signed_environ("test", "eu-west-1", service))
    assert caller is not None
    assert (caller.region, caller.service) == ("eu-west-1", service)
    assert caller.account == "123456789012"  # moto's account for an unknown access key


def test_moto_account_id_overrides_the_access_key_account(monkeypatch):
    monkeypatch.setenv("MOTO_ACCOUNT_ID", "111122223333")
    caller = caller_of(signed_environ("test", "us-east-1", "s3"))
    assert caller is not None and caller.account == "111122223333"


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer token", "AWS4-HMAC-SHA256 Credential=test/20261127/us-east-1"],
)
def test_a_request_without_a_whole_credential_scope_has_no_caller(authorization):
    environ = {} if authorization is None else {"HTTP_AUTHORIZATION": authorization}
    assert caller_of(environ) is None
