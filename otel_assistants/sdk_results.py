"""What kind of object the SDK's ``request`` returned: the one place that knows the SDK's shapes.

The same request hands back different objects depending on the surface the app used, and the
instrumentation must read each without changing it. The shapes below hold for every release
from openai 1.21.0 (the oldest supported) to 3.63.0; each note names the SDK source it rests on.
"""

from __future__ import annotations

import enum
import inspect
from typing import Any

from . import fields as f


class Shape(enum.Enum):
    # A parsed API object: a pydantic model (openai/_models.py BaseModel, pydantic v1 or v2).
    MODEL = "model"
    # openai/_streaming.py Stream / AsyncStream: an iterator of server-sent events that keeps the
    # httpx response as ``.response`` (and has no ``http_response``), in 1.21.0 as in 3.63.0.
    EVENT_STREAM = "event_stream"
    # ``with_raw_response`` (openai/_legacy_response.py LegacyAPIResponse) or a read
    # ``with_streaming_response`` (openai/_response.py APIResponse): ``http_response`` plus a
    # ``parse()`` that builds the object from a body already read.
    READ_RESPONSE = "read_response"
    # ``with_streaming_response``, or a raw response to ``stream=True``: the body is read only
    # when the app parses it; until then httpx's ``Response.content`` raises ResponseNotRead.
    UNREAD_RESPONSE = "unread_response"
    # Anything else (a dict from a hand-made request, None, a value another library wrapped).
    OTHER = "other"


# Shapes that carry a run-event stream, now or once parsed.
STREAM_SHAPES = frozenset({Shape.EVENT_STREAM, Shape.READ_RESPONSE, Shape.UNREAD_RESPONSE})


def classify(result: Any) -> Shape:
    if f.is_model(result):  # first: a model answers a missing attribute slowly
        return Shape.MODEL
    http_response = getattr(result, "http_response", None)
    if http_response is not None and callable(getattr(result, "parse", None)):
        try:
            http_response.content  # noqa: B018 - raises while a streamed body is unread
        except Exception:
            return Shape.UNREAD_RESPONSE
        return Shape.READ_RESPONSE
    if is_event_stream(result):
        return Shape.EVENT_STREAM
    return Shape.OTHER


def is_event_stream(result: Any) -> bool:
    return hasattr(result, "response") and (hasattr(result, "__next__") or hasattr(result, "__anext__"))


def payload(result: Any, shape: Shape) -> Any:
    """The API object of a result that has one now: the model itself, a read response's JSON, or
    the result as it is (a dict, for one)."""
    if shape is Shape.READ_RESPONSE:
        return _read_body(result)
    if shape is Shape.OTHER or shape is Shape.MODEL:
        return result
    return None


def _read_body(response: Any) -> Any:
    # LegacyAPIResponse and APIResponse keep what parse() built in ``_parsed_by_type`` (both since
    # before 1.21.0; openai/_legacy_response.py, openai/_response.py), and the SDK's own poll
    # helpers parse every raw retrieve they make: parsing here hands the app's parse() the same
    # object from that cache, so the body is decoded and built once, not twice. An async parse()
    # cannot be awaited here: its JSON is decoded instead.
    if isinstance(getattr(response, "_parsed_by_type", None), dict) and not parses_async(type(response)):
        try:
            return response.parse()
        except Exception:  # the app's own parse() meets the same problem: not ours to raise
            return None
    try:
        return f.decode_json(response.http_response.content)
    except Exception:
        return None


_async_parse: dict[type, bool] = {}


def parses_async(cls: type) -> bool:
    """``parse()`` is a coroutine function (AsyncAPIResponse: ``with_streaming_response`` on an
    async client); known per class after the first ask."""
    known = _async_parse.get(cls)
    if known is None:
        known = _async_parse[cls] = inspect.iscoroutinefunction(getattr(cls, "parse", None))
    return known
