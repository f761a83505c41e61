"""Streams: one run span per streamed run on every stream surface, ended exactly once however the
stream stops, while the app sees exactly what it saw without the instrumentation."""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace import Span as SdkSpan
from opentelemetry.trace import SpanKind, StatusCode

from otel_assistants import streams
from otel_assistants.spans import error_type_of
from otel_assistants.tracker import RunState, RunTracker

from .support.flows import (
    ASYNC_STREAM_STARTERS,
    ASYNC_STREAM_SUBMITTERS,
    QUESTION,
    SYNC_STREAM_STARTERS,
    SYNC_STREAM_SUBMITTERS,
    WEATHER_TOOL,
    async_create_and_run_stream,
    async_create_stream_true,
    async_raw_response_stream,
    async_stream_iterated,
    async_stream_until_done,
    async_stream_with_handler,
    async_streaming_response,
    async_submit_stream,
    create_and_run_stream,
    create_stream_true,
    last_run,
    outputs_for,
    raw_response_stream,
    stream_iterated,
    stream_until_done,
    streaming_response,
    submit_stream,
)
from .support.telemetry import Otel
from .test_steps import server_steps, step_requests

pytestmark = [
    # A ResourceWarning raised inside a finalizer becomes an unraisable exception, which fails the test.
    pytest.mark.filterwarnings("error::ResourceWarning"),
]

# A run's stream opens with: run created, queued, in_progress, step created, step in_progress,
# message created, message in_progress, first message delta. Cutting after 8 events stops just past
# the first delta (just before it when the stream also made the thread: thread.created comes first).
CUT = "cut_after=8"
SDK_ERROR = "openai.APIError"  # the SDK raises it for an `error` event, in every release
# What the SDK's stream raises when the connection drops mid-body, per SDK family; the run span
# records that. 3.x wraps the transport error in openai.APIConnectionError (its event-handler
# helpers unwrap it again, so there the app sees httpx2.RemoteProtocolError); 1.x and 2.x let
# httpx.RemoteProtocolError through. Probed without instrumentation, not assumed from a version.
TRANSPORT_ERRORS = {"openai.APIConnectionError", "httpx.RemoteProtocolError"}


def has_create_and_stream(client: Any) -> bool:
    return hasattr(client.beta.threads.runs, "create_and_stream")


def skip_missing(client: Any, flow: Callable[..., Any]) -> None:
    if "create_and_stream" in flow.__name__ and not has_create_and_stream(client):
        pytest.skip("this SDK has no runs.create_and_stream")


@pytest.fixture(scope="module", autouse=True)
def unraisable() -> Iterator[list[str]]:
    """Every unraisable exception (an error in a __del__, a ResourceWarning raised in a finalizer)
    while this module runs; one full collection at the end catches what cycles were still holding."""
    gc.collect()  # what earlier modules left behind is theirs, not ours
    seen: list[str] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda info: seen.append(f"{info.err_msg}: {info.exc_type} {info.exc_value!r} "
                                                  f"in {info.object!r}")
    try:
        yield seen
        gc.collect()
    finally:
        sys.unraisablehook = previous
    assert not seen


@pytest.fixture(autouse=True)
def clean_finalizers(unraisable: list[str], caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No test leaves an unraisable exception or a "Failed to detach context" log behind. (Tests
    that drop streams in cycles collect them themselves: a full collection per test is slow.)"""
    already = len(unraisable)
    caplog.set_level(logging.DEBUG, logger="opentelemetry.context")
    yield
    assert not unraisable[already:]
    assert not [r.getMessage() for r in caplog.records if r.name.startswith("opentelemetry.context")]


@pytest.fixture(scope="module")
def client(emulator: Any) -> Iterator[openai.OpenAI]:
    """One sync client for the module: recent SDKs take a while to build one."""
    with openai.OpenAI(base_url=emulator.base_url, api_key="sk-test-key", max_retries=0) as sync_client:
        yield sync_client


ASSISTANT = {"model": "gpt-4o", "name": "streamer", "tools": [WEATHER_TOOL]}


@pytest.fixture(scope="module")
def assistant(client: Any) -> Any:
    """The shared fixture's assistant, once per module: transport_error needs it at module scope."""
    return client.beta.assistants.create(**ASSISTANT)


@pytest.fixture(scope="module")
def transport_error(client: Any, assistant: Any) -> str:
    """The error a stream of this SDK raises when its connection drops, seen without instrumentation."""
    thread = client.beta.threads.create()
    with pytest.raises(Exception) as caught:  # which one is what this finds out
        create_stream_true(client, assistant.id, thread.id, f"{CUT};cut_mode=abort")
    name = error_type_of(caught.value)
    assert name in TRANSPORT_ERRORS
    return name


def run_ended(otel: Otel, status: str | None, error_type: str | None = None) -> Any:
    """The one run span, ended once with this outcome; the run's metrics agree."""
    span = otel.one_run()
    assert span.kind is SpanKind.CLIENT
    assert span.attributes["gen_ai.request.stream"] is True
    assert span.attributes.get("openai.assistants.run.status") == status
    assert span.attributes.get("error.type") == error_type
    if error_type is None:
        assert span.status.status_code is StatusCode.UNSET
    else:
        assert span.status.status_code is StatusCode.ERROR
    assert otel.total("openai.assistants.runs") == 1
    assert otel.total("openai.assistants.runs", {"error.type": error_type} if error_type else None) == 1
    assert otel.total("openai.assistants.runs.active") == 0
    return span


def first_chunks(otel: Otel) -> list[Any]:
    return otel.points("gen_ai.client.operation.time_to_first_chunk")


NS = 1_000_000_000
STEP_ID = "openai.assistants.run_step.id"
STEP_TYPE = "openai.assistants.run_step.type"
STEP_STATUS = "openai.assistants.run_step.status"


def emulated_run(emulator: Any, run: Any) -> Any:
    """The emulator's own record of a run (its steps, whether it is still streaming)."""
    return emulator._store.threads[run.thread_id].runs[run.id]


def assert_live_steps(otel: Otel, emulator: Any, run: Any, kinds: list[str]) -> list[ReadableSpan]:
    """One span per step the emulator made, in the order made, each seen live in a stream: under
    the run span, with client times and the step's final attributes, and one duration point each."""
    run_span = otel.one_run()
    with emulator._store.lock:
        made = list(emulated_run(emulator, run).steps.values())
    assert [step["type"] for step in made] == kinds
    spans = otel.spans("run_step")
    assert sorted(s.attributes[STEP_ID] for s in spans) == sorted(step["id"] for step in made)  # each once
    by_id = {s.attributes[STEP_ID]: s for s in spans}
    ordered = [by_id[step["id"]] for step in made]
    for step, span in zip(made, ordered, strict=True):
        assert span.name == f"run_step {step['type']}"
        assert span.kind is SpanKind.INTERNAL
        assert span.parent.span_id == run_span.context.span_id
        assert span.attributes[STEP_TYPE] == step["type"]
        assert span.attributes[STEP_STATUS] == step["status"] == "completed"
        assert span.attributes["gen_ai.usage.input_tokens"] == step["usage"]["prompt_tokens"]
        assert span.attributes["gen_ai.usage.output_tokens"] == step["usage"]["completion_tokens"]
        # The client's clock: after the run's request went out, never a server whole second (nor
        # clamped to the run's start, as server times are).
        assert run_span.start_time < span.start_time <= span.end_time <= run_span.end_time
        assert span.start_time % NS and span.end_time % NS
    assert all(first.end_time <= then.start_time for first, then in itertools.pairwise(ordered))
    points = otel.points("openai.assistants.run_step.duration")
    assert {p.unit for p in points} == {"s"}
    assert all(set(p.attributes) == {STEP_TYPE, STEP_STATUS} for p in points)
    assert Counter({(p.attributes[STEP_TYPE], p.attributes[STEP_STATUS]): p.count for p in points}) == Counter(
        (kind, "completed") for kind in kinds)
    assert sum(p.sum for p in points) == pytest.approx(sum((s.end_time - s.start_time) / NS for s in ordered))
    return ordered


# ---- every surface, sync and async ---------------------------------------------------------------

def assert_surface(otel: Otel, emulator: Any, run: Any) -> ReadableSpan:
    assert run.status == "completed"
    span = run_ended(otel, "completed")
    assert span.attributes["openai.assistants.run.id"] == run.id
    # the emulator's default usage, from the final run event
    assert (span.attributes["gen_ai.usage.input_tokens"], span.attributes["gen_ai.usage.output_tokens"]) == (100, 20)
    assert sum(p.count for p in first_chunks(otel)) == 1
    assert_live_steps(otel, emulator, run, ["message_creation"])
    assert step_requests(emulator, run) == 0  # the stream showed the steps: run_steps=fetch asks for none
    return span


@pytest.mark.parametrize("start", SYNC_STREAM_STARTERS, ids=lambda f: f.__name__)
def test_sync_stream_surface(start: Any, otel: Otel, client: Any, assistant: Any, emulator: Any) -> None:
    skip_missing(client, start)
    client.beta.assistants.retrieve(assistant.id)  # made before instrumenting: this is how its name is learnt
    run = start(client, assistant.id, client.beta.threads.create().id, "deltas=3")
    assert assert_surface(otel, emulator, run).name == "invoke_agent streamer"


@pytest.mark.parametrize("start", ASYNC_STREAM_STARTERS, ids=lambda f: f.__name__)
async def test_async_stream_surface(start: Any, otel: Otel, aclient: Any, assistant: Any, emulator: Any) -> None:
    skip_missing(aclient, start)
    run = await start(aclient, assistant.id, (await aclient.beta.threads.create()).id, "deltas=3")
    assert_surface(otel, emulator, run)


# ---- a tool round driven by streams ----------------------------------------------------------------
# Every starter once, each with the next submitter in turn, so every submitter is used too. The
# assistant says something first, as real ones often do, so the run makes three steps.

TOOL_ROUND = "tools=2;preamble=Let me check the weather."
TOOL_ROUND_STEPS = ["message_creation", "tool_calls", "message_creation"]


def assert_tool_round(otel: Otel, emulator: Any, run: Any) -> None:
    span = run_ended(otel, "completed")
    assert span.attributes["openai.assistants.run.id"] == run.id
    tools = otel.spans("execute_tool")
    assert len(tools) == 2
    assert all(t.parent.span_id == span.context.span_id and t.status.status_code is StatusCode.UNSET
               for t in tools)
    submit = otel.spans("submit_tool_outputs")
    assert len(submit) == 1 and submit[0].parent.span_id == span.context.span_id
    assert all(t.end_time <= submit[0].end_time for t in tools)
    assert sum(p.count for p in first_chunks(otel)) == 1
    # The tool step opens in the first stream and ends in the submission's: it holds the app's tool work.
    _, tool_step, _ = assert_live_steps(otel, emulator, run, TOOL_ROUND_STEPS)
    assert all(tool_step.start_time <= t.start_time <= t.end_time <= tool_step.end_time for t in tools)
    with emulator._store.lock:
        calls = next(s for s in emulated_run(emulator, run).steps.values() if s["type"] == "tool_calls")
    assert sorted(t.attributes["gen_ai.tool.call.id"] for t in tools) == sorted(
        c["id"] for c in calls["step_details"]["tool_calls"])
    assert step_requests(emulator, run) == 0


@pytest.mark.parametrize(("start", "submit"), list(zip(SYNC_STREAM_STARTERS, itertools.cycle(SYNC_STREAM_SUBMITTERS))),
                         ids=lambda f: f.__name__)
def test_sync_tool_round(start: Any, submit: Any, otel: Otel, client: Any, assistant: Any, emulator: Any) -> None:
    skip_missing(client, start)
    run = start(client, assistant.id, client.beta.threads.create().id, TOOL_ROUND)
    assert run.status == "requires_action"
    assert otel.run_spans() == []  # requires_action is not an end, and the stream's end is not either
    assert len(otel.instrumentor.tracker.state_for(run.id).tools) == 2
    assert [s.name for s in otel.spans("run_step")] == ["run_step message_creation"]  # the tool step is still open
    run = submit(client, run)
    assert run.status == "completed"
    assert_tool_round(otel, emulator, run)


@pytest.mark.parametrize(("start", "submit"),
                         list(zip(ASYNC_STREAM_STARTERS, itertools.cycle(ASYNC_STREAM_SUBMITTERS))),
                         ids=lambda f: f.__name__)
async def test_async_tool_round(start: Any, submit: Any, otel: Otel, aclient: Any, assistant: Any,
                                emulator: Any) -> None:
    skip_missing(aclient, start)
    run = await start(aclient, assistant.id, (await aclient.beta.threads.create()).id, TOOL_ROUND)
    assert run.status == "requires_action"
    assert otel.run_spans() == []
    assert [s.name for s in otel.spans("run_step")] == ["run_step message_creation"]
    run = await submit(aclient, run)
    assert run.status == "completed"
    assert_tool_round(otel, emulator, run)


# ---- steps the app lists itself, built-in tools ------------------------------------------------------

def assert_listed_steps_add_nothing(otel: Otel, emulator: Any, run: Any, listed: list[Any]) -> None:
    """The app listed the steps mid-run and at the end, and retrieved one: still only the live
    spans, each once, and no step request but the app's own."""
    assert [step.type for step in listed] == TOOL_ROUND_STEPS
    assert_live_steps(otel, emulator, run, TOOL_ROUND_STEPS)
    assert step_requests(emulator, run) == 2
    run_span = otel.one_run()
    operations = otel.spans("list_run_steps") + otel.spans("retrieve_run_step")
    assert [s.name for s in operations] == ["list_run_steps", "list_run_steps", "retrieve_run_step"]
    assert all(s.parent.span_id == run_span.context.span_id for s in operations)


# At the hand-off the preamble's step is done (and described live already), the tool step still runs.
AT_HAND_OFF = [("message_creation", "completed"), ("tool_calls", "in_progress")]


def test_app_step_listing_after_a_stream(otel: Otel, client: Any, assistant: Any, emulator: Any) -> None:
    run = stream_until_done(client, assistant.id, client.beta.threads.create().id, TOOL_ROUND)
    assert run.status == "requires_action"
    assert [(s.type, s.status) for s in server_steps(client, run)] == AT_HAND_OFF
    run = submit_stream(client, run)
    listed = server_steps(client, run)
    client.beta.threads.runs.steps.retrieve(listed[1].id, thread_id=run.thread_id, run_id=run.id)
    assert_listed_steps_add_nothing(otel, emulator, run, listed)


async def test_async_app_step_listing_after_a_stream(otel: Otel, aclient: Any, assistant: Any,
                                                     emulator: Any) -> None:
    steps = aclient.beta.threads.runs.steps
    run = await async_stream_until_done(aclient, assistant.id, (await aclient.beta.threads.create()).id, TOOL_ROUND)
    assert run.status == "requires_action"
    assert [(s.type, s.status) for s in (await steps.list(run.id, thread_id=run.thread_id, order="asc")).data] == (
        AT_HAND_OFF)
    run = await async_submit_stream(aclient, run)
    listed = (await steps.list(run.id, thread_id=run.thread_id, order="asc")).data
    await steps.retrieve(listed[1].id, thread_id=run.thread_id, run_id=run.id)
    assert_listed_steps_add_nothing(otel, emulator, run, listed)


BUILTINS = [("code_interpreter", "extension"), ("file_search", "datastore")]


def assert_builtin_under_its_step(otel: Otel, emulator: Any, run: Any, builtin: str, tool_type: str) -> None:
    assert run.status == "completed"
    tool_step, _ = assert_live_steps(otel, emulator, run, ["tool_calls", "message_creation"])
    with emulator._store.lock:
        [call] = emulated_run(emulator, run).steps[tool_step.attributes[STEP_ID]]["step_details"]["tool_calls"]
    [tool] = otel.spans("execute_tool")
    assert tool.name == f"execute_tool {builtin}"
    assert tool.kind is SpanKind.INTERNAL
    assert tool.parent.span_id == tool_step.context.span_id
    assert (tool.start_time, tool.end_time) == (tool_step.start_time, tool_step.end_time)  # it ran in the step
    expected: dict[str, Any] = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": builtin,
                                "gen_ai.tool.type": tool_type, "gen_ai.tool.call.id": call["id"]}
    if builtin == "file_search":
        assert len(call["file_search"]["results"]) == 2
        expected["openai.assistants.file_search.result_count"] = 2  # counted with capture off too
    assert dict(tool.attributes) == expected  # and no content: capture is off
    assert [(p.attributes, p.count) for p in otel.points("openai.assistants.tool_call.duration")] == [
        ({"gen_ai.tool.name": builtin, "gen_ai.tool.type": tool_type}, 1)]
    assert step_requests(emulator, run) == 0


@pytest.mark.parametrize(("builtin", "tool_type"), BUILTINS)
def test_builtin_tool_from_a_stream(builtin: str, tool_type: str, otel: Otel, client: Any, assistant: Any,
                                    emulator: Any) -> None:
    run = create_stream_true(client, assistant.id, client.beta.threads.create().id, f"builtin={builtin}")
    assert_builtin_under_its_step(otel, emulator, run, builtin, tool_type)


@pytest.mark.parametrize(("builtin", "tool_type"), BUILTINS)
async def test_async_builtin_tool_from_a_stream(builtin: str, tool_type: str, otel: Otel, aclient: Any,
                                                assistant: Any, emulator: Any) -> None:
    run = await async_stream_with_handler(aclient, assistant.id, (await aclient.beta.threads.create()).id,
                                          f"builtin={builtin}")
    assert_builtin_under_its_step(otel, emulator, run, builtin, tool_type)


def server_stream_done(emulator: Any, run: Any) -> None:
    """Wait until the emulator has sent the whole of the run's current stream. It serves a run's
    events from one shared generator, so a submit arriving before that would lose its first events
    to the previous stream's connection."""
    state = emulated_run(emulator, run)
    deadline = time.monotonic() + 10
    while state.streaming and time.monotonic() < deadline:
        time.sleep(0.005)
    assert not state.streaming


def test_run_watched_by_two_streams_ends_with_the_last(otel: Otel, client: Any, assistant: Any,
                                                        emulator: Any) -> None:
    """The tool outputs go in on a second stream while the first is still open: closing the first
    must not abandon a run the second is still following."""
    runs = client.beta.threads.runs
    first = runs.create(thread_id=client.beta.threads.create().id, assistant_id=assistant.id, stream=True,
                        metadata={"scenario": "tools=1"})
    run = next(e.data for e in first if e.event == "thread.run.requires_action")  # its end left unread
    server_stream_done(emulator, run)
    second = runs.submit_tool_outputs(run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run), stream=True)
    next(second)
    first.close()
    assert otel.run_spans() == []
    assert [e.event for e in second][-1] == "thread.run.completed"
    run_ended(otel, "completed")


# ---- streams that stop early ------------------------------------------------------------------------

SYNC_STOPPERS = [create_stream_true, stream_until_done, stream_iterated, create_and_run_stream, streaming_response,
                 raw_response_stream]
ASYNC_STOPPERS = [async_create_stream_true, async_stream_until_done, async_stream_iterated,
                  async_create_and_run_stream, async_streaming_response, async_raw_response_stream]
ENDINGS = ["cut_close", "cut_abort", "error_event"]
SCENARIOS = {"cut_close": f"{CUT};cut_mode=close", "cut_abort": f"{CUT};cut_mode=abort",
             "error_event": "stream_error=1"}


def expected_ending(ending: str, transport_error: str) -> str:
    return {"cut_abort": transport_error, "error_event": SDK_ERROR}[ending]


def assert_stopped(otel: Otel, ending: str, transport_error: str) -> None:
    if ending == "cut_close":  # no error: the run went on server-side, and its look-up says how it ended
        assert_looked_up(otel)
        return
    error_type = expected_ending(ending, transport_error)
    span = run_ended(otel, "in_progress", error_type)
    exceptions = [e for e in span.events if e.name == "exception"]
    assert [e.attributes["exception.type"].rsplit(".", 1)[-1] for e in exceptions] == [error_type.rsplit(".", 1)[-1]]


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("start", SYNC_STOPPERS, ids=lambda f: f.__name__)
def test_sync_stream_stops_early(start: Any, ending: str, otel: Otel, client: Any, assistant: Any,
                                 transport_error: str) -> None:
    thread = client.beta.threads.create()
    if ending == "cut_close":  # the body just ends: the SDK stops without a terminal event
        assert start(client, assistant.id, thread.id, SCENARIOS[ending]).status == "in_progress"
    else:
        with pytest.raises(Exception):  # noqa: B017 - which one is the SDK's business; the span says
            start(client, assistant.id, thread.id, SCENARIOS[ending])
    assert_stopped(otel, ending, transport_error)


@pytest.mark.parametrize("ending", ENDINGS)
@pytest.mark.parametrize("start", ASYNC_STOPPERS, ids=lambda f: f.__name__)
async def test_async_stream_stops_early(start: Any, ending: str, otel: Otel, aclient: Any, assistant: Any,
                                        transport_error: str) -> None:
    thread = await aclient.beta.threads.create()
    if ending == "cut_close":
        assert (await start(aclient, assistant.id, thread.id, SCENARIOS[ending])).status == "in_progress"
    else:
        with pytest.raises(Exception):  # noqa: B017
            await start(aclient, assistant.id, thread.id, SCENARIOS[ending])
    assert_stopped(otel, ending, transport_error)


def test_step_left_open_by_a_cut_stream_keeps_its_type(otel: Otel, client: Any, assistant: Any) -> None:
    run = create_stream_true(client, assistant.id, client.beta.threads.create().id, f"{CUT};cut_mode=close")
    assert run.status == "in_progress"
    assert_looked_up(otel)
    [step] = otel.spans("run_step")  # cut inside the message step: it ends with the run, as last seen
    assert step.name == "run_step message_creation"
    assert [p.attributes.get(STEP_TYPE) for p in otel.points("openai.assistants.run_step.duration")] == [
        "message_creation"]


# ---- a run streamed up to its tool hand-off, then polled to its end -------------------------------

def assert_stream_then_polled(otel: Otel, emulator: Any, run: Any) -> None:
    """The tool step a stream saw start ends as last seen in the stream, with the run: a streamed
    run gets no step fetch (its steps were seen live), whatever ``run_steps`` says."""
    assert run.status == "completed"
    run_span = run_ended(otel, "completed")
    steps = {s.attributes[STEP_TYPE]: s for s in otel.spans("run_step")}
    tool_step = steps.pop("tool_calls")
    assert tool_step.parent.span_id == run_span.context.span_id
    assert tool_step.start_time % NS  # its start was seen live
    assert run_span.start_time < tool_step.start_time <= tool_step.end_time <= run_span.end_time
    [tool] = otel.spans("execute_tool")
    assert tool_step.start_time <= tool.start_time
    durations = Counter({(p.attributes[STEP_TYPE], p.attributes.get(STEP_STATUS)): p.count
                         for p in otel.points("openai.assistants.run_step.duration")})
    assert tool_step.attributes[STEP_STATUS] == "in_progress"
    assert tool_step.end_time == run_span.end_time
    assert steps == {}
    assert durations == Counter({("tool_calls", "in_progress"): 1})
    assert step_requests(emulator, run) == 0


@pytest.mark.parametrize("run_steps", ["fetch", "observed"])
def test_stream_then_polled_to_the_end(make_otel: Callable[..., Otel], run_steps: str, client: Any, assistant: Any,
                                       emulator: Any) -> None:
    otel = make_otel(run_steps=run_steps)
    try:
        run = stream_until_done(client, assistant.id, client.beta.threads.create().id, "tools=1")
        assert run.status == "requires_action"
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run), poll_interval_ms=1)
        assert_stream_then_polled(otel, emulator, run)
    finally:
        otel.close()


@pytest.mark.parametrize("run_steps", ["fetch", "observed"])
async def test_async_stream_then_polled_to_the_end(make_otel: Callable[..., Otel], run_steps: str, aclient: Any,
                                                   assistant: Any,
                                                   emulator: Any) -> None:
    otel = make_otel(run_steps=run_steps)
    try:
        run = await async_stream_until_done(aclient, assistant.id, (await aclient.beta.threads.create()).id,
                                            "tools=1")
        assert run.status == "requires_action"
        run = await aclient.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run), poll_interval_ms=1)
        assert_stream_then_polled(otel, emulator, run)
    finally:
        otel.close()


def read_to_first_delta(stream: Any) -> None:
    for event in stream:
        if event.event == "thread.message.delta":
            return
    raise AssertionError("the stream had no message delta")


async def aread_to_first_delta(stream: Any) -> None:
    async for event in stream:
        if event.event == "thread.message.delta":
            return
    raise AssertionError("the stream had no message delta")


def look_up_now(otel: Otel, later: float = 200) -> None:
    """What happens once a run the app stopped watching has gone unseen for a while (``later``
    seconds from now; look-ups come every 132 s of a run's 10-minute life): its owner asks the API
    for it, off the app's path."""
    otel.instrumentor.tracker.sweep(now=time.time() + later)
    otel.settle()


def assert_looked_up(otel: Otel, status: str = "completed") -> Any:
    """A stream given up early: the run goes on server-side, so its span stays open until a look-up
    finds how it ended (the emulator finishes a run whose stream was left)."""
    assert otel.run_spans() == [], "ended before anyone saw the run end"
    look_up_now(otel)
    span = run_ended(otel, status)
    assert not [e for e in span.events if e.name == "exception"]
    assert otel.total("openai.assistants.instrumentation.requests",
                      {"openai.assistants.instrumentation.request.type": "run_lookup",
                       "openai.assistants.instrumentation.request.outcome": "sent"}) == 1
    return span


def create(client: Any, assistant: Any, scenario: str = "deltas=5") -> Any:
    return client.beta.threads.create_and_run(assistant_id=assistant.id, thread=QUESTION, stream=True,
                                              metadata={"scenario": scenario})


def test_break_out_of_the_loop_then_drop(otel: Otel, client: Any, assistant: Any) -> None:
    stream = create(client, assistant)
    read_to_first_delta(stream)
    assert otel.run_spans() == []  # the app still holds the stream: it may read on
    del stream
    assert_looked_up(otel)


@pytest.mark.parametrize("surface", ["create", "runs_stream", "create_and_run_stream", "streaming_response"])
def test_leave_the_with_block_after_the_first_delta(surface: str, otel: Otel, client: Any, assistant: Any) -> None:
    threads = client.beta.threads
    scenario = {"scenario": "deltas=5"}
    if surface == "create":
        with create(client, assistant) as stream:
            read_to_first_delta(stream)
    elif surface == "runs_stream":
        with threads.runs.stream(thread_id=threads.create().id, assistant_id=assistant.id,
                                 metadata=scenario) as handler:
            read_to_first_delta(handler)
    elif surface == "create_and_run_stream":
        with threads.create_and_run_stream(assistant_id=assistant.id, thread=QUESTION, metadata=scenario) as handler:
            read_to_first_delta(handler)
    else:
        with threads.runs.with_streaming_response.create(thread_id=threads.create().id, assistant_id=assistant.id,
                                                         metadata=scenario, stream=True) as response:
            read_to_first_delta(response.parse())
    assert_looked_up(otel)


def test_close_after_the_first_delta(otel: Otel, client: Any, assistant: Any) -> None:
    stream = create(client, assistant)
    read_to_first_delta(stream)
    stream.close()
    assert_looked_up(otel)
    stream.close()  # twice: still one end
    assert len(otel.run_spans()) == 1


def test_event_handler_closed_after_the_first_delta(otel: Otel, client: Any, assistant: Any) -> None:
    threads = client.beta.threads
    manager = threads.runs.stream(thread_id=threads.create().id, assistant_id=assistant.id,
                                  metadata={"scenario": "deltas=5"})
    handler = manager.__enter__()
    read_to_first_delta(handler)
    handler.close()
    assert_looked_up(otel)
    manager.__exit__(None, None, None)


@pytest.mark.parametrize("surface", ["create", "raw_response", "streaming_response"])
def test_never_read_and_dropped(surface: str, otel: Otel, client: Any, assistant: Any) -> None:
    threads = client.beta.threads
    if surface == "create":
        stream = create(client, assistant)
        assert isinstance(stream, openai.Stream)
        del stream
    elif surface == "raw_response":
        raw = threads.with_raw_response.create_and_run(assistant_id=assistant.id, thread=QUESTION, stream=True)
        raw.http_response.close()  # the app's business; parse() is never called
        del raw
    else:
        with threads.with_streaming_response.create_and_run(assistant_id=assistant.id, thread=QUESTION, stream=True):
            pass
    gc.collect()
    span = run_ended(otel, None, "abandoned")  # no event was read: the run's status was never seen
    assert "openai.assistants.run.id" not in span.attributes


def test_stream_collected_inside_a_collection_ends_on_the_next_request(otel: Otel, client: Any,
                                                                       assistant: Any) -> None:
    """An event handler and its generator form a cycle, so the stream proxy they hold goes during a
    garbage collection, where it may not do real work: its run ends on the next request instead."""
    threads = client.beta.threads
    manager = threads.create_and_run_stream(assistant_id=assistant.id, thread=QUESTION,
                                            metadata={"scenario": "deltas=5"})
    handler = manager.__enter__()
    read_to_first_delta(handler)
    del manager, handler
    gc.collect()
    assert len(streams.dropped_observers) == 1
    threads.create()
    assert not streams.dropped_observers
    assert_looked_up(otel)


async def test_async_abandoned_streams(otel: Otel, aclient: Any, assistant: Any) -> None:
    threads = aclient.beta.threads

    async def acreate() -> Any:
        return await threads.create_and_run(assistant_id=assistant.id, thread=QUESTION, stream=True,
                                            metadata={"scenario": "deltas=5"})

    tracker = otel.instrumentor.tracker
    # broken out of, then dropped
    stream = await acreate()
    await aread_to_first_delta(stream)
    del stream
    # The `async for` left its async generator (which holds the stream, as the SDK's own does) to
    # the loop's finalizer hook; the stream goes once the loop has run that.
    for _ in range(3):
        await asyncio.sleep(0)
    assert len(streams._watchers) == 0 and tracker.tracked == 1  # stopped watching, still open
    # left the `async with` block
    async with await acreate() as stream:
        await aread_to_first_delta(stream)
    # closed
    stream = await acreate()
    await aread_to_first_delta(stream)
    await stream.close()
    assert len(streams._watchers) == 0 and tracker.tracked == 3
    assert otel.run_spans() == []
    # never read: not even the run's id was seen, so nothing can be asked later
    stream = await acreate()
    assert isinstance(stream, openai.AsyncStream)
    await stream.response.aclose()
    del stream
    gc.collect()
    assert [s.attributes["error.type"] for s in otel.run_spans()] == ["abandoned"]
    # an event handler closed early
    async with threads.create_and_run_stream(assistant_id=assistant.id, thread=QUESTION,
                                             metadata={"scenario": "deltas=5"}) as handler:
        await aread_to_first_delta(handler)
    # a streaming response left early
    async with threads.with_streaming_response.create_and_run(
            assistant_id=assistant.id, thread=QUESTION, stream=True, metadata={"scenario": "deltas=5"}) as response:
        await aread_to_first_delta(await response.parse())
    assert tracker.tracked == 5
    look_up_now(otel)
    spans = otel.run_spans()
    assert len(spans) == 6
    assert sorted(s.attributes.get("openai.assistants.run.status", "-") for s in spans) == ["-"] + ["completed"] * 5
    assert otel.total("openai.assistants.runs", {"error.type": "abandoned"}) == 1
    assert otel.total("openai.assistants.runs", {"openai.assistants.run.status": "completed"}) == 5
    assert otel.total("openai.assistants.runs.active") == 0


# ---- other threads and tasks ------------------------------------------------------------------------

def test_stream_read_in_another_thread(otel: Otel, client: Any, assistant: Any) -> None:
    stream = create(client, assistant)
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(e.event for e in stream))
    reader.start()
    reader.join()
    assert seen[-1] == "thread.run.completed"
    run_ended(otel, "completed")


def test_stream_helper_entered_in_another_thread(otel: Otel, client: Any, assistant: Any) -> None:
    """The helper sends its request when entered: here in a thread other than the one that made it."""
    manager = client.beta.threads.create_and_run_stream(assistant_id=assistant.id, thread=QUESTION)
    runs: list[Any] = []

    def enter() -> None:
        with manager as handler:
            handler.until_done()
            runs.append(handler.current_run)

    worker = threading.Thread(target=enter)
    worker.start()
    worker.join()
    assert runs[0].status == "completed"
    run_ended(otel, "completed")


def test_stream_closed_from_another_thread(otel: Otel, client: Any, assistant: Any) -> None:
    stream = create(client, assistant)
    read_to_first_delta(stream)
    closer = threading.Thread(target=stream.close)
    closer.start()
    closer.join()
    assert_looked_up(otel)


def test_streams_in_many_threads(otel: Otel, client: Any, assistant: Any) -> None:
    failures: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(3):
                with create(client, assistant, "tools=1") as stream:
                    run = last_run(list(stream))  # read to its end (see server_stream_done)
                with client.beta.threads.runs.submit_tool_outputs_stream(
                        run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run)) as handler:
                    handler.until_done()
        except BaseException as error:
            failures.append(error)

    workers = [threading.Thread(target=work) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert not failures
    spans = otel.run_spans()
    assert len(spans) == 18
    assert len({s.attributes["openai.assistants.run.id"] for s in spans}) == 18
    assert all(s.attributes["openai.assistants.run.status"] == "completed" for s in spans)
    assert len(otel.spans("execute_tool")) == 18
    assert otel.total("openai.assistants.runs.active") == 0


async def test_stream_read_in_another_task(otel: Otel, aclient: Any, assistant: Any) -> None:
    stream = await aclient.beta.threads.create_and_run(assistant_id=assistant.id, thread=QUESTION, stream=True)

    async def read() -> list[str]:
        return [event.event async for event in stream]

    assert (await asyncio.create_task(read()))[-1] == "thread.run.completed"
    run_ended(otel, "completed")


async def test_stream_helpers_entered_in_another_task(otel: Otel, aclient: Any, assistant: Any) -> None:
    """The async helpers hold their request's coroutine until entered: here by another task."""
    threads = aclient.beta.threads
    manager = threads.create_and_run_stream(assistant_id=assistant.id, thread=QUESTION)
    response_manager = threads.with_streaming_response.create_and_run(assistant_id=assistant.id, thread=QUESTION,
                                                                      stream=True)

    async def enter() -> list[str]:
        async with manager as handler:
            await handler.until_done()
        async with response_manager as response:
            return [event.event async for event in await response.parse()]

    assert (await asyncio.create_task(enter()))[-1] == "thread.run.completed"
    spans = otel.run_spans()
    assert [s.attributes["openai.assistants.run.status"] for s in spans] == ["completed", "completed"]


async def test_streams_in_many_tasks(otel: Otel, aclient: Any, assistant: Any) -> None:
    async def one() -> str:
        async with aclient.beta.threads.create_and_run_stream(assistant_id=assistant.id, thread=QUESTION,
                                                              metadata={"scenario": "delta_delay_ms=5"}) as handler:
            await handler.until_done()
            return (await handler.get_final_run()).status

    assert await asyncio.gather(*(one() for _ in range(8))) == ["completed"] * 8
    spans = otel.run_spans()
    assert len({s.attributes["openai.assistants.run.id"] for s in spans}) == 8
    assert otel.total("openai.assistants.runs.active") == 0


async def test_reading_task_cancelled(otel: Otel, aclient: Any, assistant: Any) -> None:
    """A cancelled task stops its stream but says nothing about the run: it goes on, no error of its own."""
    stream = await aclient.beta.threads.create_and_run(assistant_id=assistant.id, thread=QUESTION, stream=True,
                                                       metadata={"scenario": "hold=1"})
    started = asyncio.Event()
    seen: list[Any] = []

    async def read() -> None:
        async for event in stream:
            if event.event == "thread.run.in_progress":
                seen.append(event.data)
                started.set()

    task = asyncio.create_task(read())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await stream.close()
    look_up_now(otel)  # the held run goes on server-side: still in progress, so still open
    assert otel.run_spans() == []
    state = otel.instrumentor.tracker.state_for(seen[0].id)
    assert state is not None and state.status == "in_progress"
    assert not [e for e in state.span.events if e.name == "exception"]
    await aclient.beta.threads.runs.cancel(seen[0].id, thread_id=seen[0].thread_id)


# ---- time to first chunk ------------------------------------------------------------------------------
# The emulator sends the first message delta at once and waits delta_delay_ms between deltas; the
# app here waits APP_WAIT before reading. The first chunk is the first delta the app receives, so
# the value is at least APP_WAIT and far below APP_WAIT plus one delay (not taken at a later delta).

APP_WAIT = 0.2
DELAY_MS = 400


def assert_first_chunk(otel: Otel) -> None:
    points = first_chunks(otel)
    assert len(points) == 1 and points[0].count == 1
    assert points[0].attributes == {"gen_ai.operation.name": "invoke_agent", "gen_ai.response.model": "gpt-4o"}
    assert APP_WAIT <= points[0].sum < APP_WAIT + DELAY_MS / 1000
    assert points[0].unit == "s"


def test_time_to_first_chunk(otel: Otel, client: Any, assistant: Any) -> None:
    stream = create(client, assistant, f"deltas=3;delta_delay_ms={DELAY_MS}")
    time.sleep(APP_WAIT)
    deltas = [e for e in stream if e.event == "thread.message.delta"]
    assert len(deltas) == 3
    assert_first_chunk(otel)


async def test_async_time_to_first_chunk(otel: Otel, aclient: Any, assistant: Any) -> None:
    async with aclient.beta.threads.create_and_run_stream(
            assistant_id=assistant.id, thread=QUESTION,
            metadata={"scenario": f"deltas=3;delta_delay_ms={DELAY_MS}"}) as handler:
        await asyncio.sleep(APP_WAIT)
        await handler.until_done()
    assert_first_chunk(otel)


# ---- what the app sees is unchanged --------------------------------------------------------------------

VOLATILE = {"id", "thread_id", "run_id", "assistant_id", "message_id", "step_id", "tool_call_id", "file_id",
            "created_at", "started_at", "completed_at", "expires_at", "failed_at", "cancelled_at", "incomplete_at",
            "expired_at"}
CALLBACKS = ("on_event", "on_run_step_created", "on_run_step_delta", "on_run_step_done", "on_tool_call_created",
             "on_tool_call_delta", "on_tool_call_done", "on_message_created", "on_message_delta", "on_message_done",
             "on_text_created", "on_text_delta", "on_text_done", "on_image_file_done", "on_exception", "on_timeout",
             "on_end")


def shape(value: Any) -> Any:
    """A value with the server's fresh ids and times taken out; exceptions by type."""
    if isinstance(value, BaseException):
        return error_type_of(value)
    if isinstance(value, openai.BaseModel):
        return type(value).__name__, shape(value.model_dump() if hasattr(value, "model_dump") else value.dict())
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, (list, tuple)):
        return [shape(v) for v in value]
    return value


def recording(base: type, asynchronous: bool) -> type:
    """An event handler class that records every callback the SDK makes, with its arguments."""

    def make(name: str) -> Callable[..., Any]:
        if asynchronous:
            async def acallback(self: Any, *args: Any) -> None:
                self.calls.append((name, shape(args)))
            return acallback

        def callback(self: Any, *args: Any) -> None:
            self.calls.append((name, shape(args)))
        return callback

    def init(self: Any) -> None:
        base.__init__(self)
        self.calls = []

    methods: dict[str, Any] = {name: make(name) for name in CALLBACKS if hasattr(base, name)}
    return type(f"Recording{base.__name__}", (base,), {"__init__": init, **methods})


HANDLER_SCENARIOS = ["tools=2;builtin=code_interpreter", "stream_error=1", f"{CUT};cut_mode=abort",
                     f"{CUT};cut_mode=close"]


def handler_session(client: Any, assistant_id: str, scenario: str) -> list[Any]:
    """create_and_run_stream, then submit_tool_outputs_stream while the run asks: every callback."""
    from openai.lib.streaming import AssistantEventHandler

    handler_class = recording(AssistantEventHandler, asynchronous=False)
    seen: list[Any] = []
    try:
        handler = handler_class()
        with client.beta.threads.create_and_run_stream(assistant_id=assistant_id, thread=QUESTION,
                                                       metadata={"scenario": scenario}, event_handler=handler):
            handler.until_done()
        seen += handler.calls
        run = handler.current_run
        while run is not None and run.status == "requires_action":
            handler = handler_class()
            with client.beta.threads.runs.submit_tool_outputs_stream(
                    run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run),
                    event_handler=handler) as stream:
                stream.until_done()
            seen += handler.calls
            seen.append(("final", shape(stream.get_final_messages()), shape(stream.get_final_run_steps())))
            run = stream.current_run
        seen.append(("run", shape(run)))
    except Exception as error:
        seen += handler.calls
        seen.append(("raised", shape(error)))
    return seen


async def async_handler_session(client: Any, assistant_id: str, scenario: str) -> list[Any]:
    from openai.lib.streaming import AsyncAssistantEventHandler

    handler_class = recording(AsyncAssistantEventHandler, asynchronous=True)
    seen: list[Any] = []
    try:
        handler = handler_class()
        async with client.beta.threads.create_and_run_stream(assistant_id=assistant_id, thread=QUESTION,
                                                             metadata={"scenario": scenario}, event_handler=handler):
            await handler.until_done()
        seen += handler.calls
        run = handler.current_run
        while run is not None and run.status == "requires_action":
            handler = handler_class()
            async with client.beta.threads.runs.submit_tool_outputs_stream(
                    run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run),
                    event_handler=handler) as stream:
                await stream.until_done()
            seen += handler.calls
            seen.append(("final", shape(await stream.get_final_messages()), shape(await stream.get_final_run_steps())))
            run = stream.current_run
        seen.append(("run", shape(run)))
    except Exception as error:
        seen += handler.calls
        seen.append(("raised", shape(error)))
    return seen


@pytest.mark.parametrize("scenario", HANDLER_SCENARIOS)
def test_handler_callbacks_unchanged(make_otel: Callable[..., Otel], scenario: str, client: Any,
                                     assistant: Any) -> None:
    plain = handler_session(client, assistant.id, scenario)
    otel = make_otel()
    try:
        instrumented = handler_session(client, assistant.id, scenario)
    finally:
        otel.close()
    assert instrumented == plain
    names = [call[0] for call in plain]
    assert names.count("on_end") >= 1
    if scenario.startswith("tools"):
        assert {"on_tool_call_created", "on_tool_call_delta", "on_tool_call_done", "on_text_delta",
                "on_message_done", "on_run_step_done"} <= set(names)
    assert len(otel.run_spans()) == 1


@pytest.mark.parametrize("scenario", HANDLER_SCENARIOS)
async def test_async_handler_callbacks_unchanged(make_otel: Callable[..., Otel], scenario: str, aclient: Any,
                                                 assistant: Any) -> None:
    plain = await async_handler_session(aclient, assistant.id, scenario)
    otel = make_otel()
    try:
        instrumented = await async_handler_session(aclient, assistant.id, scenario)
    finally:
        otel.close()
    assert instrumented == plain
    assert len(otel.run_spans()) == 1


def events_of(client: Any, assistant_id: str, scenario: str) -> list[Any]:
    """What a `stream=True` reader gets, shaped; an exception ends the list."""
    seen: list[Any] = []
    try:
        for event in client.beta.threads.create_and_run(assistant_id=assistant_id, thread=QUESTION, stream=True,
                                                        metadata={"scenario": scenario}):
            seen.append((type(event).__name__, event.event, shape(event.data)))
    except Exception as error:
        seen.append(("raised", shape(error)))
    return seen


def test_stream_objects_unchanged(otel: Otel, client: Any, assistant: Any) -> None:
    threads = client.beta.threads
    stream = threads.runs.create(thread_id=threads.create().id, assistant_id=assistant.id, stream=True,
                                 metadata={"scenario": "tools=1"})
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200
    with stream as entered:
        assert entered is stream
        run = last_run(list(stream))
    stream = threads.runs.submit_tool_outputs(run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run),
                                              stream=True)
    assert isinstance(stream, openai.Stream)
    assert last_run(list(stream)).status == "completed"
    raw = threads.with_raw_response.create_and_run(assistant_id=assistant.id, thread=QUESTION, stream=True)
    parsed = raw.parse()
    assert parsed is raw.parse()  # parsed once, as the SDK caches it
    assert isinstance(parsed, openai.Stream)
    assert raw.status_code == 200 and raw.headers["content-type"].startswith("text/event-stream")
    list(parsed)
    with threads.runs.stream(thread_id=threads.create().id, assistant_id=assistant.id) as handler:
        handler.until_done()
        assert handler.current_run.status == "completed"
        assert handler.get_final_run().status == "completed"
        assert handler.get_final_messages()[0].content[0].text.value == "Hello from the emulator."
    assert len(otel.run_spans()) == 3 and len(otel.spans("execute_tool")) == 1


async def test_async_stream_objects_unchanged(otel: Otel, aclient: Any, assistant: Any) -> None:
    threads = aclient.beta.threads
    stream = await threads.runs.create(thread_id=(await threads.create()).id, assistant_id=assistant.id,
                                       stream=True)
    assert isinstance(stream, openai.AsyncStream)
    async with stream as entered:
        assert entered is stream
        assert [e.event async for e in stream][-1] == "thread.run.completed"
    async with threads.with_streaming_response.create_and_run(assistant_id=assistant.id, thread=QUESTION,
                                                              stream=True) as response:
        parsed = await response.parse()
        assert parsed is await response.parse()
        assert isinstance(parsed, openai.AsyncStream)
        assert [e.event async for e in parsed][-1] == "thread.run.completed"
    async with threads.runs.stream(thread_id=(await threads.create()).id, assistant_id=assistant.id) as handler:
        await handler.until_done()
        assert handler.current_run.status == "completed"
        assert (await handler.get_final_messages())[0].content[0].text.value == "Hello from the emulator."
    assert len(otel.run_spans()) == 3


# ---- our own failures stay ours ---------------------------------------------------------------------------

def broken(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("instrumentation bug")


@pytest.mark.parametrize("scenario", ["tools=0", f"{CUT};cut_mode=abort"])
@pytest.mark.parametrize("target", ["stream_event", "stream_stopped", "both", "observe_run_stream"])
def test_internal_error_never_reaches_the_app(make_otel: Callable[..., Otel], target: str, scenario: str, client: Any,
                                              assistant: Any,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    plain = events_of(client, assistant.id, scenario)
    otel = make_otel()
    try:
        if target == "observe_run_stream":
            monkeypatch.setattr("otel_assistants.interceptor.observe_run_stream", broken)
        for method in ("stream_event", "stream_stopped"):
            if target in (method, "both"):
                monkeypatch.setattr(RunTracker, method, broken)
        instrumented = events_of(client, assistant.id, scenario)
        monkeypatch.undo()
    finally:
        otel.close()
    assert instrumented == plain
    assert plain[-1][0] == ("raised" if "abort" in scenario else "ThreadRunCompleted")
    assert len(otel.run_spans()) == 1  # whatever it missed, the run still ends exactly once


# ---- memory ------------------------------------------------------------------------------------------------
# The SDK alone needs several milliseconds per request here, so the default count keeps the test
# short; OTEL_ASSISTANTS_STREAM_SOAK=10000 runs the full soak.

SOAK = int(os.environ.get("OTEL_ASSISTANTS_STREAM_SOAK", "1000"))
SOAK_WORKERS = 4


def live(kind: type) -> int:
    return sum(1 for obj in gc.get_objects() if type(obj) is kind)


def test_abandoned_streams_leave_nothing_alive(make_otel: Callable[..., Otel], emulator: Any, assistant: Any) -> None:
    otel = make_otel(max_tracked_runs=64)
    failures: list[BaseException] = []

    def abandon(count: int) -> None:
        client = openai.OpenAI(base_url=emulator.base_url, api_key="sk-test-key", max_retries=0)
        threads = client.beta.threads
        try:
            for index in range(count):
                # The HTTP responses are closed underneath, behind the stream's back: SDK 1.x never
                # releases the connection of a dropped stream, and the pool would run dry.
                if index % 4 == 3:
                    raw = threads.with_raw_response.create_and_run(assistant_id=assistant.id, stream=True)
                    raw.http_response.close()
                    del raw
                else:
                    stream = threads.create_and_run(assistant_id=assistant.id, stream=True)
                    next(stream)
                    stream.response.close()
                    del stream
        except BaseException as error:
            failures.append(error)
        finally:
            client.close()

    try:
        workers = [threading.Thread(target=abandon, args=(SOAK // SOAK_WORKERS,)) for _ in range(SOAK_WORKERS)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert not failures
        gc.collect()
        tracker = otel.instrumentor.tracker
        assert tracker.tracked == 0  # every run ended by its stream, none evicted by the cap
        spans = otel.run_spans()
        assert len(spans) == SOAK
        assert all(s.attributes["error.type"] == "abandoned" for s in spans)
        assert otel.total("openai.assistants.runs.active") == 0
        assert len(tracker.registry._ended) <= 64
        otel.exporter.clear()
        for kind in (RunState, SdkSpan, streams.StreamObserver, streams.ObservedStream, streams.ObservedResponse):
            assert live(kind) == 0, kind
        assert not streams._watchers and not streams.dropped_observers
    finally:
        otel.close()


def test_stream_cut_after_requires_action_keeps_the_run_open(otel: Otel, client: Any, assistant: Any) -> None:
    """The server waits for tool outputs however the stream stopped: the app's submit still ends
    the run well, with the transport error kept as an event."""
    runs = client.beta.threads.runs
    thread = client.beta.threads.create()
    run = None
    with pytest.raises(Exception):  # noqa: B017 - the transport's own error, which differs by SDK
        for event in runs.create(thread_id=thread.id, assistant_id=assistant.id, stream=True,
                                 metadata={"scenario": "tools=1;cut_after=8;cut_mode=abort"}):
            if event.event == "thread.run.requires_action":
                run = event.data
    assert run is not None and run.status == "requires_action"
    assert otel.run_spans() == []
    runs.submit_tool_outputs(run.id, thread_id=thread.id, tool_outputs=outputs_for(run))
    final = runs.poll(run.id, thread_id=thread.id, poll_interval_ms=1)
    assert final.status == "completed"
    span = otel.one_run()
    assert span.attributes["openai.assistants.run.status"] == "completed"
    assert "error.type" not in span.attributes
    assert "exception" in [e.name for e in span.events]
    tool = otel.spans("execute_tool")[0]
    assert "error.type" not in tool.attributes
