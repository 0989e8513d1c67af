"""SageMaker endpoint data capture, written the way SageMaker writes it.

SageMaker buffers the sampled requests and responses of an endpoint and writes them as JSON Lines
files to ``<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<mm-ss-mmm>-<uuid>.jsonl``. The
record layout (field order, compact separators, ``BASE64``/``JSON``/``CSV`` encodings chosen by
the endpoint config's ``CaptureContentTypeHeader``, ``inferenceTime`` to the second with ``Z``)
follows files captured from a real endpoint, so the monitoring code reads both alike.

Invocations are buffered per destination file and written to the local S3 (the moto backend, in
this process) every ``FLUSH_INTERVAL_S`` seconds, on ``POST /_local/flush`` and when the stack
stops. A record's JSON line is made when it is written, not on the request's thread: encoding
(base64, JSON) was a tenth of the stack's CPU per ``InvokeEndpoint``, and the caller waits for
none of it.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from settings import get_logger

log = get_logger("local_aws.capture")

FLUSH_INTERVAL_S = 2.0


@dataclass(frozen=True)
class CaptureSettings:
    """The parts of an endpoint config's ``DataCaptureConfig`` that decide what is written."""

    sampling_percentage: float
    capture_input: bool
    capture_output: bool
    bucket: str
    prefix: str
    csv_types: frozenset[str]
    json_types: frozenset[str]

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> CaptureSettings | None:
        """``None`` when capture is off (no config, ``EnableCapture`` false, no destination).

        ``EnableCapture`` is optional in the API and defaults to enabled: a config that leaves it
        out captures.
        """
        if not config or not config.get("EnableCapture", True):
            return None
        uri = config.get("DestinationS3Uri", "")
        if not uri.startswith("s3://"):
            return None
        bucket, _, prefix = uri[len("s3://") :].partition("/")
        modes = {option.get("CaptureMode") for option in config.get("CaptureOptions", [])}
        header = config.get("CaptureContentTypeHeader") or {}
        return cls(
            sampling_percentage=float(config.get("InitialSamplingPercentage", 0)),
            # The API accepts "Input", "Output" and the combined "InputAndOutput".
            capture_input=bool(modes & {"Input", "InputAndOutput"}),
            capture_output=bool(modes & {"Output", "InputAndOutput"}),
            bucket=bucket,
            prefix=prefix.strip("/"),
            csv_types=frozenset(header.get("CsvContentTypes", [])),
            json_types=frozenset(header.get("JsonContentTypes", [])),
        )

    def sampled(self) -> bool:
        return random.random() * 100.0 < self.sampling_percentage

    def encode(self, content_type: str, body: bytes) -> tuple[str, str]:
        """``(data, encoding)``: text for listed CSV/JSON types, base64 for everything else."""
        media_type = content_type.split(";", 1)[0].strip()
        for types, encoding in ((self.csv_types, "CSV"), (self.json_types, "JSON")):
            if content_type in types or media_type in types:
                try:
                    return body.decode("utf-8"), encoding
                except UnicodeDecodeError:
                    break
        return base64.b64encode(body).decode("ascii"), "BASE64"


class _Invocation(NamedTuple):
    """One sampled invocation, as the request handler hands it over."""

    time: dt.datetime
    settings: CaptureSettings
    request: tuple[str, bytes]  # (content type, body)
    response: tuple[str, bytes]
    inference_id: str | None


@dataclass
class _Buffer:
    first_time: dt.datetime
    invocations: list[_Invocation] = field(default_factory=list)


def _part(settings: CaptureSettings, mode: str, content_type: str, body: bytes) -> dict[str, str]:
    data, encoding = settings.encode(content_type, body)
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def _line(invocation: _Invocation) -> str:
    """The JSON line of one record, fields in SageMaker's order."""
    settings = invocation.settings
    capture: dict[str, Any] = {}
    if settings.capture_input:
        capture["endpointInput"] = _part(settings, "INPUT", *invocation.request)
    if settings.capture_output:
        capture["endpointOutput"] = _part(settings, "OUTPUT", *invocation.response)
    metadata = {"eventId": str(uuid.uuid4())}
    if invocation.inference_id:
        metadata["inferenceId"] = invocation.inference_id
    metadata["inferenceTime"] = invocation.time.strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps(
        {"captureData": capture, "eventMetadata": metadata, "eventVersion": "0"},
        separators=(",", ":"),
    )


class CaptureWriter:
    """Buffers capture records per destination file and writes them to the local S3."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._buffers: dict[tuple[str, str, str], _Buffer] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.records_written = 0
        self.records_failed = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="capture-flush", daemon=True)
        self._thread.start()

    def stop(self) -> int:
        """Stop the periodic flush and write what is left; returns how many records that was."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        return self.flush()

    def _run(self) -> None:
        while not self._stop.wait(FLUSH_INTERVAL_S):
            self.flush()

    def record(
        self,
        account_id: str,
        settings: CaptureSettings,
        endpoint_name: str,
        variant_name: str,
        request: tuple[str, bytes],
        response: tuple[str, bytes],
        inference_id: str | None,
    ) -> None:
        """Buffer one invocation (already sampled) for the endpoint's destination."""
        now = dt.datetime.now(dt.timezone.utc)
        hour = f"{now:%Y/%m/%d/%H}"
        parts = (settings.prefix, endpoint_name, variant_name, hour)
        directory = "/".join(part for part in parts if part)
        invocation = _Invocation(now, settings, request, response, inference_id)
        with self._lock:
            slot = (account_id, settings.bucket, directory)
            buffer = self._buffers.get(slot)
            if buffer is None:
                buffer = self._buffers[slot] = _Buffer(first_time=now)
            buffer.invocations.append(invocation)

    def pending(self) -> int:
        with self._lock:
            return sum(len(buffer.invocations) for buffer in self._buffers.values())

    def flush(self) -> int:
        """Write every buffered record now; returns how many records were written."""
        with self._flush_lock:
            with self._lock:
                buffers, self._buffers = self._buffers, {}
            written = 0
            for (account_id, bucket, directory), buffer in buffers.items():
                stamp = buffer.first_time
                name = f"{stamp:%M-%S}-{stamp.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
                key = f"{directory}/{name}"
                records = len(buffer.invocations)
                body = "".join(_line(invocation) + "\n" for invocation in buffer.invocations)
                try:
                    _put_object(account_id, bucket, key, body.encode("utf-8"))
                except Exception as err:  # the bucket may be gone: say so, count it, go on
                    self.records_failed += records
                    log.error(
                        "capture write failed",
                        extra={"fields": {"bucket": bucket, "key": key, "error": repr(err)}},
                    )
                    continue
                written += records
            self.records_written += written
            return written


def _put_object(account_id: str, bucket: str, key: str, body: bytes) -> None:
    """Write into the local S3 directly (the same backend that serves S3 API calls)."""
    from moto.s3.models import s3_backends

    s3_backends[account_id]["aws"].put_object(bucket, key, body)
