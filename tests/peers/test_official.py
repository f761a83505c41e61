"""otel-assistants beside the official OpenAI instrumentation (opentelemetry-instrumentation-genai-openai),
both loaded by ``opentelemetry-instrument`` from their entry points, in an app sending Assistants API runs
and Responses API calls: every request is traced once, by the instrumentation that covers its API."""

from __future__ import annotations

from collections import Counter

from otel_assistants.emulator import Emulator

from ..otlp_receiver import Collector, attributes
from .support import (
    EXPECTED_RESULT,
    OFFICIAL,
    OFFICIAL_DIST,
    OPENINFERENCE_DIST,
    OURS,
    RESPONSE_MODEL,
    RUN_STATUSES,
    assistants_requests,
    client_spans,
    histogram_count,
    installed,
    missing,
    require_distribution,
    responses_calls,
    run_app,
    run_statuses,
)


def test_the_app_uninstrumented(emulator: Emulator, collector: Collector) -> None:
    # What the app sees with no instrumentation at all: the result every other run must match.
    assert run_app(emulator, collector, disabled="*") == EXPECTED_RESULT
    assert collector.scoped_spans() == []


def test_each_request_is_traced_once(emulator: Emulator, collector: Collector) -> None:
    require_distribution(OFFICIAL_DIST)
    if installed(OPENINFERENCE_DIST):
        missing(f"{OPENINFERENCE_DIST} is installed here too: opentelemetry-instrument would load it as well "
                "(tests/peers/test_openinference.py covers that case)")
    seen = run_app(emulator, collector)
    assert seen == EXPECTED_RESULT  # what the SDK returned is untouched, streams and errors included

    # Both instrumentors loaded, and nothing else made spans.
    assert {scope for scope, _ in collector.scoped_spans()} == {OURS, OFFICIAL}
    ours, theirs = client_spans(collector, OURS), client_spans(collector, OFFICIAL)

    # Assistants API: one span of ours per request (polls are counted on the run span instead).
    assert len(ours) == assistants_requests(emulator, polls=False) == 11
    assert run_statuses(collector) == RUN_STATUSES
    assert not any(attributes(span.attributes).get("gen_ai.operation.name") == "chat" for span in ours)

    # Responses API: one span of the official instrumentation per call, none of ours.
    assert len(theirs) == responses_calls(emulator) == 7
    assert {span.name for span in theirs} == {f"chat {RESPONSE_MODEL}"}
    details = [attributes(span.attributes) for span in theirs]
    assert {(d["gen_ai.operation.name"], d["gen_ai.request.model"]) for d in details} == {("chat", RESPONSE_MODEL)}
    assert Counter(d.get("error.type") for d in details) == {
        None: 5, "server_error": 1, "openai.InternalServerError": 1}

    # Metrics: the two share gen_ai.client.* instruments, told apart by scope and operation name.
    duration = "gen_ai.client.operation.duration"
    assert histogram_count(collector, duration, OFFICIAL, **{"gen_ai.operation.name": "chat"}) == 7
    assert histogram_count(collector, duration, OFFICIAL) == 7
    assert histogram_count(collector, duration, OURS, **{"gen_ai.operation.name": "invoke_agent"}) == 6
    assert histogram_count(collector, duration, OURS, **{"gen_ai.operation.name": "chat"}) == 0
    usage = "gen_ai.client.token.usage"
    assert histogram_count(collector, usage, OFFICIAL, **{"gen_ai.token.type": "input"}) == 5  # calls with usage
    assert histogram_count(collector, usage, OURS, **{"gen_ai.token.type": "input"}) == 5  # runs with usage
    assert sum(point.as_int for point in collector.last_points("openai.assistants.runs", OURS)) == 6
