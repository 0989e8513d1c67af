"""The stack process: moto's server application plus this package's additions, on 127.0.0.1.

``LocalStack`` wires everything once per process: it switches on Step Functions execution,
installs the Lambda, SageMaker Runtime and Step Functions additions into moto's classes, and
serves moto's ``DomainDispatcherApplication`` (the app behind ``moto_server``) with ``/_local/``
routed to the control API and ``InvokeEndpoint`` to the model servers. The HTTP server is
werkzeug's threaded server, as in moto_server, with keep-alive connections (``http_server``):
each connection gets a thread, so Lambda handlers and the Step Functions interpreter can call
back into the stack while a request is in progress.

``python -m local_aws serve --port P`` runs it in the foreground (``up`` starts exactly that,
detached); SIGTERM/SIGINT stop it cleanly: capture buffers are flushed and every worker process
is stopped before the process exits.
"""

from __future__ import annotations

import collections
import os
import shutil
import signal
import tempfile
import threading
import uuid
from http import HTTPStatus
from pathlib import Path
from typing import Any, Callable, Iterable

from local_aws import (
    control,
    lambda_runtime,
    provider_gaps,
    s3_objects,
    sagemaker_runtime,
    speedups,
    stepfunctions,
)
from local_aws.data_capture import CaptureWriter
from local_aws.lambda_runtime import LambdaRuntime
from local_aws.sagemaker_runtime import SageMakerRuntime
from settings import get_logger

log = get_logger("local_aws.server")

HOST = "127.0.0.1"


class LocalStack:
    """One running stack: HTTP server, moto backends (process-global) and worker pools."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://{HOST}:{port}"
        self.boot_id = uuid.uuid4().hex
        self.pid = os.getpid()
        self._work_dir = Path(tempfile.mkdtemp(prefix="local-aws-"))
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.capture = CaptureWriter()
        # Requests answered by this package's fast paths instead of moto (``/_local/stats``).
        self.direct_answers: collections.Counter[str] = collections.Counter()
        self._direct_lock = threading.Lock()
        self.lambdas = LambdaRuntime(self._work_dir, self.url)
        self.sagemaker = SageMakerRuntime(self._work_dir, self.url, self.capture)

    def start(self) -> None:
        """Bind the port and serve in a background thread; returns once requests are accepted."""
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
        from werkzeug.serving import make_server

        from local_aws.http_server import KeepAliveRequestHandler

        # moto's Step Functions interpreter calls the other services at localhost:$MOTO_PORT.
        os.environ["MOTO_PORT"] = str(self.port)
        speedups.install()
        provider_gaps.install()
        stepfunctions.install()
        lambda_runtime.install(self.lambdas)
        sagemaker_runtime.install(self.sagemaker)
        self._moto_app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            HOST, self.port, self._app, threaded=True, request_handler=KeepAliveRequestHandler
        )
        self.capture.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            name="http",
            kwargs={"poll_interval": 0.1},
            daemon=True,
        )
        self._thread.start()
        log.info("stack started", extra={"fields": {"url": self.url, "boot_id": self.boot_id}})

    def _app(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(control.PREFIX):
            return control.handle(self, environ, start_response)
        invocation = sagemaker_runtime.match_invocation(environ)
        if invocation is not None:
            return sagemaker_runtime.handle_invocation(
                self.sagemaker, invocation, environ, start_response
            )
        answer = s3_objects.answer_directly(environ) or stepfunctions.answer_directly(environ)
        if answer is not None:
            with self._direct_lock:
                self.direct_answers[answer.operation] += 1
            start_response(f"{answer.status} {HTTPStatus(answer.status).phrase}", answer.headers)
            return [answer.body]
        return self._moto_app(environ, start_response)

    def stop(self) -> int:
        """Stop serving, flush data capture, stop every worker process, remove scratch files.

        Returns the number of capture records the final flush wrote.
        """
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        flushed = self.capture.stop()
        self.lambdas.stop()
        self.sagemaker.stop()
        shutil.rmtree(self._work_dir, ignore_errors=True)
        log.info("stack stopped", extra={"fields": {"url": self.url}})
        return flushed


def serve(port: int) -> None:
    """Run a stack in the foreground until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    stack = LocalStack(port)
    stack.start()
    print(f"local AWS stack serving at {stack.url} (boot id {stack.boot_id})", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    finally:
        flushed = stack.stop()
        print(f"local AWS stack stopped ({flushed} data capture records flushed)", flush=True)
