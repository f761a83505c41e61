"""``propagate_context``: one run is one trace across every process that touches it.

The owner writes its run span's W3C ``traceparent`` into the metadata of the create request (only
when the app's metadata has room for it), so the run carries it; a process that later meets the
run reads it back and puts its ``await_run`` span under the owner's run span. Reading is always
on: it costs nothing and only ever finds what an owner wrote.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from . import fields as f

METADATA_KEY = "traceparent"
METADATA_MAX_KEYS = 16  # the API's limit on a run's metadata

_w3c = TraceContextTextMapPropagator()


def write_traceparent(options: Any, span: Span) -> None:
    """Put the span's traceparent into the create request's metadata, in a copy of the body (the
    app's own dictionaries are never changed); nothing when there is no room or it is there."""
    body = getattr(options, "json_data", None)
    if not isinstance(body, dict) or not span.get_span_context().is_valid:
        return
    metadata = body.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict) or METADATA_KEY in metadata or len(metadata) >= METADATA_MAX_KEYS:
        return
    carrier: dict[str, str] = {}
    _w3c.inject(carrier, context=trace.set_span_in_context(span))
    value = carrier.get(METADATA_KEY)
    if value is None:
        return
    options.json_data = {**body, "metadata": {**metadata, METADATA_KEY: value}}


def remote_parent(metadata: Any) -> Any:
    """The context of the run span whose traceparent a run's metadata carries, or None."""
    value = f.get(metadata, METADATA_KEY)
    if not isinstance(value, str):
        return None
    context = _w3c.extract({METADATA_KEY: value})
    span_context = trace.get_current_span(context).get_span_context()
    return context if span_context.is_valid else None
