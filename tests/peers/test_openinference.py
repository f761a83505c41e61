"""otel-assistants beside OpenInference's OpenAI instrumentation (openinference-instrumentation-openai).

OpenInference wraps every request an ``OpenAI`` / ``AsyncOpenAI`` client makes, so with both on each
Assistants API request is traced twice: once by OpenInference (a span per request, polls included)
and once by otel-assistants (a span per operation, a run span per run). These tests measure that,
check that otel-assistants keeps tracing every run whichever of the two is instrumented first
(OpenInference puts its wrapper on ``OpenAI.request``, which hides the base client's), and check the
switches a user has: the entry-point names ``opentelemetry-instrument`` knows them by, and what
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS`` does and does not turn off.

Run in an environment with both OpenInference and the official instrumentation installed, as an app
that moves from Assistants to Responses with OpenInference already in place would have.
"""

from __future__ import annotations

import importlib.metadata

import pytest

from otel_assistants.emulator import Emulator

from ..otlp_receiver import Collector
from .support import (
    EXPECTED_RESULT,
    OFFICIAL,
    OFFICIAL_DIST,
    OPENINFERENCE,
    OPENINFERENCE_DIST,
    OURS,
    RUN_STATUSES,
    assistants_requests,
    client_spans,
    require_distribution,
    responses_calls,
    run_app,
    run_statuses,
    spans,
)


@pytest.fixture(autouse=True)
def peers_installed() -> None:
    require_distribution(OPENINFERENCE_DIST)
    require_distribution(OFFICIAL_DIST)


def traced(collector: Collector) -> dict[str, int]:
    """Spans per instrumentation: ours counted by request (its CLIENT spans), the others all."""
    return {
        "ours": len(client_spans(collector, OURS)),
        "official": len(spans(collector, OFFICIAL)),
        "openinference": len(spans(collector, OPENINFERENCE)),
    }


def test_entry_point_names() -> None:
    # OpenInference and the official instrumentation register under the same name, "openai".
    found = {
        (entry_point.dist.name if entry_point.dist else "", entry_point.name, entry_point.value)
        for entry_point in importlib.metadata.entry_points(group="opentelemetry_instrumentor")
    }
    assert {
        (OPENINFERENCE_DIST, "openai", "openinference.instrumentation.openai:OpenAIInstrumentor"),
        (OFFICIAL_DIST, "openai", "opentelemetry.instrumentation.genai.openai:OpenAIInstrumentor"),
        ("otel-assistants", "openai_assistants", "otel_assistants:AssistantsInstrumentor"),
    } <= found


def test_all_three_under_opentelemetry_instrument(emulator: Emulator, collector: Collector) -> None:
    assert run_app(emulator, collector) == EXPECTED_RESULT
    requests = assistants_requests(emulator, polls=False)
    with_polls = assistants_requests(emulator, polls=True)
    calls = responses_calls(emulator)
    # Every Assistants request twice (ours, and OpenInference's including each poll), every Responses
    # call twice (OpenInference's and the official one's). OpenInference leaves alone the step
    # fetches otel-assistants makes with instrumentation suppressed.
    assert traced(collector) == {"ours": requests, "official": calls, "openinference": with_polls + calls}
    assert (requests, with_polls, calls) == (11, 14, 7)
    assert run_statuses(collector) == RUN_STATUSES


@pytest.mark.parametrize("order", ["openinference,ours", "ours,openinference"])
def test_either_instrumented_first(emulator: Emulator, collector: Collector, order: str) -> None:
    # "*" keeps opentelemetry-instrument from loading any instrumentor: the app instruments by hand.
    assert run_app(emulator, collector, disabled="*", instrument=order) == EXPECTED_RESULT
    requests = assistants_requests(emulator, polls=False)
    with_polls = assistants_requests(emulator, polls=True)
    calls = responses_calls(emulator)
    assert traced(collector) == {"ours": requests, "official": 0, "openinference": with_polls + calls}
    assert run_statuses(collector) == RUN_STATUSES  # polled, streamed (helper and stream=True) and async runs


def test_disabling_openai_turns_off_both_peers(emulator: Emulator, collector: Collector) -> None:
    # The shared name: disabling "openai" leaves otel-assistants alone on the Assistants API.
    assert run_app(emulator, collector, disabled="openai") == EXPECTED_RESULT
    assert traced(collector) == {"ours": assistants_requests(emulator, polls=False), "official": 0, "openinference": 0}


def test_once_each_with_the_official_one_instrumented_by_hand(emulator: Emulator, collector: Collector) -> None:
    # The set-up the README recommends to a user who has all three installed.
    assert run_app(emulator, collector, disabled="openai", instrument="official") == EXPECTED_RESULT
    assert traced(collector) == {
        "ours": assistants_requests(emulator, polls=False), "official": responses_calls(emulator), "openinference": 0}
    assert run_statuses(collector) == RUN_STATUSES


def test_openinference_by_hand_ignores_the_disabled_list(emulator: Emulator, collector: Collector) -> None:
    # Only opentelemetry-instrument reads OTEL_PYTHON_DISABLED_INSTRUMENTATIONS: OpenInference's
    # instrument() does not, while otel-assistants' own instrument() does.
    assert run_app(emulator, collector, disabled="openai,openai_assistants",
                   instrument="openinference,ours") == EXPECTED_RESULT
    calls = responses_calls(emulator)
    assert traced(collector) == {
        "ours": 0, "official": 0, "openinference": assistants_requests(emulator, polls=True) + calls}
