"""Runs nobody sees end, the bound on tracked runs, and where run spans sit in the trace."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.trace import StatusCode

from otel_assistants.tracker import RunState

from .support.flows import outputs_for
from .support.processes import run_script
from .support.telemetry import Otel

ASSISTANT = {"model": "gpt-4o", "name": "lifecycle", "tools": [{"type": "function", "function": {"name": "lookup"}}]}


def test_run_still_active_at_shutdown_is_looked_up_then_abandoned(make_otel: Callable[..., Otel], client: Any,
                                                                  emulator: Any,
                                                                    assistant: Any) -> None:
    otel = make_otel()
    try:
        thread = client.beta.threads.create()
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                              metadata={"scenario": "hold=1"})
        assert otel.run_spans() == []
        emulator.clear_requests()
        otel.tracer_provider.shutdown()  # the exporter must still receive the span
        assert [(r.method, r.path) for r in emulator.requests] == [("GET", f"/threads/{thread.id}/runs/{run.id}")]
        span = otel.one_run()
        assert span.attributes["error.type"] == "abandoned"
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes["openai.assistants.run.status"] == "in_progress"  # what the look-up found
        assert span.attributes["openai.assistants.run.poll_count"] == 0  # the look-up is not the app's poll
        assert otel.total("openai.assistants.runs", {"error.type": "abandoned"}) == 1
        assert otel.total("openai.assistants.runs.active") == 0
    finally:
        otel.close()


def test_run_that_ended_unseen_is_reported_at_shutdown_with_its_truth(make_otel: Callable[..., Otel], client: Any,
                                                                      assistant: Any) -> None:
    otel = make_otel()
    try:
        thread = client.beta.threads.create()
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                              metadata={"scenario": "usage=70,7"})
        with suppress_instrumentation():  # as another process would: unseen here
            finished = client.beta.threads.runs.poll(run.id, thread_id=thread.id, poll_interval_ms=1)
        assert finished.status == "completed"
        otel.tracer_provider.shutdown()
        span = otel.one_run()
        assert span.attributes["openai.assistants.run.status"] == "completed"
        assert "error.type" not in span.attributes
        assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (70, 7)
        assert span.end_time <= max(finished.completed_at * 10**9, span.start_time) + 10**9
        assert otel.total("openai.assistants.runs", {"openai.assistants.run.status": "completed"}) == 1
        assert otel.total("gen_ai.client.token.usage", {"gen_ai.token.type": "input"}) == 1
        assert otel.total("openai.assistants.runs.active") == 0
    finally:
        otel.close()


def test_run_past_its_expiry_is_abandoned_on_later_activity(make_otel: Callable[..., Otel], client: Any,
                                                            assistant: Any) -> None:
    otel = make_otel()
    try:
        thread = client.beta.threads.create()
        run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                              metadata={"scenario": "hold=1"})
        tracker = otel.instrumentor.tracker
        state = tracker.state_for(run.id)
        tracker.sweep(now=state.deadline - 1)
        assert otel.run_spans() == []
        tracker.sweep(now=state.deadline + 1)
        assert otel.one_run().attributes["error.type"] == "abandoned"
        # a later retrieve of the abandoned run makes no second span
        client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        assert len(otel.run_spans()) == 1
    finally:
        otel.close()


def test_expiry_deadline_follows_expires_at(client: Any, assistant: Any, otel: Otel) -> None:
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                          metadata={"scenario": "hold=1;expires_in=5"})
    state = otel.instrumentor.tracker.state_for(run.id)
    # the run's server lifetime plus a minute, counted from when the client created it
    assert state.deadline == state.seen_at + (run.expires_at - run.created_at) + 60
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)


def test_tracked_runs_are_bounded(make_otel: Callable[..., Otel], client: Any, assistant: Any) -> None:
    otel = make_otel(max_tracked_runs=5)
    try:
        for _ in range(20):
            thread = client.beta.threads.create()
            client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                            metadata={"scenario": "hold=1"})
        assert otel.instrumentor.tracker.tracked == 5
        abandoned = [s for s in otel.run_spans() if s.attributes.get("error.type") == "abandoned"]
        assert len(abandoned) == 15
        assert otel.total("openai.assistants.runs.active") == 5
    finally:
        otel.close()
    assert len(otel.run_spans()) == 20  # uninstrument ends the rest: nothing left open


def live(kind: type) -> int:
    gc.collect()
    # type(), not isinstance(): the SDK's lazy module proxies import optional extras on __class__
    return sum(1 for obj in gc.get_objects() if issubclass(type(obj), kind))


def test_memory_stays_bounded_with_many_open_runs(make_otel: Callable[..., Otel], client: Any, assistant: Any) -> None:
    otel = make_otel(max_tracked_runs=50)
    try:
        for _ in range(300):  # each on a new thread, never polled again: 250 get evicted
            client.beta.threads.create_and_run(assistant_id=assistant.id, metadata={"scenario": "hold=1"})
        otel.exporter.clear()
        tracker = otel.instrumentor.tracker
        assert tracker.tracked == 50
        assert len(tracker.registry._ended) <= 50
        assert len(tracker.registry._deadlines) <= 2 * 50 + 64
        # nothing of an evicted run stays alive: neither its state nor its span
        assert live(RunState) == 50
        assert live(SdkSpan) == 50
        own_requests = tracker.own_requests
    finally:
        otel.close()
    assert own_requests.flush(10)  # look-ups still in flight once the shutdown's budget ran out
    assert live(RunState) == 0


def test_run_nests_under_the_app_span(otel: Otel, client: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    with otel.tracer.start_as_current_span("handle_request") as app_span:
        client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                 poll_interval_ms=1)
    run = otel.one_run()
    assert run.parent is not None and run.parent.span_id == app_span.get_span_context().span_id
    assert run.context.trace_id == app_span.get_span_context().trace_id


def test_spans_made_in_other_threads_nest_under_the_run(otel: Otel, client: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    runs = client.beta.threads.runs
    with otel.tracer.start_as_current_span("request"):
        run = runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=1,
                                   metadata={"scenario": "tools=1"})
    assert run.status == "requires_action"
    done: list[Any] = []

    def worker() -> None:  # a different thread, with no current span at all
        with otel.tracer.start_as_current_span("unrelated"):
            pass
        submitted = runs.submit_tool_outputs(run.id, thread_id=thread.id, tool_outputs=outputs_for(run))
        done.append(runs.poll(submitted.id, thread_id=thread.id, poll_interval_ms=1))

    other = threading.Thread(target=worker)
    other.start()
    other.join()
    assert done[0].status == "completed"
    span = otel.one_run()
    submit = otel.spans("submit_tool_outputs")[0]
    tool = otel.spans("execute_tool")[0]
    assert submit.parent.span_id == span.context.span_id
    assert tool.parent.span_id == span.context.span_id
    assert span.attributes["openai.assistants.run.status"] == "completed"


def test_tool_output_never_submitted(otel: Otel, client: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    runs = client.beta.threads.runs
    run = runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=1,
                               metadata={"scenario": "tools=2"})
    assert run.status == "requires_action"
    runs.cancel(run.id, thread_id=thread.id)
    run = runs.poll(run.id, thread_id=thread.id, poll_interval_ms=1)
    assert run.status == "cancelled"
    tools = otel.spans("execute_tool")
    assert len(tools) == 2
    assert all(t.attributes["error.type"] == "tool_output_not_submitted" for t in tools)
    assert all(t.status.status_code is StatusCode.ERROR for t in tools)
    assert otel.total("openai.assistants.tool_call.duration", {"error.type": "tool_output_not_submitted"}) == 2


def test_tool_span_times_the_apps_work(otel: Otel, client: Any, assistant: Any) -> None:
    import time

    thread = client.beta.threads.create()
    runs = client.beta.threads.runs
    run = runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=1,
                               metadata={"scenario": "tools=1"})
    time.sleep(0.2)  # the app's own tool work
    runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=thread.id, tool_outputs=outputs_for(run),
                                      poll_interval_ms=1)
    tool = otel.spans("execute_tool")[0]
    assert 0.2 <= (tool.end_time - tool.start_time) / 1e9 < 2


# The app instruments first and sets its tracer provider afterwards (the provider is then not the
# one instrument() saw); one run is created and never polled. Its span must still be exported.
PROVIDER_SET_LATER = """
import json, sys
import openai
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from otel_assistants import AssistantsInstrumentor

class Printed(SpanExporter):
    def export(self, spans):
        for span in spans:
            print(json.dumps({"name": span.name, "error.type": span.attributes.get("error.type")}), flush=True)
        return SpanExportResult.SUCCESS

AssistantsInstrumentor().instrument(run_steps="off")
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(Printed()))
trace.set_tracer_provider(provider)
client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-test", max_retries=0)
assistant = client.beta.assistants.create(model="gpt-4o", name="later")
thread = client.beta.threads.create()
client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, metadata={"scenario": "hold=1"})
if sys.argv[2] == "shutdown":
    provider.shutdown()
    print("SHUT DOWN", flush=True)
"""


@pytest.mark.parametrize("ending", ["shutdown", "exit"])
def test_provider_set_after_instrument_still_gets_open_runs(emulator: Any, tmp_path: Any, ending: str) -> None:
    import json

    result = run_script(tmp_path / "app.py", PROVIDER_SET_LATER, emulator.base_url, ending)
    assert result.returncode == 0, result.stderr
    assert "already shutdown" not in result.stderr
    exported = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    runs = [span for span in exported if span["name"] == "invoke_agent later"]
    assert runs == [{"name": "invoke_agent later", "error.type": "abandoned"}]
    if ending == "shutdown":  # ended before the provider shut down, not at exit
        assert result.stdout.index("invoke_agent later") < result.stdout.index("SHUT DOWN")
