"""The stack's one-pass WSGI environ is the one werkzeug and moto build, header by header."""

from __future__ import annotations

import io
import sys
from types import SimpleNamespace

import pytest
from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.serving import DechunkedInput

from local_aws.http_server import KeepAliveRequestHandler
from local_aws.speedups import fast_parse_headers

HEADER_BLOCKS = [
    b"Host: x\r\nContent-Type: application/json\r\nX-Amz-Target: A.B\r\nContent-Length: 5\r\n\r\n",
    b"Host: x\r\nX-Dup: 1\r\nX-Dup: 2\r\nEmpty:\r\nSpaces:   v  \r\n\r\n",
    b"Host: x\r\nFolded: a\r\n b\r\n\r\n",
    b"Host: x\r\nTransfer-Encoding: chunked\r\n\r\n",
    b"Host: x\r\nX_Under: dropped\r\nx-amz-meta-a_b: 1\r\nX-Amz-Meta-a_b: 2\r\n\r\n",
    b"Host: x\r\nx-amz-meta-a-b: dashed\r\nx-amz-meta-a_b: shadowed\r\n\r\n",
    b"Content-Type: a\r\nContent-Type: b\r\nContent_Length: 3\r\n\r\n",
    b"Caf\xe9: \xe9t\xe9\r\n\r\n",
    b"\r\n",
]
PATHS = [
    "/",
    "/endpoints/my-endpoint/invocations",
    "/bucket/k%20ey%C3%A9?list-type=2&prefix=a%2Fb",
    "//double/slash?x=1",
    "http://example.com:4566/absolute?q",
]


def handler(cls: type, path: str, block: bytes) -> MotoRequestHandler:
    """A request handler as ``parse_request`` leaves it, without a socket."""
    instance = cls.__new__(cls)
    instance.command, instance.path, instance.request_version = "POST", path, "HTTP/1.1"
    instance.headers = fast_parse_headers(io.BytesIO(block))
    instance.rfile = io.BytesIO(b"")
    instance.connection = None
    instance.client_address = ("127.0.0.1", 50123)
    instance.server = SimpleNamespace(
        ssl_context=None, multithread=True, multiprocess=False, server_address=("127.0.0.1", 4566)
    )
    return instance


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("block", HEADER_BLOCKS)
def test_same_environ_as_werkzeug_and_moto(path, block):
    expected = handler(MotoRequestHandler, path, block).make_environ()
    fast = handler(KeepAliveRequestHandler, path, block).make_environ()
    expected_input, fast_input = expected.pop("wsgi.input"), fast.pop("wsgi.input")
    assert fast == expected
    assert type(fast_input) is type(expected_input)
    assert fast["wsgi.errors"] is sys.stderr


def test_chunked_bodies_are_dechunked():
    environ = handler(KeepAliveRequestHandler, "/", HEADER_BLOCKS[3]).make_environ()
    assert isinstance(environ["wsgi.input"], DechunkedInput)
    assert environ["wsgi.input_terminated"] is True
