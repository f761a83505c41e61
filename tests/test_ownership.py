"""Who records what for a run, inside one process: the owner (it sent the create request), an
observer (it met the run unended: ``await_run``), a late look-up (it met the run ended), and the
run's trace context written into its metadata with ``propagate_context``. (Several processes
sharing runs: tests/test_fleet.py.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

from .support.flows import WEATHER_TOOL, outputs_for
from .support.telemetry import Otel

ASSISTANT = {"model": "gpt-4o", "name": "owned", "tools": [WEATHER_TOOL]}


def created_elsewhere(client: Any, assistant: Any, scenario: str) -> Any:
    """A run this process did not create (its create request is not instrumented)."""
    with suppress_instrumentation():
        return client.beta.threads.create_and_run(assistant_id=assistant.id, metadata={"scenario": scenario})


def test_a_run_met_unended_gets_an_await_run_span_and_no_run_metrics(otel: Otel, client: Any,
                                                                     assistant: Any) -> None:
    run = created_elsewhere(client, assistant, "polls=3;usage=40,4")
    with otel.tracer.start_as_current_span("status endpoint") as endpoint:
        final = client.beta.threads.runs.poll(run.id, thread_id=run.thread_id, poll_interval_ms=1)
    assert final.status == "completed"
    [wait] = otel.spans("await_run")
    assert wait.name == "await_run owned"  # the assistant was seen here when the fixture made it
    assert wait.kind is SpanKind.INTERNAL
    assert wait.parent.span_id == endpoint.get_span_context().span_id
    assert wait.status.status_code is StatusCode.UNSET
    attributes = dict(wait.attributes)
    assert attributes["gen_ai.operation.name"] == "await_run"
    assert attributes["openai.assistants.run.id"] == run.id
    assert attributes["gen_ai.conversation.id"] == run.thread_id
    assert attributes["gen_ai.agent.id"] == assistant.id
    assert attributes["openai.assistants.run.status"] == "completed"
    assert attributes["openai.assistants.run.poll_count"] == 3
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (40, 4)
    assert otel.run_spans() == []
    for name in ("openai.assistants.runs", "openai.assistants.run.duration", "openai.assistants.run.polls",
                 "gen_ai.client.token.usage", "openai.assistants.runs.active"):
        assert otel.points(name) == [], name
    assert not [p for p in otel.points("gen_ai.client.operation.duration")
                if p.attributes["gen_ai.operation.name"] in ("invoke_agent", "retrieve_run")]


def test_an_observed_failure_is_told_on_the_await_run_span(otel: Otel, client: Any, assistant: Any) -> None:
    run = created_elsewhere(client, assistant, "polls=2;outcome=failed;error_code=server_error")
    client.beta.threads.runs.poll(run.id, thread_id=run.thread_id, poll_interval_ms=1)
    [wait] = otel.spans("await_run")
    assert wait.attributes["error.type"] == "server_error"
    assert wait.status.status_code is StatusCode.ERROR
    assert otel.points("openai.assistants.runs") == []


def test_an_observer_that_does_not_see_the_end_closes_at_its_last_sight_unerring(make_otel: Callable[..., Otel],
                                                                                 client: Any, assistant: Any) -> None:
    otel = make_otel()
    try:
        run = created_elsewhere(client, assistant, "hold=1")
        seen = client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
        assert seen.status == "in_progress"
        last_sight = time.time_ns()
        otel.tracer_provider.shutdown()
        [wait] = otel.spans("await_run")
        assert wait.end_time <= last_sight
        assert "error.type" not in wait.attributes and wait.status.status_code is StatusCode.UNSET
        assert wait.attributes["openai.assistants.run.status"] == "in_progress"
    finally:
        otel.close()
        with suppress_instrumentation():
            client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)


def test_a_run_met_ended_is_a_plain_retrieve(otel: Otel, client: Any, emulator: Any) -> None:
    coder = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "code_interpreter"}])
    with suppress_instrumentation():
        run = client.beta.threads.create_and_run_poll(assistant_id=coder.id, poll_interval_ms=1,
                                                      metadata={"scenario": "builtin=code_interpreter"})
    emulator.clear_requests()
    with otel.tracer.start_as_current_span("page") as page:
        client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
        client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
    assert len(emulator.requests) == 2  # no step listing
    retrieves = otel.spans("retrieve_run")
    assert [(s.kind, s.parent.span_id) for s in retrieves] == [(SpanKind.CLIENT, page.get_span_context().span_id)] * 2
    assert retrieves[0].attributes["openai.assistants.run.id"] == run.id
    assert otel.run_spans() == [] and otel.spans("await_run") == []
    assert otel.total("gen_ai.client.operation.duration", {"gen_ai.operation.name": "retrieve_run"}) == 2
    assert otel.points("openai.assistants.runs") == []


def test_a_failed_retrieve_of_a_run_not_followed_is_a_failed_operation(otel: Otel, client: Any) -> None:
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.runs.retrieve("run_missing", thread_id="thread_missing")
    [span] = otel.spans("retrieve_run")
    assert span.attributes["error.type"] == "openai.NotFoundError"
    assert span.attributes["http.response.status_code"] == 404
    assert otel.total("gen_ai.client.operation.duration", {"error.type": "openai.NotFoundError"}) == 1


def test_after_its_end_the_owner_retrieves_a_run_as_a_plain_operation_under_it(otel: Otel, client: Any,
                                                                               assistant: Any) -> None:
    run = client.beta.threads.runs.create_and_poll(thread_id=client.beta.threads.create().id,
                                                   assistant_id=assistant.id, poll_interval_ms=1)
    client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)  # a page reloaded later
    run_span = otel.one_run()
    assert run_span.attributes["openai.assistants.run.poll_count"] == 1
    [late] = otel.spans("retrieve_run")
    assert late.parent.span_id == run_span.context.span_id
    assert otel.total("openai.assistants.runs") == 1


def test_calls_answered_elsewhere_are_not_the_owners(otel: Otel, client: Any, assistant: Any) -> None:
    """The owner saw the calls asked, another process answered them: the owner records none."""
    runs = client.beta.threads.runs
    run = runs.create_and_poll(thread_id=client.beta.threads.create().id, assistant_id=assistant.id,
                               poll_interval_ms=1, metadata={"scenario": "tools=2"})
    assert run.status == "requires_action"
    with suppress_instrumentation():  # the queue worker's process
        runs.submit_tool_outputs(run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run))
    final = runs.poll(run.id, thread_id=run.thread_id, poll_interval_ms=1)
    assert final.status == "completed"
    assert otel.spans("execute_tool") == []
    assert otel.points("openai.assistants.tool_call.duration") == []
    assert otel.one_run().attributes["openai.assistants.run.status"] == "completed"


def test_a_refused_submission_submitted_nothing(otel: Otel, client: Any, assistant: Any) -> None:
    runs = client.beta.threads.runs
    run = runs.create_and_poll(thread_id=client.beta.threads.create().id, assistant_id=assistant.id,
                               poll_interval_ms=1, metadata={"scenario": "tools=1"})
    with pytest.raises(openai.BadRequestError):
        runs.submit_tool_outputs(run.id, thread_id=run.thread_id,
                                 tool_outputs=[{"tool_call_id": "call_unknown", "output": "x"}])
    assert otel.spans("execute_tool") == []
    runs.cancel(run.id, thread_id=run.thread_id)
    runs.poll(run.id, thread_id=run.thread_id, poll_interval_ms=1)
    [tool] = otel.spans("execute_tool")  # never answered: the owner records it so
    assert tool.attributes["error.type"] == "tool_output_not_submitted"
    assert otel.total("openai.assistants.tool_call.duration") == 1


def test_an_observer_that_submits_records_the_calls_it_answered(otel: Otel, client: Any, assistant: Any) -> None:
    run = created_elsewhere(client, assistant, "tools=1")
    runs = client.beta.threads.runs
    waiting = runs.poll(run.id, thread_id=run.thread_id, poll_interval_ms=1)
    assert waiting.status == "requires_action"
    time.sleep(0.05)
    runs.submit_tool_outputs(waiting.id, thread_id=waiting.thread_id, tool_outputs=outputs_for(waiting))
    runs.poll(run.id, thread_id=run.thread_id, poll_interval_ms=1)
    [wait] = otel.spans("await_run")
    [tool] = otel.spans("execute_tool")
    [submit] = otel.spans("submit_tool_outputs")
    assert tool.name == "execute_tool get_weather"
    assert tool.parent.span_id == wait.context.span_id and submit.parent.span_id == wait.context.span_id
    assert (tool.end_time - tool.start_time) / 1e9 >= 0.05
    assert otel.total("openai.assistants.tool_call.duration", {"gen_ai.tool.name": "get_weather"}) == 1


def test_adopt_runs_owns_a_run_met_unended(make_otel: Callable[..., Otel], client: Any, assistant: Any) -> None:
    otel = make_otel(adopt_runs=True)
    try:
        run = created_elsewhere(client, assistant, "polls=2")
        client.beta.threads.runs.poll(run.id, thread_id=run.thread_id, poll_interval_ms=1)
        span = otel.one_run()
        assert span.kind is SpanKind.CLIENT and span.start_time == run.created_at * 10**9
        assert otel.spans("await_run") == []
        assert otel.total("openai.assistants.runs", {"openai.assistants.run.status": "completed"}) == 1
        # a run met already ended is not adopted
        ended = created_elsewhere(client, assistant, "polls=1")
        with suppress_instrumentation():
            client.beta.threads.runs.retrieve(ended.id, thread_id=ended.thread_id)
        client.beta.threads.runs.retrieve(ended.id, thread_id=ended.thread_id)
        assert len(otel.run_spans()) == 1 and len(otel.spans("retrieve_run")) == 1
    finally:
        otel.close()


# ---- propagate_context ----------------------------------------------------------------------

def traceparent_of(span: Any) -> str:
    context = span.context
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


def test_propagate_context_writes_the_run_spans_traceparent(make_otel: Callable[..., Otel], client: Any,
                                                            assistant: Any) -> None:
    otel = make_otel(propagate_context=True)
    try:
        metadata = {"scenario": "polls=1", "team": "support"}
        run = client.beta.threads.runs.create_and_poll(thread_id=client.beta.threads.create().id,
                                                       assistant_id=assistant.id, poll_interval_ms=1,
                                                       metadata=metadata)
        assert metadata == {"scenario": "polls=1", "team": "support"}  # the app's own dict is left alone
        span = otel.one_run()
        assert run.metadata == {**metadata, "traceparent": traceparent_of(span)}  # what the app reads back
    finally:
        otel.close()


@pytest.mark.parametrize("metadata", [
    {f"k{i}": "v" for i in range(16)},  # the API's limit: no room
    {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},  # the app's own
], ids=["full", "taken"])
def test_propagate_context_leaves_metadata_without_room_alone(make_otel: Callable[..., Otel], metadata: dict[str,
                                                              str], client: Any,
                                                              assistant: Any) -> None:
    otel = make_otel(propagate_context=True)
    try:
        run = client.beta.threads.runs.create(thread_id=client.beta.threads.create().id, assistant_id=assistant.id,
                                              metadata=metadata)
        assert run.metadata == metadata
    finally:
        otel.close()


def test_propagate_context_is_off_by_default(otel: Otel, client: Any, assistant: Any) -> None:
    run = client.beta.threads.runs.create(thread_id=client.beta.threads.create().id, assistant_id=assistant.id,
                                          metadata={"scenario": "polls=1"})
    assert run.metadata == {"scenario": "polls=1"}


def test_an_observer_joins_the_trace_the_run_carries(otel: Otel, client: Any, assistant: Any) -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    run = created_elsewhere(client, assistant, "polls=2")
    with suppress_instrumentation():
        client.beta.threads.runs.update(run.id, thread_id=run.thread_id,
                                        metadata={"scenario": "polls=2", "traceparent": parent})
    with otel.tracer.start_as_current_span("endpoint"):
        client.beta.threads.runs.poll(run.id, thread_id=run.thread_id, poll_interval_ms=1)
    [wait] = otel.spans("await_run")
    assert f"{wait.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{wait.parent.span_id:016x}" == "b7ad6b7169203331" and wait.parent.is_remote
