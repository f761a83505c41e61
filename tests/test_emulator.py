"""The Assistants API emulator, driven over real HTTP by the real `openai` SDK (no mocks)."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai import AssistantEventHandler

from otel_assistants.attributes import FILE_SEARCH_CONTENT
from otel_assistants.emulator import Emulator, ScenarioError, parse_scenario

from .support.flows import TERMINAL, vector_stores

REPO = Path(__file__).resolve().parents[1]
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "lookup_weather", "parameters": {"type": "object", "properties": {}}},
}


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(poll_after_ms=1) as emu:
        yield emu


@pytest.fixture
def clean_emulator(emulator: Emulator) -> Emulator:
    """The module's emulator with no default scenario and no requests recorded yet."""
    emulator.default_scenario = ""
    emulator.clear_requests()
    return emulator


@pytest.fixture(scope="module")
def shared_client(emulator: Emulator) -> Iterator[openai.OpenAI]:
    # One client for the module: building one costs ~0.1 s (TLS setup) and it keeps its connections.
    with openai.OpenAI(base_url=emulator.base_url, api_key="test") as client:
        yield client


@pytest.fixture
def client(clean_emulator: Emulator, shared_client: openai.OpenAI) -> openai.OpenAI:
    return shared_client


ASSISTANT = {"model": "gpt-4o-mini", "name": "helper", "tools": [WEATHER_TOOL]}


@pytest.fixture
def thread(client: openai.OpenAI) -> Any:
    return client.beta.threads.create(messages=[{"role": "user", "content": "What's the weather?"}])


def scenario(text: str) -> dict[str, str]:
    return {"scenario": text}



def retrieve_until(client: openai.OpenAI, run: Any, statuses: set[str] = TERMINAL) -> Any:
    # Old SDKs' poll helpers do not treat `incomplete` as terminal, so poll by hand where it matters.
    for _ in range(50):
        run = client.beta.threads.runs.retrieve(thread_id=run.thread_id, run_id=run.id)
        if run.status in statuses:
            return run
    raise AssertionError(f"run stayed {run.status}")


def requests_to(emu: Emulator, method: str, pattern: str) -> list[Any]:
    return [r for r in emu.requests if r.method == method and re.fullmatch(pattern, r.path)]


def raw_request(emu: Emulator, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(emu.url + path, data=body, method=method)
    request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


class Recorder(AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.text: list[str] = []

    def on_event(self, event: Any) -> None:
        self.events.append(event.event)

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self.text.append(delta.value)


# --- scenario grammar -----------------------------------------------------------------------


def test_scenario_grammar() -> None:
    parsed = parse_scenario(" tools=2 ; rounds=3;usage=7,3;outcome=failed;error_code=invalid_prompt; ")
    assert (parsed.tools, parsed.tool_rounds, parsed.usage, parsed.outcome) == (2, 3, (7, 3), "failed")
    assert parsed.error_code == "invalid_prompt"
    assert parse_scenario("").tool_rounds == 0
    assert parse_scenario("tools=1").tool_rounds == 1
    for bad in ("colour=red", "polls=0", "outcome=maybe", "usage=1", "hold=yes", "rounds=2", "tools"):
        with pytest.raises(ScenarioError):
            parse_scenario(bad)


def test_invalid_default_scenario_is_rejected_at_once(clean_emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="unknown scenario key"):
        clean_emulator.default_scenario = "colour=red"
    assert clean_emulator.default_scenario == ""


# --- polled runs ----------------------------------------------------------------------------


def test_create_and_poll_completes_with_usage_and_message(
    clean_emulator: Emulator, client: openai.OpenAI, assistant: Any, thread: Any
) -> None:
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("usage=30,12;text=Sunny.")
    )
    assert run.status == "completed"
    assert run.model == "gpt-4o-mini"
    assert run.tools[0].function.name == "lookup_weather"
    assert (run.usage.prompt_tokens, run.usage.completion_tokens, run.usage.total_tokens) == (30, 12, 42)
    assert run.started_at is not None and run.completed_at is not None
    assert run.expires_at == run.created_at + 600
    messages = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id)
    [message] = messages.data
    assert (message.role, message.assistant_id, message.status) == ("assistant", assistant.id, "completed")
    assert message.content[0].text.value == "Sunny."
    # polls=1: the create answers `queued` and the first retrieve answers the outcome.
    assert len(requests_to(clean_emulator, "GET", r"/threads/[^/]+/runs/[^/]+")) == 1
    headers = client.beta.threads.runs.with_raw_response.retrieve(thread_id=thread.id, run_id=run.id).headers
    assert headers["openai-poll-after-ms"] == "1"
    assert headers["x-request-id"].startswith("req_")


def test_polls_and_model_override(clean_emulator: Emulator, client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    run = client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, model="gpt-4.1", metadata=scenario("polls=3")
    )
    assert (run.status, run.model) == ("queued", "gpt-4.1")
    statuses = [client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id).status for _ in range(3)]
    assert statuses == ["in_progress", "in_progress", "completed"]


def test_assistant_and_default_scenarios(clean_emulator: Emulator, client: openai.OpenAI, thread: Any) -> None:
    clean_emulator.default_scenario = "outcome=failed"
    plain = client.beta.assistants.create(model="gpt-4o")
    scripted = client.beta.assistants.create(model="gpt-4o", metadata=scenario("outcome=expired"))
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=plain.id)
    assert run.status == "failed"
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=scripted.id)
    assert run.status == "expired"
    # The run's own metadata wins over both.
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=scripted.id, metadata=scenario(""))
    assert run.status == "completed"


def test_tool_rounds_round_trip(clean_emulator: Emulator, client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("tools=2;rounds=2;polls=2")
    )
    rounds = 0
    while run.status == "requires_action":
        rounds += 1
        calls = run.required_action.submit_tool_outputs.tool_calls
        assert [call.function.name for call in calls] == ["lookup_weather"] * 2
        assert all(json.loads(call.function.arguments)["city"] for call in calls)
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            thread_id=thread.id,
            run_id=run.id,
            tool_outputs=[{"tool_call_id": call.id, "output": f"sunny {rounds}"} for call in calls],
        )
    assert (rounds, run.status, run.required_action) == (2, "completed", None)
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id, order="asc").data
    assert [step.type for step in steps] == ["tool_calls", "tool_calls", "message_creation"]
    assert all(step.status == "completed" for step in steps)
    assert [call.function.output for call in steps[1].step_details.tool_calls] == ["sunny 2", "sunny 2"]
    # Step usage adds up to the run's.
    assert sum(step.usage.prompt_tokens for step in steps) == run.usage.prompt_tokens == 100
    assert sum(step.usage.completion_tokens for step in steps) == run.usage.completion_tokens == 20
    assert steps[2].step_details.message_creation.message_id in {
        message.id for message in client.beta.threads.messages.list(thread_id=thread.id)
    }


def test_submit_tool_outputs_is_validated(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("tools=2;tool_name=search")
    )
    first = run.required_action.submit_tool_outputs.tool_calls[0]
    assert first.function.name == "search"
    with pytest.raises(openai.BadRequestError, match="Expected tool outputs"):
        client.beta.threads.runs.submit_tool_outputs(
            thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": first.id, "output": "x"}]
        )
    client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    with pytest.raises(openai.BadRequestError, match="do not accept tool outputs"):
        client.beta.threads.runs.submit_tool_outputs(
            thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": first.id, "output": "x"}]
        )


def test_failed_run_carries_error_code(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id,
        assistant_id=assistant.id,
        metadata=scenario("tools=1;outcome=failed;error_code=rate_limit_exceeded"),
    )
    run = client.beta.threads.runs.submit_tool_outputs_and_poll(
        thread_id=thread.id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": run.required_action.submit_tool_outputs.tool_calls[0].id, "output": "1"}],
    )
    assert run.status == "failed"
    assert run.last_error.code == "rate_limit_exceeded"
    assert run.failed_at is not None and run.usage is None
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id, order="asc").data
    assert [step.status for step in steps] == ["completed", "failed"]
    assert steps[1].last_error.code == "rate_limit_exceeded"


def test_outcome_expired(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("outcome=expired")
    )
    assert (run.status, run.usage, run.failed_at) == ("expired", None, None)
    [step] = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data
    assert step.status == "expired" and step.expired_at is not None


def test_run_expires_when_left_waiting(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("tools=1;expires_in=2")
    )
    assert run.status == "requires_action"  # whole seconds: two leave at least one to see it waiting
    assert run.expires_at == run.created_at + 2
    time.sleep(max(0.0, run.expires_at - time.time()) + 0.05)
    run = client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
    assert (run.status, run.expires_at, run.required_action) == ("expired", run.created_at + 2, None)
    [step] = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data
    assert step.status == "expired"


def test_cancel_held_run(clean_emulator: Emulator, client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("hold=1"))
    for _ in range(3):
        assert client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id).status == "in_progress"
    run = client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    assert run.status == "cancelling"
    run = client.beta.threads.runs.poll(thread_id=thread.id, run_id=run.id)
    assert run.status == "cancelled" and run.cancelled_at is not None
    with pytest.raises(openai.BadRequestError, match="Cannot cancel run with status 'cancelled'"):
        client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)


def test_outcome_cancelled(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    run = client.beta.threads.runs.create(
        thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("outcome=cancelled")
    )
    assert client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id).status == "cancelling"
    run = client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run.id)
    assert run.status == "cancelled"
    [step] = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data
    assert step.status == "cancelled"


def test_incomplete_run(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    run = client.beta.threads.runs.create(
        thread_id=thread.id,
        assistant_id=assistant.id,
        metadata=scenario("outcome=incomplete;incomplete_reason=max_prompt_tokens;usage=5,5"),
    )
    run = retrieve_until(client, run)
    assert run.status == "incomplete"
    assert run.incomplete_details.reason == "max_prompt_tokens"
    assert run.usage.total_tokens == 10
    [message] = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id).data
    assert message.status == "incomplete" and message.incomplete_details.reason == "max_tokens"


def test_second_active_run_is_rejected(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("hold=1"))
    with pytest.raises(openai.BadRequestError) as caught:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert caught.value.body["message"] == f"Thread {thread.id} already has an active run {run.id}."
    assert caught.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError, match="while a run"):
        client.beta.threads.messages.create(thread_id=thread.id, role="user", content="more")
    client.beta.threads.runs.cancel(thread_id=thread.id, run_id=run.id)
    client.beta.threads.runs.poll(thread_id=thread.id, run_id=run.id)
    assert client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id).status == "queued"


def test_http_status_on_create(clean_emulator: Emulator, client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    no_retries = client.with_options(max_retries=0)
    with pytest.raises(openai.InternalServerError) as caught:
        no_retries.beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("http_status=500")
        )
    assert caught.value.status_code == 500
    with pytest.raises(openai.NotFoundError):
        no_retries.beta.threads.create_and_run(assistant_id=assistant.id, metadata=scenario("http_status=404"))
    # With retries, each attempt is answered the same way.
    with pytest.raises(openai.RateLimitError):
        client.with_options(max_retries=1).beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("http_status=429")
        )
    statuses = [r.status for r in clean_emulator.requests if r.method == "POST" and r.path.endswith("/runs")]
    assert statuses == [500, 404, 429, 429]
    assert client.beta.threads.runs.list(thread_id=thread.id).data == []


def test_poll_errors_are_retried_by_the_sdk(clean_emulator: Emulator, client: openai.OpenAI, assistant: Any,
                                            thread: Any) -> None:
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("poll_errors=2;polls=2")
    )
    assert run.status == "completed"
    statuses = [r.status for r in requests_to(clean_emulator, "GET", rf"/threads/{thread.id}/runs/{run.id}")]
    assert statuses == [500, 500, 200, 200]


def test_unknown_scenario_key_is_a_bad_request(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    with pytest.raises(openai.BadRequestError, match="unknown scenario key 'colour'"):
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("colour=red"))


def test_run_steps_with_builtin_tools(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("builtin=file_search")
    )
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id)
    assert [step.type for step in steps.data] == ["message_creation", "tool_calls"]  # newest first
    [call] = steps.data[1].step_details.tool_calls
    search = call.file_search if isinstance(call.file_search, dict) else call.file_search.model_dump()
    assert len(search["results"]) == 2
    assert all("content" not in result or result["content"] is None for result in search["results"])
    # Old SDKs have no `include` argument; the query parameter is the same.
    detailed = client.beta.threads.runs.steps.retrieve(
        thread_id=thread.id,
        run_id=run.id,
        step_id=steps.data[1].id,
        extra_query={"include": [FILE_SEARCH_CONTENT]},
    )
    [call] = detailed.step_details.tool_calls
    search = call.file_search if isinstance(call.file_search, dict) else call.file_search.model_dump()
    assert search["results"][0]["content"][0]["text"]

    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, metadata=scenario("builtin=code_interpreter")
    )
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id, order="asc").data
    interpreter = steps[0].step_details.tool_calls[0].code_interpreter
    assert interpreter.input and interpreter.outputs[0].type == "logs"


def test_message_auto_pagination(clean_emulator: Emulator, client: openai.OpenAI, thread: Any) -> None:
    for index in range(44):
        client.beta.threads.messages.create(thread_id=thread.id, role="user", content=f"message {index}")
    clean_emulator.clear_requests()
    first = client.beta.threads.messages.list(thread_id=thread.id, limit=20)
    assert len(first.data) == 20 and first.has_more
    contents = [message.content[0].text.value for message in first]
    assert len(contents) == 45
    assert contents[0] == "message 43"  # newest first
    assert contents[-1] == "What's the weather?"
    assert len(set(contents)) == 45
    pages = requests_to(clean_emulator, "GET", rf"/threads/{thread.id}/messages")
    assert len(pages) >= 3  # old SDKs also fetch a final empty page
    ascending = client.beta.threads.messages.list(thread_id=thread.id, limit=5, order="asc")
    page = client.beta.threads.messages.list(thread_id=thread.id, limit=2, order="asc", before=ascending.data[3].id)
    assert [message.id for message in page.data] == [message.id for message in ascending.data[1:3]]


# --- streams --------------------------------------------------------------------------------


def test_stream_with_event_handler(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    handler = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id,
        assistant_id=assistant.id,
        event_handler=handler,
        metadata=scenario("deltas=4;text=Streams work fine."),
    ) as stream:
        stream.until_done()
    assert "".join(handler.text) == "Streams work fine."
    assert handler.events == [
        "thread.run.created",
        "thread.run.queued",
        "thread.run.in_progress",
        "thread.run.step.created",
        "thread.run.step.in_progress",
        "thread.message.created",
        "thread.message.in_progress",
        *["thread.message.delta"] * 4,
        "thread.message.completed",
        "thread.run.step.completed",
        "thread.run.completed",
    ]
    final = handler.get_final_run()
    run = client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=final.id)
    assert (run.status, run.usage.total_tokens) == ("completed", final.usage.total_tokens)
    [step] = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id).data
    assert step.status == "completed"
    [message] = client.beta.threads.messages.list(thread_id=thread.id, run_id=run.id).data
    assert message.id == step.step_details.message_creation.message_id
    assert message.content[0].text.value == "Streams work fine."


def test_streamed_tool_round(client: openai.OpenAI, assistant: Any) -> None:
    handler = Recorder()
    with client.beta.threads.create_and_run_stream(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Weather in two cities?"}]},
        event_handler=handler,
        metadata=scenario("tools=2;builtin=code_interpreter"),
    ) as stream:
        stream.until_done()
    assert handler.events[:2] == ["thread.created", "thread.run.created"]
    assert handler.events[-1] == "thread.run.requires_action"
    assert handler.events.count("thread.run.step.delta") == 2 + 4
    run = handler.current_run
    calls = run.required_action.submit_tool_outputs.tool_calls
    handler = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
        thread_id=run.thread_id,
        run_id=run.id,
        tool_outputs=[{"tool_call_id": call.id, "output": "warm"} for call in calls],
        event_handler=handler,
    ) as stream:
        stream.until_done()
    assert handler.events[:3] == ["thread.run.queued", "thread.run.in_progress", "thread.run.step.completed"]
    assert handler.events[-1] == "thread.run.completed"
    assert "".join(handler.text) == "Hello from the emulator."
    steps = client.beta.threads.runs.steps.list(thread_id=run.thread_id, run_id=run.id, order="asc").data
    assert [step.status for step in steps] == ["completed"] * 3
    assert [call.function.output for call in steps[1].step_details.tool_calls] == ["warm", "warm"]


def test_cut_stream_ends_early(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    handler = Recorder()
    with client.beta.threads.runs.stream(
        thread_id=thread.id, assistant_id=assistant.id, event_handler=handler, metadata=scenario("cut_after=4")
    ) as stream:
        stream.until_done()
    assert len(handler.events) == 4
    assert handler.current_run.status == "in_progress"
    # The run itself went on: later reads see where it got to.
    run = client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=handler.current_run.id)
    assert run.status == "completed"

    handler = Recorder()
    with (
        pytest.raises(Exception, match="incomplete chunked read"),
        client.beta.threads.runs.stream(
            thread_id=thread.id,
            assistant_id=assistant.id,
            event_handler=handler,
            metadata=scenario("cut_after=6;cut_mode=abort"),
        ) as stream,
    ):
        stream.until_done()
    assert len(handler.events) == 6


def test_stream_error_event(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    handler = Recorder()
    with (
        pytest.raises(openai.APIError) as caught,
        client.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id=assistant.id, event_handler=handler, metadata=scenario("stream_error=1")
        ) as stream,
    ):
        stream.until_done()
    assert caught.value.body["type"] == "server_error"
    assert handler.events[-1] == "thread.run.in_progress"
    run = client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=handler.current_run.id)
    assert (run.status, run.last_error.code) == ("failed", "server_error")


def test_held_stream_ends_when_cancelled(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    handler = Recorder()

    def consume() -> None:
        with client.beta.threads.runs.stream(
            thread_id=thread.id, assistant_id=assistant.id, event_handler=handler, metadata=scenario("hold=1")
        ) as stream:
            stream.until_done()

    reader = threading.Thread(target=consume)
    reader.start()
    deadline = time.time() + 5
    while "thread.run.in_progress" not in handler.events and time.time() < deadline:
        time.sleep(0.01)
    client.beta.threads.runs.cancel(thread_id=thread.id, run_id=handler.current_run.id)
    reader.join(timeout=5)
    assert not reader.is_alive()
    assert handler.events[-2:] == ["thread.run.cancelling", "thread.run.cancelled"]


def test_streamed_state_matches_a_concurrent_reader(client: openai.OpenAI, assistant: Any, thread: Any) -> None:
    handler = Recorder()
    seen: list[str] = []
    with client.beta.threads.runs.stream(
        thread_id=thread.id,
        assistant_id=assistant.id,
        event_handler=handler,
        metadata=scenario("deltas=3;delta_delay_ms=30"),
    ) as stream:
        for event in stream:
            if event.event == "thread.message.delta" and not seen:
                run_id = handler.current_run.id
                seen.append(client.beta.threads.runs.retrieve(thread_id=thread.id, run_id=run_id).status)
    assert seen == ["in_progress"]
    assert handler.current_run.status == "completed"


async def test_async_client(clean_emulator: Emulator, assistant: Any) -> None:
    client = openai.AsyncOpenAI(base_url=clean_emulator.base_url, api_key="test")
    run = await client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"messages": [{"role": "user", "content": "Hi"}]},
        metadata=scenario("polls=2;usage=9,1"),
    )
    assert (run.status, run.usage.total_tokens) == ("completed", 10)
    text = []
    async with client.beta.threads.runs.stream(thread_id=run.thread_id, assistant_id=assistant.id) as stream:
        async for event in stream:
            if event.event == "thread.message.delta":
                text.append(event.data.delta.content[0].text.value)
    assert "".join(text) == "Hello from the emulator."
    await client.close()


# --- other clients and resources --------------------------------------------------------------


def test_azure_client(clean_emulator: Emulator, closing: Any) -> None:
    client = closing(openai.AzureOpenAI(azure_endpoint=clean_emulator.url, api_version="2024-05-01-preview",
                                        api_key="x"))
    assistant = client.beta.assistants.create(model="my-deployment")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Hi"}]}
    )
    assert (run.status, run.model) == ("completed", "my-deployment")
    assert [r.path for r in clean_emulator.requests][:2] == ["/assistants", "/threads/runs"]
    assert all(r.status == 200 for r in clean_emulator.requests)


def test_vector_store_and_file_upload(client: openai.OpenAI, thread: Any) -> None:
    stores = vector_stores(client)
    uploaded = client.files.create(file=("notes.txt", b"The office opens at 9."), purpose="assistants")
    assert (uploaded.filename, uploaded.bytes, uploaded.purpose) == ("notes.txt", 22, "assistants")
    assert uploaded.id.startswith("file-")
    assert client.files.retrieve(uploaded.id).filename == "notes.txt"
    store = stores.create(name="handbook")
    attached = stores.files.create_and_poll(vector_store_id=store.id, file_id=uploaded.id)
    assert attached.status == "completed"
    second = stores.files.upload_and_poll(vector_store_id=store.id, file=("faq.md", b"# FAQ"))
    assert second.status == "completed"
    third = client.files.create(file=("extra.txt", b"extra"), purpose="assistants")
    batch = stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=[third.id])
    assert (batch.status, batch.file_counts.completed) == ("completed", 1)
    store = stores.retrieve(store.id)
    assert store.file_counts.completed == 3 and store.file_counts.total == 3
    assert {f.id for f in stores.files.list(vector_store_id=store.id)} == {uploaded.id, second.id, third.id}

    assistant = client.beta.assistants.create(
        model="gpt-4o",
        tools=[{"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}},
        metadata=scenario("builtin=file_search"),
    )
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    steps = client.beta.threads.runs.steps.list(thread_id=thread.id, run_id=run.id, order="asc").data
    search = steps[0].step_details.tool_calls[0].file_search
    results = search["results"] if isinstance(search, dict) else search.model_dump()["results"]
    assert [result["file_name"] for result in results] == ["notes.txt", "faq.md"]

    assert stores.files.delete(vector_store_id=store.id, file_id=third.id).deleted
    assert stores.delete(store.id).deleted
    assert client.files.delete(uploaded.id).deleted
    assert uploaded.id not in {f.id for f in client.files.list()}


def test_objects_crud(clean_emulator: Emulator, client: openai.OpenAI) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", name="a")
    updated = client.beta.assistants.update(assistant.id, name="b", metadata={"team": "x"})
    assert (updated.name, updated.metadata) == ("b", {"team": "x"})
    assert assistant.id in {a.id for a in client.beta.assistants.list()}
    thread = client.beta.threads.create(metadata={"k": "v"})
    assert client.beta.threads.retrieve(thread.id).metadata == {"k": "v"}
    message = client.beta.threads.messages.create(thread_id=thread.id, role="user", content="hello")
    assert client.beta.threads.messages.retrieve(thread_id=thread.id, message_id=message.id).content[0].text.value
    if hasattr(client.beta.threads.messages, "delete"):
        assert client.beta.threads.messages.delete(thread_id=thread.id, message_id=message.id).deleted
    else:  # openai 1.21 has no messages.delete
        assert raw_request(clean_emulator, "DELETE", f"/v1/threads/{thread.id}/messages/{message.id}")[1]["deleted"]
    assert client.beta.threads.messages.list(thread_id=thread.id).data == []
    assert client.beta.threads.delete(thread.id).deleted
    assert client.beta.assistants.delete(assistant.id).deleted
    with pytest.raises(openai.NotFoundError, match="No thread found"):
        client.beta.threads.retrieve(thread.id)


# --- HTTP details and lifecycle ---------------------------------------------------------------


def test_http_errors_and_control_endpoints(clean_emulator: Emulator, client: openai.OpenAI) -> None:
    status, body = raw_request(clean_emulator, "GET", "/v1/nothing/here")
    assert status == 404
    assert set(body["error"]) == {"message", "type", "param", "code"}
    status, body = raw_request(clean_emulator, "POST", "/v1/threads", b"{not json")
    assert (status, body["error"]["type"]) == (400, "invalid_request_error")
    client.beta.threads.create()
    status, body = raw_request(clean_emulator, "GET", "/_emulator/requests")
    assert status == 200
    assert [(r["method"], r["path"], r["status"], r["stream"]) for r in body] == [
        ("GET", "/nothing/here", 404, False),
        ("POST", "/threads", 400, False),
        ("POST", "/threads", 200, False),
    ]
    assert raw_request(clean_emulator, "POST", "/_emulator/reset")[0] == 200
    assert clean_emulator.requests == []
    assert client.beta.assistants.list().data == []


def test_keep_alive_across_json_and_streams(clean_emulator: Emulator, client: openai.OpenAI, assistant: Any) -> None:
    thread_ids = []
    connection = http.client.HTTPConnection(clean_emulator.host, clean_emulator.port, timeout=5)
    try:
        for stream in (False, True, False):
            body = json.dumps({"assistant_id": assistant.id, "stream": stream})
            connection.request("POST", "/v1/threads/runs", body, {"Content-Type": "application/json"})
            response = connection.getresponse()
            payload = response.read()
            assert response.status == 200
            if stream:
                assert response.getheader("Transfer-Encoding") == "chunked"
                assert payload.endswith(b"event: done\ndata: [DONE]\n\n")
                thread_ids.append(json.loads(payload.split(b"\n")[1][len(b"data: ") :])["id"])
            else:
                thread_ids.append(json.loads(payload)["thread_id"])
            assert connection.sock is not None  # still the same open connection
    finally:
        connection.close()
    assert len(set(thread_ids)) == 3


def test_stop_is_prompt_even_with_a_held_stream(closing: Any) -> None:
    emu = Emulator(poll_after_ms=1, default_scenario="hold=1").start()
    client = closing(openai.OpenAI(base_url=emu.base_url, api_key="test", max_retries=0))
    assistant = client.beta.assistants.create(model="gpt-4o")
    outcome: list[BaseException | None] = []

    def consume() -> None:
        try:
            with client.beta.threads.create_and_run_stream(assistant_id=assistant.id) as stream:
                stream.until_done()
            outcome.append(None)
        except BaseException as error:
            outcome.append(error)

    reader = threading.Thread(target=consume)
    reader.start()
    time.sleep(0.2)
    started = time.monotonic()
    emu.stop()
    assert time.monotonic() - started < 2
    reader.join(timeout=5)
    assert not reader.is_alive() and len(outcome) == 1
    with pytest.raises(OSError):
        http.client.HTTPConnection(emu.host, emu.port, timeout=1).connect()


def test_command_line_entry_point() -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "otel_assistants.emulator", "--port", "0", "--quiet", "--scenario", "polls=2"],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        # Ctrl-C as a terminal delivers it: a shell that starts the suite in the background hands
        # its children SIGINT ignored, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)/v1", line)
        assert match, line
        with urllib.request.urlopen(match.group(1) + "/_emulator/requests", timeout=5) as response:
            assert json.loads(response.read()) == []
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
