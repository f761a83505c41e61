"""The emulator's Responses API, driven over real HTTP by the real `openai` SDK (no mocks).

Every answer is also validated against the SDK's own models (``model_validate``, not the lenient
construction the SDK uses when it parses): a field this SDK release requires and the emulator left
out fails here. Warnings are errors, so a shape the SDK parses with a complaint fails too.
"""

from __future__ import annotations

import importlib.util
import json
import urllib.error
import urllib.request
from typing import Any

import openai
import pytest

from otel_assistants.emulator import Emulator
from otel_assistants.emulator.responses_api import KEYS, response_scenario

# `client.responses` came with openai 1.66; the oldest supported SDK still checks the raw HTTP side.
HAS_RESPONSES = importlib.util.find_spec("openai.resources.responses") is not None
needs_responses = pytest.mark.skipif(not HAS_RESPONSES, reason="this openai release has no client.responses")
pytestmark = pytest.mark.filterwarnings("error")

COMPLETED_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


def scenario(text: str) -> dict[str, str]:
    return {"scenario": text}


def post(emulator: Emulator, path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
    request = urllib.request.Request(
        emulator.base_url + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.headers["Content-Type"], error.read()


def sse_events(body: bytes) -> list[tuple[str, dict[str, Any]]]:
    frames = [frame for frame in body.decode().split("\n\n") if frame.strip()]
    events = []
    for frame in frames:
        fields = dict(line.split(": ", 1) for line in frame.splitlines())
        events.append((fields["event"], json.loads(fields["data"])))
    return events


def validated(model: Any) -> Any:
    """The SDK model rebuilt with validation from the fields the emulator sent."""
    return type(model).model_validate(model.to_dict())


# --- the scenario a response follows ------------------------------------------------------------


def test_response_scenario_keeps_only_its_keys() -> None:
    parsed = response_scenario("outcome=failed;error_code=rate_limit_exceeded;usage=7,3;deltas=2", strict=True)
    assert (parsed.outcome, parsed.error_code, parsed.usage) == ("failed", "rate_limit_exceeded", (7, 3))
    assert parsed.deltas == 2
    with pytest.raises(ValueError, match="scenario keys polls, tools do not apply to responses"):
        response_scenario("tools=1;polls=3", strict=True)
    with pytest.raises(ValueError, match="outcome must be one of completed, failed, incomplete; got 'expired'"):
        response_scenario("outcome=expired", strict=True)
    # The emulator's default scenario is shared with runs: what does not apply is left out.
    lenient = response_scenario("tools=1;outcome=expired;usage=9,1", strict=False)
    assert (lenient.tools, lenient.outcome, lenient.usage) == (0, "completed", (9, 1))
    assert sorted(KEYS) == ["delta_delay_ms", "deltas", "error_code", "http_status", "outcome", "text", "usage"]


# --- over raw HTTP: every SDK release, including those without client.responses -------------------


def test_raw_create_and_stream(emulator: Emulator) -> None:
    status, content_type, body = post(emulator, "/responses", {"model": "gpt-4.1", "input": "Hi"})
    assert (status, content_type) == (200, "application/json")
    response = json.loads(body)
    assert (response["object"], response["status"], response["model"]) == ("response", "completed", "gpt-4.1")
    assert response["usage"]["total_tokens"] == 120

    status, content_type, body = post(
        emulator, "/responses", {"model": "gpt-4.1", "input": "Hi", "stream": True, "metadata": scenario("deltas=2")}
    )
    assert (status, content_type) == (200, "text/event-stream; charset=utf-8")
    events = sse_events(body)
    # Each frame's event name is its data's type; the stream ends after its last event, without [DONE].
    assert [name for name, _ in events] == [data["type"] for _, data in events]
    assert [name for name, _ in events] == [*COMPLETED_EVENTS[:4], *COMPLETED_EVENTS[4:6], *COMPLETED_EVENTS[7:]]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    assert b"[DONE]" not in body
    assert events[-1][1]["response"]["id"] == events[0][1]["response"]["id"]


def test_raw_errors(emulator: Emulator) -> None:
    status, _, body = post(emulator, "/responses", {"input": "Hi"})
    assert status == 400 and json.loads(body)["error"]["param"] == "model"
    status, _, body = post(emulator, "/responses", {"model": "gpt-4.1", "metadata": scenario("http_status=503")})
    assert status == 503 and json.loads(body)["error"]["type"] == "server_error"
    status, _, body = post(emulator, "/responses", {"model": "gpt-4.1", "metadata": scenario("colour=red")})
    assert status == 400 and json.loads(body)["error"]["param"] == "metadata.scenario"


# --- through the SDK --------------------------------------------------------------------------


@needs_responses
def test_create(emulator: Emulator, client: openai.OpenAI) -> None:
    emulator.clear_requests()
    raw = client.responses.with_raw_response.create(
        model="gpt-4o-mini", input="What's the weather?", metadata=scenario("usage=30,12;text=Sunny.")
    )
    response = raw.parse()
    assert validated(response) == response
    assert (response.status, response.model, response.output_text) == ("completed", "gpt-4o-mini", "Sunny.")
    assert response.id.startswith("resp_") and response.error is None
    assert response.usage is not None
    assert (response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens) == (30, 12, 42)
    assert response.metadata == scenario("usage=30,12;text=Sunny.")
    assert [(r.method, r.path, r.status, r.stream) for r in emulator.requests] == [("POST", "/responses", 200, False)]
    assert client.responses.retrieve(response.id) == response


@needs_responses
def test_stream(emulator: Emulator, client: openai.OpenAI) -> None:
    stream = client.responses.create(
        model="gpt-4.1", input="Hi", stream=True, metadata=scenario("usage=11,4;text=Streamed answer.")
    )
    with stream:
        events = list(stream)
    assert [event.type for event in events] == COMPLETED_EVENTS
    for event in events:
        assert validated(event) == event, event.type
    assert "".join(event.delta for event in events if event.type == "response.output_text.delta") == "Streamed answer."
    created, completed = events[0].response, events[-1].response
    assert (created.status, created.output, created.usage) == ("in_progress", [], None)
    assert (completed.id, completed.status, completed.output_text) == (created.id, "completed", "Streamed answer.")
    assert completed.usage is not None and completed.usage.total_tokens == 15
    assert client.responses.retrieve(created.id) == completed


@needs_responses
def test_stream_helper(client: openai.OpenAI) -> None:
    texts = []
    with client.responses.stream(model="gpt-4.1", input="Hi", metadata=scenario("deltas=5")) as stream:
        for event in stream:
            if event.type == "response.output_text.delta":
                texts.append(event.delta)
        final = stream.get_final_response()
    assert len(texts) == 5 and "".join(texts) == final.output_text == "Hello from the emulator."
    assert final.usage is not None and final.usage.total_tokens == 120


@needs_responses
def test_failed_and_incomplete(client: openai.OpenAI) -> None:
    failed = client.responses.create(
        model="gpt-4.1", input="Hi", metadata=scenario("outcome=failed;error_code=rate_limit_exceeded")
    )
    assert validated(failed) == failed
    assert (failed.status, failed.output, failed.usage) == ("failed", [], None)
    assert failed.error is not None and failed.error.code == "rate_limit_exceeded"

    with client.responses.create(model="gpt-4.1", input="Hi", stream=True, metadata=scenario("outcome=failed")) as s:
        events = list(s)
    assert [event.type for event in events] == ["response.created", "response.in_progress", "response.failed"]
    assert events[-1].response.error is not None and events[-1].response.error.code == "server_error"

    incomplete = client.responses.create(model="gpt-4.1", input="Hi", metadata=scenario("outcome=incomplete"))
    assert validated(incomplete) == incomplete
    assert incomplete.status == "incomplete" and incomplete.output_text == "Hello from t"
    assert incomplete.incomplete_details is not None and incomplete.incomplete_details.reason == "max_output_tokens"
    with client.responses.create(
        model="gpt-4.1", input="Hi", stream=True, metadata=scenario("outcome=incomplete")
    ) as stream:
        names = [event.type for event in stream]
    assert names == [*COMPLETED_EVENTS[:-1], "response.incomplete"]


@needs_responses
def test_http_status(emulator: Emulator, client: openai.OpenAI) -> None:
    emulator.clear_requests()
    with pytest.raises(openai.InternalServerError) as caught:
        client.responses.create(model="gpt-4.1", input="Hi", metadata=scenario("http_status=500"))
    assert caught.value.status_code == 500
    with pytest.raises(openai.RateLimitError) as limited:
        client.responses.create(model="gpt-4.1", input="Hi", stream=True, metadata=scenario("http_status=429"))
    assert limited.value.code == "rate_limit_exceeded"
    with pytest.raises(openai.BadRequestError, match="do not apply to responses"):
        client.responses.create(model="gpt-4.1", input="Hi", metadata=scenario("hold=1"))
    assert [r.status for r in emulator.requests] == [500, 429, 400]


@needs_responses
def test_default_scenario_shared_with_runs(emulator: Emulator, client: openai.OpenAI) -> None:
    emulator.default_scenario = "tools=1;outcome=failed;error_code=invalid_prompt"
    try:
        response = client.responses.create(model="gpt-4.1", input="Hi")
    finally:
        emulator.default_scenario = ""
    assert response.status == "failed" and response.error is not None and response.error.code == "invalid_prompt"


@needs_responses
def test_retrieve_unknown(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_unknown")


@needs_responses
async def test_async_stream(aclient: openai.AsyncOpenAI) -> None:
    stream = await aclient.responses.create(model="gpt-4.1", input="Hi", stream=True, metadata=scenario("usage=5,5"))
    async with stream:
        events = [event async for event in stream]
    assert [event.type for event in events] == COMPLETED_EVENTS
    assert events[-1].response.usage is not None and events[-1].response.usage.total_tokens == 10
