"""Where captured content goes: the span's attributes, one log-record event per span, or both.

Every captured value reaches telemetry through ``ContentSink.record``. On a span it is set as
the GenAI opt-in attribute, a JSON string. For the event it is kept until ``flush``, called right
before the span ends, which emits one ``gen_ai.client.inference.operation.details`` log record
through the OpenTelemetry logs API, correlated with the span (its trace and span ids) and carrying
that span's content in structured form, as the semantic conventions ask of events.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import weakref
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry._logs import LogRecord, get_logger
from opentelemetry.trace import NonRecordingSpan, Span
from opentelemetry.version import __version__ as api_version

from . import attributes as a
from . import fields as f
from .config import CaptureMode
from .failsafe import failsafe

logger = logging.getLogger(__name__)

EVENT_NAME = "gen_ai.client.inference.operation.details"
# Built as JSON by content.Capture: always a message shape or a list of parts.
_SHAPED = frozenset({a.SYSTEM_INSTRUCTIONS, a.INPUT_MESSAGES, a.OUTPUT_MESSAGES})
# Besides its content, an event repeats the span attributes that say which operation it describes,
# so that it stands on its own in a log store: every gen_ai.* one, and these.
_CONTEXT_KEYS = frozenset({a.ERROR_TYPE, a.SERVER_ADDRESS, a.SERVER_PORT})
# opentelemetry-api 1.35 gave LogRecord an event name and a context; the SDK's Logger takes an API
# LogRecord from opentelemetry-sdk 1.37.0 (commit 22d1fd1), expecting its own record before that.
EVENTS_SINCE = (1, 37)


def events_supported(version: str) -> bool:
    """Whether this opentelemetry-api release can carry content events."""
    found = re.match(r"(\d+)\.(\d+)", version)
    return found is not None and (int(found[1]), int(found[2])) >= EVENTS_SINCE


def event_logger(scope: str, version: str, logger_provider: Any, schema_url: str) -> Any:
    """The logs API logger events are emitted with, or None where that API cannot carry them."""
    if not events_supported(api_version):
        logger.debug("otel_assistants: opentelemetry-api %s cannot emit events; content events are off",
                     api_version)
        return None
    return get_logger(scope, version, logger_provider, schema_url=schema_url)


class ContentSink:
    """Records captured content where the capture mode says, given a span and the values to
    record (attribute name to value, None for nothing)."""

    def __init__(self, mode: CaptureMode, events: Any = None) -> None:
        self._on_spans = mode.on_spans
        self._events = events if mode.as_events else None
        self.active = self._on_spans or self._events is not None
        self.emits = self._events is not None  # False: flush() has nothing to do, and is not called
        # The event form of what each span recorded, until the span ends; a span that is dropped
        # without ending takes its entry with it.
        self._pending: weakref.WeakKeyDictionary[Span, dict[str, Any]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    @failsafe()
    def record(self, span: Span, values: dict[str, Any]) -> None:
        present = f.present(values)
        if not present or not span.is_recording():
            return
        if self._on_spans:
            span.set_attributes(present)  # one call: the SDK takes its lock and checks its limits once
        if self._events is not None:
            with self._lock:
                self._pending.setdefault(span, {}).update(present)

    @failsafe()
    def flush(self, span: Span, end_ns: int | None = None) -> None:
        """The span is about to end: emit its event, if it recorded content for one."""
        if self._events is None:
            return
        with self._lock:
            content = self._pending.pop(span, None)
        if not content:
            return
        attributes = _operation_attributes(span)  # with span_and_event, content read here is replaced below
        attributes.update((key, _structured(key, value)) for key, value in content.items())
        # The record carries the span's identity, not the span: a record queued for export must not
        # keep the span (its attributes and events) alive.
        context = trace.set_span_in_context(NonRecordingSpan(span.get_span_context()))
        self._events.emit(LogRecord(timestamp=end_ns, context=context, event_name=EVENT_NAME, attributes=attributes))


def _operation_attributes(span: Span) -> dict[str, Any]:
    """What the span says about its operation (the SDK's spans can be read; others cannot)."""
    attributes = getattr(span, "attributes", None)
    if not isinstance(attributes, Mapping):
        return {}
    return {key: value for key, value in attributes.items()
            if key.startswith("gen_ai.") or key in _CONTEXT_KEYS}


def _structured(key: str, value: Any) -> Any:
    """A captured value as an event carries it: the message shapes as the structures they are; a
    tool's arguments or result as an object when its text is a whole JSON object or array (the
    conventions ask for a best effort), else as the text, which may have been cut."""
    if not isinstance(value, str):
        return value
    if key in _SHAPED:
        return json.loads(value)
    if value.lstrip().startswith(("{", "[")):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        if isinstance(parsed, (dict, list)):
            return parsed
    return value
