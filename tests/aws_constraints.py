"""The constraints of AWS API requests that moto does not check, read from botocore's models.

botocore checks a request's types and minimum lengths before sending it; AWS also refuses a
member longer or larger than its ``max``, a string outside its ``pattern`` or its ``enum``, and
moto checks few of these. ``violations`` checks a request's parameters against every one of them,
as the service model (``botocore/data/<service>/<version>/service-2.json.gz``) states them.

``RecordedRequests`` (fixture ``aws_requests``) records the parameters of every request that
clients made during the test build, before botocore validates or sends it (moto or the local
stack answers as usual): a test asserts ``aws_requests.violations() == []``.

Patterns are Java regular expressions; the ``regex`` module reads the ones the models use
(``\\p{L}``, ``\\A``, ``\\z``, look-behind; see ``compiled``). Its ``\\p{Print}`` and ``\\S``
are Unicode classes, wider than Java's ASCII ones: a check may pass what AWS refuses, never
the other way round.
"""

from __future__ import annotations

import functools
from typing import Any

import botocore.session
import regex


@functools.cache
def _service_model(service: str):  # -> botocore.model.ServiceModel
    return botocore.session.get_session().get_service_model(service)


def shape_of(service: str, operation: str, member: str):  # -> botocore.model.Shape
    """The shape of an input member, ``"Body"`` or ``"InferenceSpecification.Containers"``."""
    shape = _service_model(service).operation_model(operation).input_shape
    for name in member.split("."):
        shape = shape.members[name]
    return shape


@functools.cache
def compiled(pattern: str) -> regex.Pattern:
    """A model's (Java) pattern for the ``regex`` module. Java writes the characters beyond
    U+FFFF as UTF-16 surrogate pairs, ``\\uD800\\uDC00-\\uDBFF\\uDFFF``: Python ranges over them."""
    return regex.compile(pattern.replace(r"\uD800\uDC00-\uDBFF\uDFFF", r"\U00010000-\U0010FFFF"))


def violations(service: str, operation: str, params: dict) -> list[str]:
    """What in ``params`` the service model of ``service``'s ``operation`` does not allow."""
    found: list[str] = []
    shape = _service_model(service).operation_model(operation).input_shape
    _check(shape, params, f"{service}.{operation}", found)
    return found


def _check(shape: Any, value: Any, path: str, found: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        for name, member in shape.members.items():
            if isinstance(value, dict) and value.get(name) is not None:
                _check(member, value[name], f"{path}.{name}", found)
    elif kind == "list":
        _in_range(len(value), shape, path, "items", found)
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}[{index}]", found)
    elif kind == "map":
        _in_range(len(value), shape, path, "entries", found)
        for key, item in value.items():
            _check(shape.key, key, f"{path} key {key!r}", found)
            _check(shape.value, item, f"{path}[{key!r}]", found)
    elif kind == "string":
        _in_range(len(value), shape, path, "characters", found)
        pattern = shape.metadata.get("pattern")
        if pattern is not None and not compiled(pattern).fullmatch(value):
            found.append(f"{path} = {_short(value)} does not match {pattern!r}")
        if shape.enum and value not in shape.enum:
            found.append(f"{path} = {_short(value)} is none of {shape.enum}")
    elif kind == "blob":
        _in_range(_size(value), shape, path, "bytes", found)
    elif kind in ("integer", "long", "float", "double"):
        _in_range(value, shape, path, "", found)


def _in_range(amount: int | float, shape: Any, path: str, unit: str, found: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and amount < low or high is not None and amount > high:
        found.append(f"{path}: {f'{amount} {unit}'.strip()} outside [{low}, {high}]")


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8"))
    if hasattr(value, "__len__"):  # bytes, and the file chunks of s3transfer
        return len(value)
    position = value.tell()
    size = value.seek(0, 2) - position
    value.seek(position)
    return size


def _short(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class RecordedRequests:
    """A ``before-parameter-build`` handler: the operations built and what they break (checked
    at once: a file given as a body may be closed once the request is sent)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.found: list[str] = []

    def __call__(self, params: dict, model: Any, **_: Any) -> None:
        service = model.service_model.service_name
        self.requests.append(f"{service}.{model.name}")
        self.found += violations(service, model.name, params)

    def operations(self) -> list[str]:
        return list(self.requests)

    def violations(self) -> list[str]:
        return list(self.found)
