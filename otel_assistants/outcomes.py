"""How an ended run and an ended tool call show in the metrics (and the tool call's span end)."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Status, StatusCode

from . import attributes as a
from .runstate import RunState, ToolCall
from .telemetry import Telemetry


def record_run(t: Telemetry, state: RunState, error_type: str | None, duration: float) -> None:
    """The metric points of a run that ended."""
    provider = state.client.provider
    model = state.response_model
    outcome = t.capped(drop_none({
        a.RUN_STATUS: state.status,
        a.ERROR_TYPE: error_type,
        a.RESPONSE_MODEL: model,
        a.AGENT_NAME: t.agent_names.for_metrics(state.agent_name),
        a.PROVIDER_NAME: provider,
    }))
    t.runs.add(1, outcome)
    t.run_duration.record(duration, outcome)
    t.run_polls.record(state.poll_count, t.capped(drop_none({a.RUN_STATUS: state.status})))
    t.runs_active.add(-1, {a.PROVIDER_NAME: provider})
    if state.created_at is not None and state.started_at is not None:
        t.queue_duration.record(max(state.started_at - state.created_at, 0),
                                t.capped(drop_none({a.RESPONSE_MODEL: model, a.PROVIDER_NAME: provider})))
    if state.usage is not None:
        for token_type, count in (("input", state.usage[0]), ("output", state.usage[1])):
            t.token_usage.record(count, t.capped(drop_none({
                a.TOKEN_TYPE: token_type, a.OPERATION_NAME: a.INVOKE_AGENT,
                a.RESPONSE_MODEL: model, a.PROVIDER_NAME: provider,
            })))
    t.operation_duration.record(duration, t.capped(drop_none({
        a.OPERATION_NAME: a.INVOKE_AGENT, a.PROVIDER_NAME: provider, a.REQUEST_MODEL: state.request_model,
        a.ERROR_TYPE: error_type, a.SERVER_ADDRESS: state.client.address,
    })))

def end_tool_call(telemetry: Telemetry, call: ToolCall, end: int, error_type: str | None) -> None:
    """End a tool call's span and record its duration."""
    if error_type is not None and call.span.is_recording():
        call.span.set_attribute(a.ERROR_TYPE, error_type)
        call.span.set_status(Status(StatusCode.ERROR, error_type))
    call.span.end(end_time=end)
    telemetry.tool_duration.record(max(end - call.start_ns, 0) / 1e9, telemetry.capped(drop_none({
        a.TOOL_NAME: call.name, a.TOOL_TYPE: call.tool_type, a.ERROR_TYPE: error_type,
    })))


def drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
