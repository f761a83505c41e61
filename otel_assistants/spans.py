"""Small helpers shared by every span this package makes."""

from __future__ import annotations

import time
from typing import Any

from opentelemetry.trace import Span, Status, StatusCode

from . import attributes as a
from . import fields as f
from .runstate import NS_PER_S

# The clock of every span and duration; the builtin itself, so reading it costs no call of ours.
now_ns = time.time_ns


def seconds_between(start_ns: int, end_ns: int) -> float:
    """A duration for a histogram: never negative, whatever the clocks did."""
    return max(end_ns - start_ns, 0) / NS_PER_S


def mark_error(span: Span, error_type: str) -> None:
    """A span that ended in error without an exception (a status the API reported)."""
    if span.is_recording():
        span.set_attribute(a.ERROR_TYPE, error_type)
        span.set_status(Status(StatusCode.ERROR, error_type))


def error_type_of(error: BaseException) -> str:
    """The exception's class by its public path, e.g. ``openai.InternalServerError``."""
    cls = type(error)
    module = ".".join(part for part in (cls.__module__ or "").split(".") if not part.startswith("_"))
    if not module or module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def http_status_of(error: BaseException) -> int | None:
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) and not isinstance(status, bool) else None


def mark_exception(span: Span, error: BaseException, reason: str | None = None) -> str:
    """Record an SDK exception on a span the way the contract asks (``reason``: its
    openai.assistants.error.reason, when it got an error answer); returns its error.type."""
    kind = error_type_of(error)
    if span.is_recording():
        span.set_attribute(a.ERROR_TYPE, kind)
        status = http_status_of(error)
        if status is not None:
            span.set_attribute(a.HTTP_STATUS_CODE, status)
        if reason is not None:
            span.set_attribute(a.ERROR_REASON, reason)
        span.record_exception(error, escaped=True)
        span.set_status(Status(StatusCode.ERROR, kind))
    return kind


def set_present(span: Span, values: dict[str, Any]) -> None:
    """Set only the attributes that have a value."""
    if not span.is_recording():
        return
    # One call: the SDK takes its lock and checks its limits once, not once per attribute.
    span.set_attributes(f.present(values))
