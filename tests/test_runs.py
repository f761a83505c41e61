"""One run span per run, whichever SDK surface drove it, sync or async."""

from __future__ import annotations

from typing import Any

import pytest
from opentelemetry.trace import SpanKind, StatusCode

from .support.flows import ASYNC_FLOWS, SYNC_FLOWS, WEATHER_TOOL
from .support.telemetry import Otel


def retrieves_of(emulator: Any, thread_id: str, run_id: str) -> int:
    path = f"/threads/{thread_id}/runs/{run_id}"
    return sum(1 for r in emulator.requests if r.method == "GET" and r.path.rstrip("/") == path)


def assert_completed_run(otel: Otel, emulator: Any, run: Any, assistant: Any) -> None:
    span = otel.one_run()
    attributes = span.attributes
    assert span.name == f"invoke_agent {assistant.name}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert attributes["gen_ai.operation.name"] == "invoke_agent"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.agent.id"] == assistant.id
    assert attributes["gen_ai.agent.name"] == assistant.name
    assert attributes["gen_ai.conversation.id"] == run.thread_id
    assert attributes["openai.assistants.run.id"] == run.id
    assert attributes["openai.assistants.run.status"] == "completed"
    assert attributes["gen_ai.response.model"] == run.model
    assert attributes["gen_ai.usage.input_tokens"] == run.usage.prompt_tokens == 100
    assert attributes["gen_ai.usage.output_tokens"] == run.usage.completion_tokens == 20
    assert attributes["server.address"] == "127.0.0.1"
    assert attributes["server.port"] == emulator.port
    assert "error.type" not in attributes
    polls = retrieves_of(emulator, run.thread_id, run.id)
    assert polls >= 1
    assert attributes["openai.assistants.run.poll_count"] == polls
    statuses = [e.attributes["openai.assistants.run.status"] for e in span.events
                if e.name == "openai.assistants.run.status"]
    assert statuses[0] == "queued" and statuses[-1] == "completed"
    assert not otel.spans("retrieve_run"), "polls get no span of their own"


ASSISTANT = {"model": "gpt-4o", "name": "weather-bot", "tools": [WEATHER_TOOL]}


@pytest.mark.parametrize("flow", SYNC_FLOWS, ids=lambda f: f.__name__)
def test_sync_flow_gives_one_run_span(flow: Any, otel: Otel, client: Any, emulator: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    run = flow(client, assistant.id, thread.id, "polls=3")
    assert run.status == "completed"
    assert_completed_run(otel, emulator, run, assistant)


@pytest.mark.parametrize("flow", ASYNC_FLOWS, ids=lambda f: f.__name__)
async def test_async_flow_gives_one_run_span(flow: Any, otel: Otel, client: Any, aclient: Any, emulator: Any,
                                             assistant: Any) -> None:
    thread = await aclient.beta.threads.create()
    run = await flow(aclient, assistant.id, thread.id, "polls=3")
    assert run.status == "completed"
    assert_completed_run(otel, emulator, run, assistant)


@pytest.mark.parametrize("flow", SYNC_FLOWS, ids=lambda f: f.__name__)
def test_sync_tool_flow(flow: Any, otel: Otel, client: Any, emulator: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    run = flow(client, assistant.id, thread.id, "tools=2;polls=2")
    assert run.status == "completed"
    assert_tool_round(otel, emulator, run, assistant)


@pytest.mark.parametrize("flow", ASYNC_FLOWS, ids=lambda f: f.__name__)
async def test_async_tool_flow(flow: Any, otel: Otel, aclient: Any, emulator: Any, assistant: Any) -> None:
    thread = await aclient.beta.threads.create()
    run = await flow(aclient, assistant.id, thread.id, "tools=2;polls=2")
    assert run.status == "completed"
    assert_tool_round(otel, emulator, run, assistant)


def assert_tool_round(otel: Otel, emulator: Any, run: Any, assistant: Any) -> None:
    assert_completed_run(otel, emulator, run, assistant)
    span = otel.one_run()
    tools = otel.spans("execute_tool")
    assert len(tools) == 2
    for tool in tools:
        assert tool.name == "execute_tool get_weather"
        assert tool.kind is SpanKind.INTERNAL
        assert tool.parent is not None and tool.parent.span_id == span.context.span_id
        assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
        assert tool.attributes["gen_ai.tool.name"] == "get_weather"
        assert tool.attributes["gen_ai.tool.type"] == "function"
        assert tool.attributes["gen_ai.tool.call.id"].startswith("call_")
        assert tool.status.status_code is StatusCode.UNSET
    assert len({t.attributes["gen_ai.tool.call.id"] for t in tools}) == 2
    submits = otel.spans("submit_tool_outputs")
    assert len(submits) == 1
    assert submits[0].parent.span_id == span.context.span_id
    assert submits[0].kind is SpanKind.CLIENT
    assert submits[0].attributes["openai.assistants.run.id"] == run.id
    # the tool spans end when the outputs are sent, i.e. before the submit request's span ends
    assert all(t.end_time <= submits[0].end_time for t in tools)
    points = otel.points("openai.assistants.tool_call.duration")
    assert sum(p.count for p in points) == 2
    assert all(p.attributes == {"gen_ai.tool.name": "get_weather", "gen_ai.tool.type": "function"}
               for p in points)


def test_cancel(otel: Otel, client: Any, emulator: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    runs = client.beta.threads.runs
    run = runs.create(thread_id=thread.id, assistant_id=assistant.id, metadata={"scenario": "hold=1"})
    run = runs.retrieve(run.id, thread_id=thread.id)
    assert run.status == "in_progress"
    run = runs.cancel(run.id, thread_id=thread.id)
    while run.status not in ("cancelled", "completed", "failed", "expired"):
        run = runs.retrieve(run.id, thread_id=thread.id)
    assert run.status == "cancelled"
    assert_cancelled_run(otel, assistant)


def assert_cancelled_run(otel: Otel, assistant: Any) -> None:
    """Cancelled is not an error; the cancel request's span is the run span's child; one run counted."""
    span = otel.one_run()
    assert span.attributes["openai.assistants.run.status"] == "cancelled"
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in span.attributes
    cancel = otel.spans("cancel_run")
    assert len(cancel) == 1 and cancel[0].parent.span_id == span.context.span_id
    points = otel.points("openai.assistants.runs")
    assert [(p.attributes, p.value) for p in points] == [({
        "openai.assistants.run.status": "cancelled", "gen_ai.agent.name": assistant.name,
        "gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o",
    }, 1)]


async def test_async_cancel(otel: Otel, aclient: Any, assistant: Any) -> None:
    runs = aclient.beta.threads.runs
    thread = await aclient.beta.threads.create()
    run = await runs.create(thread_id=thread.id, assistant_id=assistant.id, metadata={"scenario": "hold=1"})
    run = await runs.cancel(run.id, thread_id=thread.id)
    while run.status != "cancelled":
        run = await runs.retrieve(run.id, thread_id=thread.id)
    assert_cancelled_run(otel, assistant)


REQUEST_ATTRIBUTES = ("gen_ai.request.model", "gen_ai.request.temperature", "gen_ai.request.top_p",
                      "gen_ai.request.max_tokens")


def invoke_agent_durations(otel: Otel) -> list[dict[str, Any]]:
    """Attributes of the invoke_agent points of gen_ai.client.operation.duration, one run each."""
    points = [p for p in otel.points("gen_ai.client.operation.duration")
              if p.attributes["gen_ai.operation.name"] == "invoke_agent"]
    assert [p.count for p in points] == [1]
    return [p.attributes for p in points]


def test_run_request_attributes(otel: Otel, client: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, model="gpt-4o-mini", temperature=0.3, top_p=0.9,
        max_completion_tokens=77, poll_interval_ms=1)
    assert run.status == "completed" and run.model == "gpt-4o-mini"
    attributes = otel.one_run().attributes
    assert {k: attributes[k] for k in REQUEST_ATTRIBUTES} == {
        "gen_ai.request.model": "gpt-4o-mini", "gen_ai.request.temperature": 0.3, "gen_ai.request.top_p": 0.9,
        "gen_ai.request.max_tokens": 77,
    }
    assert type(attributes["gen_ai.request.max_tokens"]) is int
    assert attributes["gen_ai.response.model"] == "gpt-4o-mini"
    assert invoke_agent_durations(otel) == [{
        "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini", "server.address": "127.0.0.1",
    }]


def test_unset_request_arguments_add_no_attributes(otel: Otel, client: Any, assistant: Any) -> None:
    """The helper passes the SDK's NOT_GIVEN / omit sentinel for each: nothing was requested, nothing is recorded,
    even though the run reports its defaults (temperature and top_p 1.0, the assistant's model)."""
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   poll_interval_ms=1)
    assert run.status == "completed"
    assert (run.model, run.temperature, run.top_p, run.max_completion_tokens) == ("gpt-4o", 1.0, 1.0, None)
    attributes = otel.one_run().attributes
    assert [k for k in REQUEST_ATTRIBUTES if k in attributes] == []
    assert attributes["gen_ai.response.model"] == "gpt-4o"
    assert invoke_agent_durations(otel) == [{
        "gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai", "server.address": "127.0.0.1",
    }]
