"""moto's HTTP request handler with HTTP/1.1 keep-alive.

werkzeug's development server (what ``moto_server`` runs) answers every request with
``Connection: close``: each boto3 call then opens a new TCP connection, and the server's single
accept loop must start a new thread for it. Under load (a Step Functions execution makes about ten
calls: the interpreter's Lambda invokes, the handlers' S3 and SageMaker calls, the client's polls)
that accept loop, contending for the GIL with the busy threads, became the bottleneck: 16 concurrent
executions ran at 1.3 per second.

This handler keeps connections open. It reuses werkzeug's request parsing (``make_environ``,
including moto's preservation of underscored header names) and replaces only ``run_wsgi``: the
request body is bounded by ``Content-Length`` (or de-chunked) and drained after the application
returns, so the next request on the connection starts at the right byte, and the response is
buffered to send an exact ``Content-Length``. Idle connections close after ``timeout`` seconds.

``make_environ`` builds the same WSGI environ as werkzeug's followed by moto's (which walk the
headers three times through the ``email`` package's accessors) in one pass over the raw header
lines: 11% of the stack's CPU per ``InvokeEndpoint`` before. A unit test compares both.
"""

from __future__ import annotations

import sys
import traceback
from typing import Any
from urllib.parse import unquote, urlsplit

from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY
from moto.moto_server.werkzeug_app import MotoRequestHandler
from werkzeug.http import parse_set_header
from werkzeug.serving import DechunkedInput
from werkzeug.wsgi import LimitedStream

NO_BODY_STATUSES = {204, 304}


class KeepAliveRequestHandler(MotoRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300  # seconds an idle keep-alive connection stays open
    # Headers and body go out in one write, and without Nagle's algorithm: a small second write
    # would otherwise wait for the client's delayed ACK (40 ms) on a kept-alive connection.
    disable_nagle_algorithm = True

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        """No access log line per request (quiet by default)."""

    def log_error(self, format: str, *args: Any) -> None:
        """An idle keep-alive connection timing out is normal, not an error worth a log line."""
        if not format.startswith("Request timed out"):
            super().log_error(format, *args)

    def make_environ(self) -> dict[str, Any]:
        """What ``MotoRequestHandler.make_environ`` returns, computed in one pass (plain HTTP)."""
        if self.server.ssl_context is not None:
            return super().make_environ()
        url = urlsplit(self.path)
        path = f"/{url.netloc}{url.path}" if url.netloc and not url.scheme else url.path
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": self.rfile,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": self.server.multithread,
            "wsgi.multiprocess": self.server.multiprocess,
            "wsgi.run_once": False,
            "werkzeug.socket": self.connection,
            "SERVER_SOFTWARE": self.server_version,
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": _latin1(unquote(path)),
            "QUERY_STRING": _latin1(url.query),
            "REQUEST_URI": _latin1(self.path),
            "RAW_URI": _latin1(self.path),
            "REMOTE_ADDR": self.address_string(),
            "REMOTE_PORT": self.port_integer(),
            "SERVER_NAME": self.server.server_address[0],
            "SERVER_PORT": str(self.server.server_address[1]),
            "SERVER_PROTOCOL": self.request_version,
        }
        # werkzeug drops headers with an underscore in their name (WSGI cannot tell X_Foo from
        # X-Foo); moto then adds back S3 metadata ones, unless a dashed header has the same key.
        underscored: list[tuple[str, str, str]] = []
        dashed: set[str] = set()
        for name, value in self.headers.raw_items():
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = f"HTTP_{key}"
            value = value.replace("\r\n", "")
            if "_" in name:
                if name.lower().startswith("x-amz-meta-"):
                    underscored.append((key, name, value))
                continue
            dashed.add(key)
            if key in environ and key.startswith("HTTP_"):
                value = f"{environ[key]},{value}"
            environ[key] = value
        if "chunked" in parse_set_header(environ.get("HTTP_TRANSFER_ENCODING")):
            environ["wsgi.input_terminated"] = True
            environ["wsgi.input"] = DechunkedInput(environ["wsgi.input"])
        if url.scheme and url.netloc:
            environ["HTTP_HOST"] = url.netloc
        names: dict[str, str] = {}
        values: dict[str, list[str]] = {}
        for key, name, value in underscored:
            if key not in dashed:
                names.setdefault(key, name)
                values.setdefault(key, []).append(value)
        for key, key_values in values.items():
            environ[key] = ",".join(key_values)
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = names
        return environ

    def run_wsgi(self) -> None:
        if self.headers.get("Expect", "").lower().strip(" \t") == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        environ = self.make_environ()
        if isinstance(environ["wsgi.input"], DechunkedInput):
            body_stream: Any = environ["wsgi.input"]
        else:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body_stream = LimitedStream(self.rfile, length)
            environ["wsgi.input"] = body_stream
        response: dict[str, Any] = {}

        def start_response(status: str, headers: list, exc_info: Any = None) -> Any:
            response["status"], response["headers"] = status, headers
            return lambda data: response.setdefault("early", []).append(data)

        try:
            iterable = self.server.app(environ, start_response)
            try:
                body = b"".join(response.get("early", [])) + b"".join(iterable)
            finally:
                if hasattr(iterable, "close"):
                    iterable.close()
        except Exception:
            traceback.print_exc(file=sys.stderr)
            response = {"status": "500 Internal Server Error", "headers": []}
            body = b"Internal Server Error"
            self.close_connection = True
        # Whatever the application did not read belongs to this request, not to the next one.
        while body_stream.read(65536):
            pass
        self._send(response["status"], response["headers"], body)

    def _send(self, status: str, headers: list, body: bytes) -> None:
        code_text, _, reason = status.partition(" ")
        code = int(code_text)
        self.send_response(code, reason)
        for key, value in headers:
            if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(key, value)
        with_body = self.command != "HEAD" and code not in NO_BODY_STATUSES and code >= 200
        if with_body:
            self.send_header("Content-Length", str(len(body)))
        else:
            declared = next((v for k, v in headers if k.lower() == "content-length"), None)
            if declared is not None and self.command == "HEAD":
                self.send_header("Content-Length", declared)
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n")
        if with_body:
            self._headers_buffer.append(body)
        self.flush_headers()


def _latin1(text: str) -> str:
    """werkzeug's ``_wsgi_encoding_dance``: a str as WSGI wants it (UTF-8 bytes read as Latin-1)."""
    return text.encode().decode("latin1")
