"""How each way a run can end shows in its span and in the metrics."""

from __future__ import annotations

from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from .support.flows import TERMINAL, create_and_poll
from .support.telemetry import Otel

ASSISTANT = {"model": "gpt-4o-mini", "name": "outcomes"}


def outcome_points(otel: Otel) -> list[dict[str, Any]]:
    return [p.attributes for p in otel.points("openai.assistants.runs") if p.value]


@pytest.mark.parametrize(("scenario", "status", "error_type"), [
    ("outcome=failed;error_code=server_error", "failed", "server_error"),
    ("outcome=failed;error_code=rate_limit_exceeded", "failed", "rate_limit_exceeded"),
    ("outcome=expired", "expired", "expired"),
])
def test_error_outcomes(scenario: str, status: str, error_type: str, otel: Otel, client: Any,
                        assistant: Any) -> None:
    thread = client.beta.threads.create()
    run = create_and_poll(client, assistant.id, thread.id, scenario)
    assert run.status == status
    span = otel.one_run()
    assert span.attributes["openai.assistants.run.status"] == status
    assert span.attributes["error.type"] == error_type
    assert span.status.status_code is StatusCode.ERROR
    expected = {
        "openai.assistants.run.status": status,
        "error.type": error_type,
        "gen_ai.response.model": "gpt-4o-mini",
        "gen_ai.agent.name": "outcomes",
        "gen_ai.provider.name": "openai",
    }
    assert outcome_points(otel) == [expected]
    durations = otel.points("openai.assistants.run.duration")
    assert [p.attributes for p in durations] == [expected] and durations[0].count == 1
    operation = otel.points("gen_ai.client.operation.duration")
    invoke = [p for p in operation if p.attributes["gen_ai.operation.name"] == "invoke_agent"]
    assert [p.attributes.get("error.type") for p in invoke] == [error_type]


@pytest.mark.parametrize(("scenario", "status", "reason"), [
    ("hold=1", "cancelled", None),
    ("outcome=incomplete;incomplete_reason=max_prompt_tokens", "incomplete", "max_prompt_tokens"),
])
def test_cancelled_and_incomplete_are_not_errors(scenario: str, status: str, reason: str | None, otel: Otel,
                                                 client: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    runs = client.beta.threads.runs
    run = runs.create(thread_id=thread.id, assistant_id=assistant.id, metadata={"scenario": scenario})
    if status == "cancelled":
        runs.cancel(run.id, thread_id=thread.id)
    # a hand-written loop: the poll helper of early 1.x releases does not stop at `incomplete`
    while run.status not in TERMINAL:
        run = runs.retrieve(run.id, thread_id=thread.id)
    assert run.status == status
    span = otel.one_run()
    assert span.status.status_code is StatusCode.UNSET
    assert "error.type" not in span.attributes
    assert span.attributes["openai.assistants.run.status"] == status
    assert span.attributes.get("openai.assistants.run.incomplete_reason") == reason
    assert [p["openai.assistants.run.status"] for p in outcome_points(otel)] == [status]
    assert all("error.type" not in p for p in outcome_points(otel))


def test_http_500_on_create(otel: Otel, client: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    with pytest.raises(openai.InternalServerError):
        create_and_poll(client, assistant.id, thread.id, "http_status=500")
    span = otel.one_run()
    assert span.attributes["error.type"] == "openai.InternalServerError"
    assert span.attributes["http.response.status_code"] == 500
    assert span.status.status_code is StatusCode.ERROR
    assert "openai.assistants.run.id" not in span.attributes
    assert [e.name for e in span.events if e.name == "exception"] == ["exception"]
    assert outcome_points(otel) == [{
        "error.type": "openai.InternalServerError",
        "gen_ai.agent.name": "outcomes",
        "gen_ai.provider.name": "openai",
    }]
    assert otel.total("openai.assistants.runs.active") == 0


def test_thread_with_active_run(otel: Otel, client: Any, assistant: Any) -> None:
    thread = client.beta.threads.create()
    runs = client.beta.threads.runs
    first = runs.create(thread_id=thread.id, assistant_id=assistant.id, metadata={"scenario": "hold=1"})
    with pytest.raises(openai.BadRequestError) as raised:
        runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert "already has an active run" in str(raised.value)
    failed = [s for s in otel.run_spans() if s.attributes.get("error.type")]
    assert len(failed) == 1
    assert failed[0].attributes["error.type"] == "openai.BadRequestError"
    assert failed[0].attributes["http.response.status_code"] == 400
    assert failed[0].status.status_code is StatusCode.ERROR
    runs.cancel(first.id, thread_id=thread.id)
    runs.poll(first.id, thread_id=thread.id, poll_interval_ms=1)
    assert sorted(str(p.get("error.type")) for p in outcome_points(otel)) == ["None", "openai.BadRequestError"]


async def test_async_failure(otel: Otel, aclient: Any, assistant: Any) -> None:
    thread = await aclient.beta.threads.create()
    run = await aclient.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=1,
        metadata={"scenario": "outcome=failed;error_code=invalid_prompt"})
    assert run.status == "failed"
    span = otel.one_run()
    assert span.attributes["error.type"] == "invalid_prompt"
    assert span.status.status_code is StatusCode.ERROR


async def test_async_http_error(otel: Otel, aclient: Any, assistant: Any) -> None:
    thread = await aclient.beta.threads.create()
    with pytest.raises(openai.RateLimitError):
        await aclient.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                               metadata={"scenario": "http_status=429"})
    assert otel.one_run().attributes["error.type"] == "openai.RateLimitError"
