"""A run's state turned into spans: the run (or await_run) span and its function-call spans.

Plain functions, as steps.py (step spans) and outcomes.py (metric points) are: the tracker
decides when, these decide what.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Span, SpanKind

from . import attributes as a
from .content import Capture
from .error_reasons import error_reason
from .outcomes import end_tool_call
from .runstate import ClientInfo, RunState, ToolCall
from .spans import mark_error, mark_exception, set_present
from .telemetry import Telemetry


def span_name(operation: str, name: str | None) -> str:
    return f"{operation} {name}" if name else operation


def open_run_span(telemetry: Telemetry, client: ClientInfo, start: int, assistant_id: str | None,
                  name: str | None, attributes: dict[str, Any], *, owner: bool, parent: Any = None) -> Span:
    """An owned run's ``invoke_agent`` span (CLIENT), or an observed run's ``await_run`` (INTERNAL)."""
    attributes.update(client.run_attributes)
    if not owner:
        attributes[a.OPERATION_NAME] = a.AWAIT_RUN
    if assistant_id is not None:
        attributes[a.AGENT_ID] = assistant_id
    if name is not None:
        attributes[a.AGENT_NAME] = name
    operation = a.INVOKE_AGENT if owner else a.AWAIT_RUN
    return telemetry.tracer.start_span(
        span_name(operation, name), context=parent, kind=SpanKind.CLIENT if owner else SpanKind.INTERNAL,
        start_time=start, attributes=attributes)


def status_seen(span: Span, status: str) -> None:
    if span.is_recording():
        span.add_event(a.RUN_STATUS_EVENT, {a.RUN_STATUS: status})


def end_run_span(telemetry: Telemetry, capture: Capture, state: RunState, end: int, *, error_type: str | None,
                 error: BaseException | None, learned_name: str | None) -> str | None:
    """Describe the run from its last state and end its span at ``end``; returns the run's
    error.type (an exception's, the one given, or the one its status implies).
    ``learned_name``: the agent name learned since the span was named."""
    span = state.span
    status = state.status
    if error is not None:
        state.error_reason = error_reason(error, telemetry.error_codes)
        error_type = mark_exception(span, error, state.error_reason)
    elif error_type is None:
        if status == "failed":
            error_type = state.last_error_code or a.OTHER_VALUE
        elif status == "expired":
            error_type = a.ERROR_EXPIRED
    # Asked once (a span's recording does not change before it ends); an unsampled run skips it all.
    recording = state.recording and span.is_recording()
    if learned_name is not None and recording:
        span.update_name(span_name(a.INVOKE_AGENT if state.owner else a.AWAIT_RUN, learned_name))
        span.set_attribute(a.AGENT_NAME, learned_name)
    usage = state.usage
    if state.outputs:
        capture.record(span, {a.OUTPUT_MESSAGES: capture.output_messages(state.outputs)})
        state.outputs.clear()
    if recording:  # an unsampled run needs none of these built
        set_present(span, {
            a.RUN_ID: state.run_id,
            a.RUN_STATUS: status,
            a.RUN_POLL_COUNT: state.poll_count,
            a.CONVERSATION_ID: state.thread_id,
            a.AGENT_ID: state.assistant_id,
            a.RESPONSE_MODEL: state.response_model,
            a.USAGE_INPUT_TOKENS: usage[0] if usage else None,
            a.USAGE_OUTPUT_TOKENS: usage[1] if usage else None,
            a.RUN_INCOMPLETE_REASON: state.incomplete_reason,
        })
    if error_type is not None and error is None:
        mark_error(span, error_type)
    if telemetry.content.emits:
        telemetry.content.flush(span, end)
    span.end(end_time=end)
    return error_type


def tool_call_span(telemetry: Telemetry, capture: Capture, state: RunState, call: ToolCall, end: int,
                   error_type: str | None, result: str | None = None) -> None:
    """A function call's span, made now that its end is known, and its duration point."""
    attributes: dict[str, Any] = {a.OPERATION_NAME: a.EXECUTE_TOOL, a.TOOL_CALL_ID: call.call_id,
                                  a.TOOL_TYPE: call.tool_type}
    if call.name is not None:
        attributes[a.TOOL_NAME] = call.name
    span = telemetry.tracer.start_span(
        span_name(a.EXECUTE_TOOL, call.name), context=state.context, kind=SpanKind.INTERNAL,
        start_time=call.start_ns, attributes=attributes)
    capture.record(span, {a.TOOL_CALL_ARGUMENTS: call.arguments, a.TOOL_CALL_RESULT: result})
    end_tool_call(telemetry, span, call, end, error_type)
