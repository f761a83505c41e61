"""Known API errors (contract 2.8): each reason provoked with the real SDK over HTTP against the
emulator's real-shaped answers, on its span and on its gen_ai.client.operation.duration point."""

from __future__ import annotations

import socket
import threading
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from otel_assistants.emulator import Emulator
from otel_assistants.emulator.faults import Exchange, Reply
from otel_assistants.error_reasons import NAMED, error_reason
from otel_assistants.telemetry import CappedValues

from .support.flows import create_stream_true, vector_stores
from .support.telemetry import Otel

ASSISTANT = {"model": "gpt-4o", "name": "errors"}
REASON = "openai.assistants.error.reason"
HOST = "127.0.0.1"



def failed_span(otel: Otel, name: str, error_type: str, status: int | None, reason: str | None) -> Any:
    """The one span of that exact name, failed with these attributes."""
    spans = [s for s in otel.spans() if s.name == name]
    assert len(spans) == 1, [s.name for s in otel.spans()]
    span = spans[0]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == error_type
    assert span.attributes.get("http.response.status_code") == status
    assert span.attributes.get(REASON) == reason
    return span


def operation_point(otel: Otel, operation: str) -> dict[str, Any]:
    points = [p for p in otel.points("gen_ai.client.operation.duration")
              if p.attributes["gen_ai.operation.name"] == operation]
    assert len(points) == 1 and points[0].count == 1, points
    return points[0].attributes


def failed_point(operation: str, error_type: str, reason: str | None, model: str | None = None) -> dict[str, Any]:
    """The exact attributes of a failed request's duration point."""
    expected = {"gen_ai.operation.name": operation, "gen_ai.provider.name": "openai", "error.type": error_type,
                "server.address": HOST}
    if model is not None:
        expected["gen_ai.request.model"] = model
    if reason is not None:
        expected[REASON] = reason
    return expected


# ---- thread_has_active_run -----------------------------------------------------------------------

def test_message_on_a_busy_thread(otel: Otel, client: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                          metadata={"scenario": "hold=1"})
    with pytest.raises(openai.BadRequestError) as raised:
        client.beta.threads.messages.create(thread_id=thread.id, role="user", content="more")
    assert type(raised.value) is openai.BadRequestError
    assert raised.value.body == {"message": f"Can't add messages to {thread.id} while a run {run.id} is active.",
                                 "type": "invalid_request_error", "param": None, "code": None}
    failed_span(otel, "create_message", "openai.BadRequestError", 400, "thread_has_active_run")
    assert operation_point(otel, "create_message") == failed_point(
        "create_message", "openai.BadRequestError", "thread_has_active_run")
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)


def test_run_on_a_busy_thread(otel: Otel, client: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    first = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                            metadata={"scenario": "hold=1"})
    with pytest.raises(openai.BadRequestError) as raised:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert raised.value.body["message"] == f"Thread {thread.id} already has an active run {first.id}."
    assert raised.value.code is None
    client.beta.threads.runs.cancel(first.id, thread_id=thread.id)
    client.beta.threads.runs.poll(first.id, thread_id=thread.id, poll_interval_ms=1)
    failed = [s for s in otel.run_spans() if s.attributes.get("error.type")]
    assert [s.name for s in failed] == ["invoke_agent errors"]
    assert failed[0].attributes["http.response.status_code"] == 400
    assert failed[0].attributes[REASON] == "thread_has_active_run"
    assert [s.attributes.get(REASON) for s in otel.run_spans()].count(None) == 1  # the cancelled run has none
    invoke = sorted((p.attributes for p in otel.points("gen_ai.client.operation.duration")
                     if p.attributes["gen_ai.operation.name"] == "invoke_agent"), key=len)
    assert invoke == [
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.provider.name": "openai", "server.address": HOST},
        failed_point("invoke_agent", "openai.BadRequestError", "thread_has_active_run"),
    ]
    # the per-run counter keeps the contract's attributes: no reason there
    assert all(REASON not in p.attributes for p in otel.points("openai.assistants.runs"))


# ---- unsupported_parameter -----------------------------------------------------------------------

def test_temperature_on_a_reasoning_model_run(otel: Otel, client: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as raised:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id, model="o3-mini",
                                        temperature=0.2)
    assert raised.value.body == {"message": "Unsupported parameter: 'temperature' is not supported with this model.",
                                 "type": "invalid_request_error", "param": "temperature",
                                 "code": "unsupported_parameter"}
    failed_span(otel, "invoke_agent errors", "openai.BadRequestError", 400, "unsupported_parameter")
    assert operation_point(otel, "invoke_agent") == failed_point(
        "invoke_agent", "openai.BadRequestError", "unsupported_parameter", model="o3-mini")


def test_assistant_created_with_top_p_on_a_reasoning_model(otel: Otel, client: Any) -> None:
    with pytest.raises(openai.BadRequestError) as raised:
        client.beta.assistants.create(model="o1", name="thinker", top_p=0.5)
    assert (raised.value.param, raised.value.code) == ("top_p", "unsupported_parameter")
    failed_span(otel, "create_agent thinker", "openai.BadRequestError", 400, "unsupported_parameter")
    assert operation_point(otel, "create_agent") == failed_point(
        "create_agent", "openai.BadRequestError", "unsupported_parameter", model="o1")


def test_stored_temperature_meets_a_reasoning_model(otel: Otel, client: Any) -> None:
    """The Assistants twist: the stored setting is refused with param "model", code unsupported_model;
    the text still names it."""
    kept = client.beta.assistants.create(model="gpt-4o", name="warm", temperature=0.3)
    thread = client.beta.threads.create()
    with pytest.raises(openai.BadRequestError) as on_update:
        client.beta.assistants.update(kept.id, model="gpt-5-mini")
    with pytest.raises(openai.BadRequestError) as on_run:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=kept.id, model="o4-mini")
    for raised in (on_update, on_run):
        assert (raised.value.param, raised.value.code) == ("model", "unsupported_model")
        assert raised.value.body["message"] == "Unsupported parameter: 'temperature' is not supported with this model."
    update = [s for s in otel.spans("update_agent")]
    assert len(update) == 1 and update[0].attributes[REASON] == "unsupported_parameter"
    assert operation_point(otel, "update_agent")[REASON] == "unsupported_parameter"
    failed_span(otel, "invoke_agent warm", "openai.BadRequestError", 400, "unsupported_parameter")
    # the default value is taken, as the API takes it
    assert client.beta.assistants.update(kept.id, temperature=1, model="o3").model == "o3"


# ---- invalid_batch_id and no_files_provided ------------------------------------------------------

@pytest.mark.parametrize("operation", ["retrieve", "cancel", "list_files"])
def test_vector_store_id_as_batch_id(operation: str, otel: Otel, client: Any) -> None:
    store = vector_stores(client).create(name="docs")
    with pytest.raises(openai.BadRequestError) as raised:
        getattr(vector_stores(client).file_batches, operation)(store.id, vector_store_id=store.id)
    message = f"Invalid 'batch_id': '{store.id}'. Expected an ID that begins with 'vsfb'."
    assert raised.value.body == {"message": message, "type": "invalid_request_error", "param": "batch_id",
                                 "code": "invalid_value"}
    name = {"retrieve": "retrieve_vector_store_file_batch", "cancel": "cancel_vector_store_file_batch",
            "list_files": "list_vector_store_file_batch_files"}[operation]
    failed_span(otel, name, "openai.BadRequestError", 400, "invalid_batch_id")
    assert operation_point(otel, name) == failed_point(name, "openai.BadRequestError", "invalid_batch_id")


def test_empty_file_batch(otel: Otel, client: Any) -> None:
    store = vector_stores(client).create(name="empty")
    with pytest.raises(openai.BadRequestError) as raised:  # upload_and_poll(files=[]) sends the same request
        vector_stores(client).file_batches.upload_and_poll(vector_store_id=store.id, files=[])
    assert raised.value.body["message"] == "No 'files' provided to process."
    name = "ingest_file_batch"  # the create request is the job's span (contract 2.7)
    failed_span(otel, name, "openai.BadRequestError", 400, "no_files_provided")
    assert operation_point(otel, name) == failed_point(name, "openai.BadRequestError", "no_files_provided")


# ---- not_found and rate_limited ------------------------------------------------------------------

def test_deleted_thread(otel: Otel, client: Any) -> None:
    thread = client.beta.threads.create()
    client.beta.threads.delete(thread.id)
    with pytest.raises(openai.NotFoundError) as raised:
        client.beta.threads.messages.list(thread_id=thread.id)
    assert raised.value.body["message"] == f"No thread found with id '{thread.id}'."
    failed_span(otel, "list_messages", "openai.NotFoundError", 404, "not_found")
    assert operation_point(otel, "list_messages") == failed_point("list_messages", "openai.NotFoundError",
                                                                  "not_found")


def test_rate_limited_run(otel: Otel, client: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    with pytest.raises(openai.RateLimitError):
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                        metadata={"scenario": "http_status=429"})
    failed_span(otel, "invoke_agent errors", "openai.RateLimitError", 429, "rate_limited")
    assert operation_point(otel, "invoke_agent") == failed_point("invoke_agent", "openai.RateLimitError",
                                                                 "rate_limited")


# ---- any other answer ----------------------------------------------------------------------------

@pytest.mark.parametrize(("scenario", "error", "status", "reason"), [
    ("http_status=400;http_code=context_length_exceeded", openai.BadRequestError, 400, "context_length_exceeded"),
    ("http_status=400", openai.BadRequestError, 400, "_OTHER"),
    ("http_status=503;http_code=engine_overloaded", openai.InternalServerError, 503, "engine_overloaded"),
    ("http_status=429;http_code=insufficient_quota", openai.RateLimitError, 429, "rate_limited"),
    ("http_status=404;http_code=404", openai.NotFoundError, 404, "not_found"),
    ("http_status=400;http_code=not an identifier", openai.BadRequestError, 400, "_OTHER"),
])
def test_other_answers(scenario: str, error: type, status: int, reason: str, otel: Otel, client: Any,
                       assistant: Any) -> None:
    thread = client.beta.threads.create()
    with pytest.raises(error) as raised:
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                        metadata={"scenario": scenario})
    assert type(raised.value) is error
    name = f"openai.{error.__name__}"
    failed_span(otel, "invoke_agent errors", name, status, reason)
    assert operation_point(otel, "invoke_agent") == failed_point("invoke_agent", name, reason)


@pytest.mark.parametrize(("status", "body", "error", "reason"), [
    (400, b"<html>Bad Request</html>", openai.BadRequestError, "_OTHER"),
    (404, b"404 page not found", openai.NotFoundError, "not_found"),
    (400, b'{"detail": "Unsupported parameter: temperature"}', openai.BadRequestError, "_OTHER"),
    (400, b'{"error": {"message": "Thread thread_a already has an active run run_b.", "code": 7}}',
     openai.BadRequestError, "thread_has_active_run"),
])
def test_bodies_of_other_servers(status: int, body: bytes, error: type, reason: str, otel: Otel, client: Any,
                                 emulator: Emulator) -> None:
    """Text bodies (Ollama's 404), bodies without ``error`` (FastAPI's), odd JSON: never free text."""
    def answer(exchange: Exchange, data: Any) -> Any:
        if exchange.stage == "request" and exchange.path == "/threads":
            return Reply(status, body, content_type="text/plain")
        return None

    emulator.mutate = answer
    try:
        with pytest.raises(error):
            client.beta.threads.create()
    finally:
        emulator.mutate = None
    name = f"openai.{error.__name__}"
    failed_span(otel, "create_thread", name, status, reason)
    assert operation_point(otel, "create_thread") == failed_point("create_thread", name, reason)


def test_error_event_in_a_stream(otel: Otel, client: Any, assistant: Any) -> None:
    """An ``error`` event inside a 200 stream: a bare APIError, no status; the event's code is the reason."""
    thread = client.beta.threads.create()
    with pytest.raises(openai.APIError) as raised:
        create_stream_true(client, assistant.id, thread.id, "stream_error=1")
    assert type(raised.value) is openai.APIError
    failed_span(otel, "invoke_agent errors", "openai.APIError", None, "server_error")
    assert operation_point(otel, "invoke_agent") == failed_point("invoke_agent", "openai.APIError", "server_error")


def test_no_answer_has_no_reason(otel: Otel) -> None:
    """A request that got no answer (nothing listens there) has nothing to classify."""
    with (openai.OpenAI(base_url=f"http://{HOST}:{free_port()}/v1", api_key="sk-test", max_retries=0) as lonely,
          pytest.raises(openai.APIConnectionError) as raised):
        lonely.beta.threads.create()
    assert type(raised.value) is openai.APIConnectionError
    failed_span(otel, "create_thread", "openai.APIConnectionError", None, None)
    assert operation_point(otel, "create_thread") == failed_point("create_thread", "openai.APIConnectionError", None)


def free_port() -> int:
    """A port that was free a moment ago: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


# ---- the cap on API codes ------------------------------------------------------------------------

class Answered(Exception):
    """What the classifier reads of an SDK status error: its status and its (inner) body."""

    def __init__(self, status_code: int | None, body: Any) -> None:
        super().__init__("answered")
        self.status_code = status_code
        self.body = body


def test_codes_are_capped_at_50() -> None:
    codes = CappedValues()
    reasons = {error_reason(Answered(400, {"message": "x", "code": f"code_{i}"}), codes) for i in range(10_000)}
    assert reasons == {f"code_{i}" for i in range(50)} | {"_OTHER"}
    # the named reasons stay themselves past the cap
    assert error_reason(Answered(404, {"code": "code_9999"}), codes) == "not_found"
    assert error_reason(Answered(400, {"message": "Unsupported parameter: 'top_p'", "code": None}),
                        codes) == "unsupported_parameter"
    assert error_reason(Answered(400, {"message": "x", "code": "code_7"}), codes) == "code_7"


def test_codes_are_capped_across_threads() -> None:
    codes = CappedValues()
    seen: list[str | None] = []
    lock = threading.Lock()

    def classify(start: int) -> None:
        mine = [error_reason(Answered(500, {"code": f"c{start}_{i}"}), codes) for i in range(200)]
        with lock:
            seen.extend(mine)

    threads = [threading.Thread(target=classify, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen) - {"_OTHER"}) == 50 and seen.count("_OTHER") == 8 * 200 - 50


@pytest.mark.parametrize(("error", "reason"), [
    (Answered(None, None), None),  # a connection error: no answer
    (ValueError("Expected a non-empty value for `batch_id`"), None),  # raised before sending
    (Answered(200, {"code": "x"}), None),  # an answer that was not an error
    (Answered(None, {"message": "boom", "type": "server_error", "code": None}), "_OTHER"),
    (Answered(None, "text"), "_OTHER"),
    (Answered(400, {"error": {"message": "No `files` provided to process. If you've already uploaded files "
                                         "you should use `.createAndPoll()` instead", "code": None}}),
     "no_files_provided"),
    (Answered(400, {"message": "Invalid 'thread_id': 'x'.", "param": "batch_id", "code": "invalid_value"}),
     "invalid_batch_id"),
    (Answered(400, {"message": "Can't add messages to thread_a while a run run_b is active.", "code": None}),
     "thread_has_active_run"),
    # only a message's head is read, and a code too long to be an identifier is not one
    (Answered(400, {"message": "Can't add messages to thread_a" + "." * 100_000 + " while a run run_b is active.",
                    "code": "x" * 65}), "_OTHER"),
    (Answered(400, {"message": "Unsupported value: 'temperature' does not support 0.2 with this model.",
                    "code": "unsupported_value"}), "unsupported_value"),
])
def test_classifier(error: BaseException, reason: str | None) -> None:
    assert error_reason(error, CappedValues()) == reason


def test_codes_capped_over_http(otel: Otel, client: Any, assistant: Any) -> None:
    """60 distinct API codes: the duration points carry 50 of them, the rest as _OTHER."""
    thread = client.beta.threads.create()
    for i in range(60):
        with pytest.raises(openai.BadRequestError):
            client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                            metadata={"scenario": f"http_status=400;http_code=quota_{i}"})
    points = [p for p in otel.points("gen_ai.client.operation.duration")
              if p.attributes["gen_ai.operation.name"] == "invoke_agent"]
    by_reason = {p.attributes[REASON]: p.count for p in points}
    assert by_reason == {**{f"quota_{i}": 1 for i in range(50)}, "_OTHER": 10}
    assert {s.attributes[REASON] for s in otel.run_spans()} == {f"quota_{i}" for i in range(50)} | {"_OTHER"}


def test_every_reason_has_its_runbook_page() -> None:
    pages = Path(__file__).resolve().parents[1] / "docs" / "runbooks" / "errors"
    assert {p.stem for p in pages.glob("*.md")} == NAMED | {"api_codes"}
    for reason in NAMED:
        text = (pages / f"{reason}.md").read_text()
        assert text.startswith(f"# Error reason `{reason}`")
        assert f'openai_assistants_error_reason="{reason}"' in text
