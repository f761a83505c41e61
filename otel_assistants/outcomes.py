"""How an ended run, tool call and ingestion job show in the metrics (and the tool call's span end)."""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import Span

from . import attributes as a
from .fields import present
from .runstate import RunState, ToolCall
from .spans import mark_error, now_ns, seconds_between
from .telemetry import Telemetry


class RunPoints:
    """The metric attributes of one kind of ended run, built once and reused: a service's runs
    fall into a handful of kinds, and each ended run records seven points and two counts."""

    __slots__ = ("operation", "outcome", "outcome_key", "polls", "provider", "queue", "tokens")

    def __init__(self, t: Telemetry, key: tuple[str | None, ...]) -> None:
        status, error_type, model, agent_name, provider, request_model, address, reason = key
        self.outcome = t.capped(present({
            a.RUN_STATUS: status,
            a.ERROR_TYPE: error_type,
            a.RESPONSE_MODEL: model,
            a.AGENT_NAME: t.agent_names.for_metrics(agent_name),
            a.PROVIDER_NAME: provider,
        }))
        self.outcome_key = tuple(self.outcome.items())
        self.polls = t.capped(present({a.RUN_STATUS: status}))
        self.provider = provider
        self.queue = t.capped(present({a.RESPONSE_MODEL: model, a.PROVIDER_NAME: provider}))
        self.tokens = tuple(t.capped(present({
            a.TOKEN_TYPE: token_type, a.OPERATION_NAME: a.INVOKE_AGENT,
            a.RESPONSE_MODEL: model, a.PROVIDER_NAME: provider,
        })) for token_type in ("input", "output"))
        self.operation = t.capped(present({
            a.OPERATION_NAME: a.INVOKE_AGENT, a.PROVIDER_NAME: provider, a.REQUEST_MODEL: request_model,
            a.ERROR_TYPE: error_type, a.SERVER_ADDRESS: address, a.ERROR_REASON: reason,
        }))


# Kinds of ended runs whose attributes are kept; past this the cache starts over (the capped
# values behind it never change once given, so a rebuilt entry is the same).
RUN_POINTS_CACHE = 1024


def record_run(t: Telemetry, state: RunState, error_type: str | None, duration: float) -> None:
    """The metric points of a run that ended."""
    client = state.client
    key = (state.status, error_type, state.response_model, state.agent_name, client.provider,
           state.request_model, client.address, state.error_reason)
    cache = t.run_points
    points = cache.get(key)
    if points is None:
        if len(cache) >= RUN_POINTS_CACHE:
            cache.clear()
        points = cache[key] = RunPoints(t, key)
    t.totals.ended(points.outcome_key, points.outcome, points.provider)
    t.run_duration.record(duration, points.outcome)
    t.run_polls.record(state.poll_count, points.polls)
    if state.created_at is not None and state.started_at is not None:
        t.queue_duration.record(max(state.started_at - state.created_at, 0), points.queue)
    if state.usage is not None:
        t.token_usage.record(state.usage[0], points.tokens[0])
        t.token_usage.record(state.usage[1], points.tokens[1])
    t.operation_duration.record(duration, points.operation)


def record_ingestion(t: Telemetry, job: Any, error_type: str | None, duration: float,
                     reason: str | None = None) -> None:
    """The points of an ingestion job that ended (ingestion.IngestionJob): its duration, and the
    files that reached a terminal status (one for a file; a batch's file_counts). ``reason``: the
    error answer its create request got (contract 2.8)."""
    client = job.client
    provider = client.provider
    t.ingestion_duration.record(duration, t.capped(present({
        a.INGESTION_STATUS: job.status,  # an abandoned job's is the last one seen
        a.ERROR_TYPE: error_type, a.PROVIDER_NAME: provider,
    })))
    # The job's span is its operation's, as a run's is (invoke_agent): one operation point per job.
    t.operation_duration.record(duration, t.capped(present({
        a.OPERATION_NAME: job.kind, a.PROVIDER_NAME: provider, a.ERROR_TYPE: error_type,
        a.SERVER_ADDRESS: client.address, a.ERROR_REASON: reason,
    })))
    if job.counts is not None:
        completed, failed, cancelled, _ = job.counts
        files = ((completed, "completed", None), (failed, "failed", a.ERROR_FILES_FAILED),
                 (cancelled, "cancelled", None))
    elif job.status in a.INGESTION_TERMINAL_STATUSES:
        files = ((1, job.status, error_type),)
    else:
        files = ()
    for count, status, file_error in files:
        if count > 0:
            t.ingestion_files.add(count, t.capped(present({
                a.INGESTION_STATUS: status, a.ERROR_TYPE: file_error, a.PROVIDER_NAME: provider,
            })))


def record_first_chunk(telemetry: Telemetry, state: RunState, request_start_ns: int) -> None:
    """A streamed run's first message delta."""
    telemetry.time_to_first_chunk.record(
        seconds_between(request_start_ns, now_ns()),
        telemetry.capped(present({a.OPERATION_NAME: a.INVOKE_AGENT, a.RESPONSE_MODEL: state.response_model})),
    )


def end_tool_call(telemetry: Telemetry, span: Span, call: ToolCall, end: int, error_type: str | None) -> None:
    """End a function call's span and record its duration."""
    if error_type is not None:
        mark_error(span, error_type)
    if telemetry.content.emits:
        telemetry.content.flush(span, end)
    span.end(end_time=end)
    telemetry.tool_duration.record(seconds_between(call.start_ns, end), telemetry.capped(present({
        a.TOOL_NAME: call.name, a.TOOL_TYPE: call.tool_type, a.ERROR_TYPE: error_type,
    })))
