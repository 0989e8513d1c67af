"""The stack's HTTP header parser gives what ``http.client.parse_headers`` gives."""

from __future__ import annotations

import email.parser
import http.client
import io

import pytest

from local_aws.speedups import fast_parse_headers

BLOCKS = [
    b"Host: x\r\nContent-Type: application/json\r\nX-Amz-Target: A.B\r\nContent-Length: 5\r\n\r\n",
    b"Host: x\r\nX-Dup: 1\r\nX-Dup: 2\r\nEmpty:\r\nSpaces:   v  \r\n\r\n",
    b"Host: x\r\nFolded: a\r\n b\r\n\r\n",
    b"Host: x\r\nno colon here\r\n\r\n",
    b"Host: x\nAuthorization: AWS4-HMAC-SHA256 Credential=a/b/c, Signature=d\n\n",
    b"Caf\xe9: \xe9t\xe9\r\n\r\n",
    b"\r\n",
    b"",
]


def email_parse_headers(fp: io.BytesIO) -> http.client.HTTPMessage:
    """What ``http.client.parse_headers`` does (the stack replaces that function)."""
    text = b"".join(http.client._read_headers(fp)).decode("iso-8859-1")
    return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)


@pytest.mark.parametrize("block", BLOCKS)
def test_same_headers_payload_and_stream_position_as_the_email_parser(block):
    body = b"the body"
    expected_stream, fast_stream = io.BytesIO(block + body), io.BytesIO(block + body)
    expected = email_parse_headers(expected_stream)
    fast = fast_parse_headers(fast_stream)
    assert type(fast) is type(expected)
    assert fast.items() == expected.items()
    assert fast.get_payload() == expected.get_payload()
    assert fast_stream.read() == expected_stream.read()  # the body is left for the request


def test_limits_are_those_of_http_client():
    with pytest.raises(http.client.LineTooLong):
        fast_parse_headers(io.BytesIO(b"X: " + b"a" * 70000 + b"\r\n\r\n"))
    too_many = b"".join(b"X%d: 1\r\n" % n for n in range(120)) + b"\r\n"
    with pytest.raises(http.client.HTTPException, match="more than 100 headers"):
        fast_parse_headers(io.BytesIO(too_many))
