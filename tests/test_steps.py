"""Run step spans and built-in tool spans, from each source, never twice."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from .support.flows import WEATHER_TOOL, create_and_poll
from .support.telemetry import Otel

# Its runs may use code_interpreter: their steps can say more than the run's other spans.
ASSISTANT = {"model": "gpt-4o", "name": "stepper", "tools": [WEATHER_TOOL, {"type": "code_interpreter"}]}


@pytest.fixture
def plain_assistant(client: Any) -> Any:
    return client.beta.assistants.create(model="gpt-4o", name="plain", tools=[WEATHER_TOOL])


def step_requests(emulator: Any, run: Any) -> int:
    path = f"/threads/{run.thread_id}/runs/{run.id}/steps"
    return sum(1 for r in emulator.requests if r.method == "GET" and r.path.rstrip("/") == path)


def server_steps(client: Any, run: Any) -> list[Any]:
    """One page, one request (auto-pagination in early SDK releases asks once more)."""
    return list(client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, order="asc").data)


def test_fetch_describes_the_steps_of_a_polled_run(otel: Otel, client: Any, emulator: Any, assistant: Any) -> None:
    emulator.clear_requests()
    run = create_and_poll(client, assistant.id, client.beta.threads.create().id, "tools=1;polls=2")
    assert run.status == "completed"
    otel.settle()  # the fetch is made off the app's path
    assert step_requests(emulator, run) == 1  # the one documented extra request
    assert not otel.spans("list_run_steps"), "the fetch is the instrumentation's own, not the app's"
    operations = {p.attributes["gen_ai.operation.name"] for p in otel.points("gen_ai.client.operation.duration")}
    assert "list_run_steps" not in operations
    run_span = otel.one_run()
    spans = {s.attributes["openai.assistants.run_step.id"]: s for s in otel.spans("run_step")}
    expected = server_steps(client, run)
    assert sorted(s.name for s in spans.values()) == ["run_step message_creation", "run_step tool_calls"]
    assert set(spans) == {step.id for step in expected}
    for step in expected:
        span = spans[step.id]
        assert span.kind is SpanKind.INTERNAL
        assert span.parent.span_id == run_span.context.span_id
        assert span.attributes["openai.assistants.run_step.id"] == step.id
        assert span.attributes["openai.assistants.run_step.type"] == step.type
        assert span.attributes["openai.assistants.run_step.status"] == "completed"
        # the server's whole-second times, kept inside the run's span
        assert span.start_time == max(step.created_at * 10**9, run_span.start_time)
        assert span.end_time == max(step.completed_at * 10**9, span.start_time)
        assert span.attributes["gen_ai.usage.input_tokens"] == step.usage.prompt_tokens
    durations = {(p.attributes["openai.assistants.run_step.type"], p.attributes["openai.assistants.run_step.status"]):
                 p.count for p in otel.points("openai.assistants.run_step.duration")}
    assert durations == {("tool_calls", "completed"): 1, ("message_creation", "completed"): 1}
    assert {p.unit for p in otel.points("openai.assistants.run_step.duration")} == {"s"}


async def test_fetch_with_the_async_client(otel: Otel, aclient: Any, emulator: Any, assistant: Any) -> None:
    thread = await aclient.beta.threads.create()
    emulator.clear_requests()
    run = await aclient.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                         poll_interval_ms=1)
    otel.settle()
    assert step_requests(emulator, run) == 1
    assert [s.name for s in otel.spans("run_step")] == ["run_step message_creation"]
    assert otel.spans("run_step")[0].parent.span_id == otel.one_run().context.span_id


@pytest.mark.parametrize("scenario", ["polls=2", "tools=1"])
def test_no_fetch_for_a_run_without_builtin_tools(scenario: str, otel: Otel, client: Any, emulator: Any,
                                                  plain_assistant: Any) -> None:
    """Its steps would tell nothing the run's spans do not: no request, no step spans."""
    emulator.clear_requests()
    run = create_and_poll(client, plain_assistant.id, client.beta.threads.create().id, scenario)
    assert run.status == "completed"
    assert step_requests(emulator, run) == 0
    assert otel.spans("run_step") == []
    assert otel.points("openai.assistants.instrumentation.requests") == []


def test_fetch_is_off_the_apps_path(otel: Otel, client: Any, emulator: Any, assistant: Any) -> None:
    """The app's call returns before the instrumentation asks for the steps."""
    release = threading.Event()

    def stall_step_listings(exchange: Any, data: Any) -> Any:
        if exchange.stage == "request" and exchange.path.endswith("/steps"):
            release.wait(10)
        return data

    emulator.mutate = stall_step_listings
    try:
        run = create_and_poll(client, assistant.id, client.beta.threads.create().id, "polls=2")
        assert run.status == "completed"  # returned while the step listing is held
        assert otel.exporter.get_finished_spans()[-1].name == "invoke_agent stepper"
        assert not [s for s in otel.exporter.get_finished_spans() if s.name.startswith("run_step")]
    finally:
        release.set()
        emulator.mutate = None
    assert [s.name for s in otel.spans("run_step")] == ["run_step message_creation"]
    assert otel.total("openai.assistants.instrumentation.requests",
                      {"openai.assistants.instrumentation.request.type": "step_fetch",
                       "openai.assistants.instrumentation.request.outcome": "sent"}) == 1


def test_fetch_reads_every_page(otel: Otel, client: Any, emulator: Any, assistant: Any) -> None:
    emulator.clear_requests()
    run = create_and_poll(client, assistant.id, client.beta.threads.create().id, "tools=1;rounds=101")
    assert run.status == "completed"
    assert len(otel.spans("run_step")) == 102
    assert step_requests(emulator, run) == 2  # 100 per page


@pytest.mark.parametrize(("builtin", "tool_type"), [("code_interpreter", "extension"), ("file_search", "datastore")])
def test_builtin_tools_sit_under_their_step(builtin: str, tool_type: str, otel: Otel, client: Any,
                                            assistant: Any) -> None:
    create_and_poll(client, assistant.id, client.beta.threads.create().id, f"builtin={builtin}")
    tool_step = otel.spans("run_step tool_calls")
    assert len(tool_step) == 1
    tools = otel.spans(f"execute_tool {builtin}")
    assert len(tools) == 1
    tool = tools[0]
    assert tool.parent.span_id == tool_step[0].context.span_id
    assert (tool.start_time, tool.end_time) == (tool_step[0].start_time, tool_step[0].end_time)
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.name"] == builtin
    assert tool.attributes["gen_ai.tool.type"] == tool_type
    assert tool.attributes["gen_ai.tool.call.id"].startswith("call_")
    if builtin == "file_search":
        assert tool.attributes["openai.assistants.file_search.result_count"] == 2
    assert "gen_ai.tool.call.result" not in tool.attributes and "gen_ai.tool.call.arguments" not in tool.attributes
    points = [p for p in otel.points("openai.assistants.tool_call.duration")
              if p.attributes["gen_ai.tool.name"] == builtin]
    assert [(p.attributes, p.count) for p in points] == [
        ({"gen_ai.tool.name": builtin, "gen_ai.tool.type": tool_type}, 1)]


def test_failed_step(otel: Otel, client: Any, assistant: Any) -> None:
    create_and_poll(client, assistant.id, client.beta.threads.create().id, "outcome=failed;error_code=server_error")
    failed = [s for s in otel.spans("run_step") if s.attributes.get("openai.assistants.run_step.status") == "failed"]
    assert len(failed) == 1
    assert failed[0].attributes["error.type"] == "server_error"
    assert failed[0].status.status_code is StatusCode.ERROR


def test_off_makes_no_step_spans_and_no_request(make_otel: Callable[..., Otel], client: Any, emulator: Any,
                                                assistant: Any) -> None:
    otel = make_otel(run_steps="off")
    try:
        emulator.clear_requests()
        run = create_and_poll(client, assistant.id, client.beta.threads.create().id, "tools=1")
        server_steps(client, run)  # even the app's own listing makes none
        assert step_requests(emulator, run) == 1  # that is the app's
        assert otel.spans("run_step") == []
        assert otel.points("openai.assistants.run_step.duration") == []
        assert len(otel.spans("list_run_steps")) == 1
    finally:
        otel.close()


def test_observed_uses_only_what_the_app_fetches(make_otel: Callable[..., Otel], client: Any, emulator: Any,
                                                 assistant: Any) -> None:
    otel = make_otel(run_steps="observed")
    try:
        emulator.clear_requests()
        run = create_and_poll(client, assistant.id, client.beta.threads.create().id, "tools=1")
        assert step_requests(emulator, run) == 0
        assert otel.spans("run_step") == []
        steps = server_steps(client, run)
        server_steps(client, run)  # a second listing adds nothing
        client.beta.threads.runs.steps.retrieve(steps[0].id, thread_id=run.thread_id, run_id=run.id)
        spans = otel.spans("run_step")
        assert sorted(s.attributes["openai.assistants.run_step.id"] for s in spans) == sorted(s.id for s in steps)
        run_span = otel.one_run()
        assert all(s.parent.span_id == run_span.context.span_id for s in spans)
        listing = otel.spans("list_run_steps")
        assert len(listing) == 2 and listing[0].parent.span_id == run_span.context.span_id
    finally:
        otel.close()


def test_fetch_and_app_listing_never_duplicate(otel: Otel, client: Any, assistant: Any) -> None:
    run = create_and_poll(client, assistant.id, client.beta.threads.create().id, "tools=1")
    server_steps(client, run)
    ids = [s.attributes["openai.assistants.run_step.id"] for s in otel.spans("run_step")]
    assert len(ids) == 2 and len(set(ids)) == 2


def test_fetch_failure_never_reaches_the_app(otel: Otel, client: Any, emulator: Any, assistant: Any,
                                             monkeypatch: Any) -> None:
    from otel_assistants.tracker import RunTracker

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("step listing broke")

    monkeypatch.setattr(RunTracker, "steps_seen", broken)
    run = create_and_poll(client, assistant.id, client.beta.threads.create().id, "tools=1")
    assert run.status == "completed"
    assert otel.one_run().attributes["openai.assistants.run.status"] == "completed"
