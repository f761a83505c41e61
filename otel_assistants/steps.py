"""Run step spans and the built-in tool spans (code_interpreter, file_search) beneath them.

The tracker decides when a step is described (live from a stream, from a listing, or from the
step fetch) and makes sure each step is described once; this module only turns one step into
its spans and metric points.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind

from . import attributes as a
from . import fields as f
from .content import Capture
from .spans import NS_PER_S, mark_error, seconds_between
from .telemetry import Telemetry

STEP_END_FIELDS = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at",
                   "expired": "expired_at"}
TERMINAL_STEP_STATUSES = frozenset(STEP_END_FIELDS)


def server_times(step: Any, now_ns: int) -> tuple[int, int] | None:
    """A finished step's start and end from the server's timestamps (seconds)."""
    created = f.integer(step, "created_at")
    ended = f.integer(step, STEP_END_FIELDS.get(f.text(step, "status") or "", ""))
    if created is None:
        return None
    start = min(created * NS_PER_S, now_ns)
    end = min(max(ended * NS_PER_S if ended is not None else start, start), now_ns)
    return start, end


def start_step_span(telemetry: Telemetry, parent: Any, step: Any, start_ns: int) -> Span:
    kind = f.text(step, "type") or "unknown"
    return telemetry.tracer.start_span(
        f"run_step {kind}", context=parent, kind=SpanKind.INTERNAL, start_time=start_ns,
        attributes={a.RUN_STEP_TYPE: kind, **({a.RUN_STEP_ID: f.text(step, "id")} if f.text(step, "id") else {})},
    )


def end_step_span(telemetry: Telemetry, capture: Capture, span: Span, step: Any, start_ns: int,
                  end_ns: int) -> None:
    """Describe the step from its final object, add its built-in tool calls, end it, record it."""
    kind = f.text(step, "type") or "unknown"
    status = f.text(step, "status")
    if span.is_recording():
        if status is not None:
            span.set_attribute(a.RUN_STEP_STATUS, status)
        usage = f.get(step, "usage")
        prompt, completion = f.integer(usage, "prompt_tokens"), f.integer(usage, "completion_tokens")
        if prompt is not None:
            span.set_attribute(a.USAGE_INPUT_TOKENS, prompt)
        if completion is not None:
            span.set_attribute(a.USAGE_OUTPUT_TOKENS, completion)
        if status == "failed":
            code = f.text(f.get(step, "last_error"), "code") or a.OTHER_VALUE
            mark_error(span, code)
    if kind == "tool_calls":
        parent = trace.set_span_in_context(span)
        error_type = (f.text(f.get(step, "last_error"), "code") or a.OTHER_VALUE) if status == "failed" else None
        for call in f.items(f.get(step, "step_details"), "tool_calls"):
            tool = f.text(call, "type")
            if tool in a.BUILTIN_TOOLS:
                _builtin_tool_span(telemetry, capture, parent, call, tool, start_ns, end_ns, error_type)
    span.end(end_time=end_ns)
    attributes = {a.RUN_STEP_TYPE: kind}
    if status is not None:
        attributes[a.RUN_STEP_STATUS] = status
    telemetry.step_duration.record(seconds_between(start_ns, end_ns), telemetry.capped(attributes))


def _builtin_tool_span(telemetry: Telemetry, capture: Capture, parent: Any, call: Any, tool: str, start_ns: int,
                       end_ns: int, error_type: str | None) -> None:
    """A built-in tool call ran inside its step on the server: it spans the step."""
    tool_type = a.TOOL_TYPES[tool]
    attributes: dict[str, Any] = {
        a.OPERATION_NAME: a.EXECUTE_TOOL, a.TOOL_NAME: tool, a.TOOL_TYPE: tool_type,
    }
    call_id = f.text(call, "id")
    if call_id is not None:
        attributes[a.TOOL_CALL_ID] = call_id
    details = f.get(call, tool)
    captured: dict[str, Any] = {}
    if tool == "file_search":
        results = f.items(details, "results")
        attributes[a.FILE_SEARCH_RESULT_COUNT] = len(results)
        captured[a.TOOL_CALL_RESULT] = capture.search_results(results)
    elif capture.enabled:  # code_interpreter's input and logs are content: not even read with capture off
        logs = [f.text(output, "logs") for output in f.items(details, "outputs") if f.text(output, "type") == "logs"]
        captured = {a.TOOL_CALL_ARGUMENTS: capture.text(f.text(details, "input")),
                    a.TOOL_CALL_RESULT: capture.text("\n".join(log for log in logs if log) or None)}
    span = telemetry.tracer.start_span(f"{a.EXECUTE_TOOL} {tool}", context=parent, kind=SpanKind.INTERNAL,
                                       start_time=start_ns, attributes=attributes)
    capture.record(span, captured)
    if error_type is not None:
        mark_error(span, error_type)
    if telemetry.content.emits:
        telemetry.content.flush(span, end_ns)
    span.end(end_time=end_ns)
    metric = {a.TOOL_NAME: tool, a.TOOL_TYPE: tool_type}
    if error_type is not None:
        metric[a.ERROR_TYPE] = error_type
    telemetry.tool_duration.record(seconds_between(start_ns, end_ns), telemetry.capped(metric))
