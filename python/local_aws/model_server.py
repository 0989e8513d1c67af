"""One model server worker: what a SageMaker PyTorch serving container does with inference.py.

Started by ``sagemaker_runtime`` as ``python -m local_aws.model_server READ_FD WRITE_FD MODEL_DIR``
with the extracted ``model.tar.gz`` in MODEL_DIR. Like the container, it puts ``code/`` first on
``sys.path``, imports ``code/inference.py``, calls ``model_fn(model_dir)`` once and then, for every
request, ``input_fn(body, content_type)`` -> ``predict_fn(data, model)`` ->
``output_fn(prediction, accept)``. Requests arrive over a pipe rather than HTTP, one message each
way (``pack``: a JSON header and the raw body), which keeps a round trip well under a millisecond:
every extra message is one more wake-up of a process on a busy machine.

The four functions must all be defined (the toolkit's default decoders are not emulated).
Errors from the user's functions are sent back (type and message, HTTP status 500 as the
SageMaker inference toolkit reports them) and the worker keeps serving; a crash ends the process
and the stack starts a new one.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any

DEFAULT_ACCEPT = "application/json"
ANY_ACCEPT = "*/*"
HANDLER_FUNCTIONS = ("model_fn", "input_fn", "predict_fn", "output_fn")


def pack(header: dict, body: bytes) -> bytes:
    """One pipe message: the header's length (4 bytes, big-endian), the JSON header, the body."""
    encoded = json.dumps(header).encode()
    return len(encoded).to_bytes(4, "big") + encoded + body


def unpack(message: bytes) -> tuple[dict, bytes]:
    length = int.from_bytes(message[:4], "big")
    return json.loads(message[4 : 4 + length]), message[4 + length :]


def _load(model_dir: str) -> tuple[Any, Any, Any, Any]:
    code_dir = os.path.join(model_dir, "code")
    sys.path.insert(0, code_dir)
    program = os.environ.get("SAGEMAKER_PROGRAM", "inference.py")
    module = importlib.import_module(program.removesuffix(".py"))
    missing = [name for name in HANDLER_FUNCTIONS if not callable(getattr(module, name, None))]
    if missing:
        raise AttributeError(f"{program} does not define {', '.join(missing)}")
    model = module.model_fn(model_dir)
    return model, module.input_fn, module.predict_fn, module.output_fn


def _error(err: BaseException) -> dict:
    message = str(err) or type(err).__name__
    return {"ok": False, "status": 500, "error_type": type(err).__name__, "message": message}


def serve(requests: Connection, responses: Connection, model_dir: str) -> None:
    try:
        model, input_fn, predict_fn, output_fn = _load(model_dir)
    except BaseException as err:  # report why the model cannot load, then stop
        traceback.print_exc()
        responses.send_bytes(json.dumps(_error(err)).encode())
        return
    responses.send_bytes(b'{"ok": true}')
    while True:
        try:
            header, body = unpack(requests.recv_bytes())
        except EOFError:
            return
        content_type = header["content_type"]
        # As the inference toolkit: no Accept, or "*/*", asks for the default type.
        accept = header["accept"]
        if not accept or accept == ANY_ACCEPT:
            accept = DEFAULT_ACCEPT
        try:
            result = output_fn(predict_fn(input_fn(body, content_type), model), accept)
            if isinstance(result, tuple):
                result, accept = result
            if isinstance(result, str):
                result = result.encode("utf-8")
            reply = {"ok": True, "content_type": accept}
            payload = bytes(result)
        except Exception as err:
            traceback.print_exc()
            reply, payload = _error(err), b""
        responses.send_bytes(pack(reply, payload))


def main() -> None:
    read_fd, write_fd, model_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    requests = Connection(read_fd, writable=False)
    responses = Connection(write_fd, readable=False)
    serve(requests, responses, model_dir)


if __name__ == "__main__":
    main()
