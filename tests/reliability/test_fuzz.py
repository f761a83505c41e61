"""Fuzzed server answers: whatever the server sends, the app gets exactly what it would get
without the instrumentation, and every span still ends exactly once.

Each example serves one plan of broken answers (see ``mutations.py``) to the same app flow twice:
first with the instrumentation suppressed, then instrumented. The app's result (type and content)
or exception (type and message) must be identical, the instrumentation must log no internal
error, every span it started must end exactly once (after the shutdown-time sweep), no span may
end before it starts, and a run the app saw finish must not be left open or called abandoned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otel_assistants import attributes
from otel_assistants.emulator import Emulator
from otel_assistants.emulator.ingestion import failing_filename
from otel_assistants.interceptor import Interceptor
from otel_assistants.tracker import RunTracker

from ..support.flows import QUESTION, TERMINAL, WEATHER, outputs_for, vector_stores
from .mutations import Plan, plans
from .support import LogTrap, Outcome, Watched, outcome_of, run_spans, uninstrumented

# The SDK's stream helpers serialize the models they build from fuzzed events; pydantic warns
# about the wrong types a plan put there, which is the point of the plan.
pytestmark = pytest.mark.filterwarnings("ignore:Pydantic serializer warnings:UserWarning")

API_KEY = "sk-fuzz"
# A manual loop stops after this many requests, like any app with a retry limit.
LOOP_LIMIT = 8


class Bench:
    """One instrumentation, a sync and an async client and an event loop, shared by every
    example of a test; compares each example's two runs."""

    def __init__(self, emu: Emulator, otel: Watched) -> None:
        self.emu = emu
        self.otel = otel
        self.trap = LogTrap()
        self.client = openai.OpenAI(base_url=emu.base_url, api_key=API_KEY, max_retries=0, timeout=10)
        self.loop = asyncio.new_event_loop()
        self.aclient = openai.AsyncOpenAI(base_url=emu.base_url, api_key=API_KEY, max_retries=0, timeout=10)
        self.assistant = self.client.beta.assistants.create(model="gpt-4o", name="fuzz", tools=[WEATHER]).id
        self.examples = 0

    def close(self) -> None:
        self.emu.mutate = None
        self.loop.run_until_complete(self.aclient.close())
        # As asyncio.run does: finish the async generators streams left suspended (a response
        # body an example's exception stopped reading), or their aclose() is dropped with the loop.
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()
        self.client.close()
        self.otel.close()

    def sync(self, flow: Callable[[Bench, str], Any], scenario: str) -> Callable[[], Any]:
        return lambda: flow(self, scenario)

    def asynchronous(self, flow: Callable[[Bench, str], Awaitable[Any]], scenario: str) -> Callable[[], Any]:
        # The task copies the caller's context, so suppress_instrumentation() reaches it.
        return lambda: self.loop.run_until_complete(flow(self, scenario))

    def check(self, plan: Plan, flow: Callable[[], Any], finished_runs: Callable[[Any], list[str]]) -> None:
        self.examples += 1
        otel = self.otel
        self.emu.mutate = plan.mutator()
        try:
            expected = uninstrumented(flow)
            otel.exporter.clear()
            otel.ledger.reset()
            self.trap.clear()
            self.emu.mutate = plan.mutator()
            got = outcome_of(flow)
            left_open = [run_id for run_id in finished_runs(got) if otel.tracker.state_for(run_id) is not None]
            otel.end_open_runs()
        finally:
            self.emu.mutate = None
        assert got.shape() == expected.shape(), difference(expected.shape(), got.shape())
        assert self.trap.messages() == [], "internal errors or span misuse"
        assert otel.ledger.problems() == []
        spans = otel.spans()
        assert [s.name for s in spans if s.end_time < s.start_time] == [], "a span ended before it started"
        assert left_open == [], "the app saw these runs finish but their spans were left open"
        abandoned = [s.attributes.get("openai.assistants.run.id") for s in run_spans(spans)
                     if s.attributes.get("error.type") == "abandoned"]
        assert not set(finished_runs(got)) & set(abandoned), "a run the app saw finish was called abandoned"


def difference(expected: str, got: str) -> str:
    """Where two outcome shapes part, with some context (they can be long)."""
    at = next((i for i, (a, b) in enumerate(zip(expected, got, strict=False)) if a != b), min(len(expected), len(got)))
    start = max(at - 300, 0)
    return (f"the instrumentation changed what the app got:\n  without: ...{expected[start:at + 300]}\n"
            f"  with:    ...{got[start:at + 300]}")


@pytest.fixture
def bench(module_emulator: Emulator, make_watched: Callable[..., Watched],
          request: pytest.FixtureRequest) -> Iterator[Bench]:
    bench = Bench(module_emulator, make_watched(run_steps=getattr(request, "param", "fetch")))
    try:
        with bench.trap.installed():
            yield bench
    finally:
        bench.close()


def ran_all_examples(bench: Bench) -> None:
    # The example count is part of what this suite promises (at least 2,000 per surface under CI).
    assert bench.examples >= settings.default.max_examples


def drive(bench: Bench, flow: Callable[..., Any], variant: str, scenario: str) -> Callable[[], Any]:
    """The app call for one flow, on the async client when its variant says so."""
    return bench.asynchronous(flow, scenario) if variant.endswith("async") else bench.sync(flow, scenario)


def meta(scenario: str) -> dict[str, str]:
    return {"scenario": scenario}


def finished_run(outcome: Outcome) -> list[str]:
    """The run the app ended up with, when it is one the app saw in a terminal status."""
    run = outcome.value[-1] if isinstance(outcome.value, tuple) else outcome.value
    run_id, status = getattr(run, "id", None), getattr(run, "status", None)
    return [run_id] if isinstance(run_id, str) and isinstance(status, str) and status in TERMINAL else []


def finished_in_events(outcome: Outcome) -> list[str]:
    """Runs whose terminal status the app received as a run event."""
    found = []
    for name, data in outcome.value if isinstance(outcome.value, list) else []:
        if not isinstance(name, str) or not name.startswith("thread.run.") or name.startswith("thread.run.step."):
            continue
        run_id, status = getattr(data, "id", None), getattr(data, "status", None)
        if isinstance(run_id, str) and isinstance(status, str) and status in TERMINAL:
            found.append(run_id)
    return found


# ---- the polling path ------------------------------------------------------------------------

def poll_loop(bench: Bench, scenario: str) -> Any:
    runs = bench.client.beta.threads.runs
    run = bench.client.beta.threads.create_and_run(assistant_id=bench.assistant, thread=QUESTION,
                                                   metadata=meta(scenario))
    for _ in range(LOOP_LIMIT):
        if run.status in TERMINAL:
            break
        run = runs.retrieve(run.id, thread_id=run.thread_id)
    return run


def poll_helper(bench: Bench, scenario: str) -> Any:
    return bench.client.beta.threads.create_and_run_poll(assistant_id=bench.assistant, thread=QUESTION,
                                                         metadata=meta(scenario), poll_interval_ms=0)


def poll_runs_helper(bench: Bench, scenario: str) -> Any:
    thread = bench.client.beta.threads.create()
    return bench.client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=bench.assistant,
                                                          metadata=meta(scenario), poll_interval_ms=0)


async def poll_loop_async(bench: Bench, scenario: str) -> Any:
    threads = bench.aclient.beta.threads
    run = await threads.create_and_run(assistant_id=bench.assistant, thread=QUESTION, metadata=meta(scenario))
    for _ in range(LOOP_LIMIT):
        if run.status in TERMINAL:
            break
        run = await threads.runs.retrieve(run.id, thread_id=run.thread_id)
    return run


async def poll_helper_async(bench: Bench, scenario: str) -> Any:
    return await bench.aclient.beta.threads.create_and_run_poll(
        assistant_id=bench.assistant, thread=QUESTION, metadata=meta(scenario), poll_interval_ms=0)


POLLING = {"loop": poll_loop, "helper": poll_helper, "runs_helper": poll_runs_helper,
           "loop_async": poll_loop_async, "helper_async": poll_helper_async}
# No "incomplete": openai 1.21's poll helper does not know it and would poll until the request budget.
# Mostly short runs: every request an example makes is paid 2,000 times.
POLL_SCENARIOS = ("polls=1", "polls=1", "polls=3", "outcome=failed;error_code=rate_limit_exceeded",
                  "outcome=cancelled", "outcome=expired")


def test_fuzz_polling(bench: Bench) -> None:
    @given(plan=plans(responses=6), variant=st.sampled_from(sorted(POLLING)), scenario=st.sampled_from(POLL_SCENARIOS))
    def example(plan: Plan, variant: str, scenario: str) -> None:
        run = drive(bench, POLLING[variant], variant, scenario)
        bench.check(plan, run, finished_run)

    example()
    ran_all_examples(bench)


# ---- tool output submission ------------------------------------------------------------------

def tools_loop(bench: Bench, scenario: str) -> Any:
    runs = bench.client.beta.threads.runs
    run = bench.client.beta.threads.create_and_run(assistant_id=bench.assistant, thread=QUESTION,
                                                   metadata=meta(scenario))
    for _ in range(LOOP_LIMIT):
        if run.status in TERMINAL:
            break
        if run.status == "requires_action":
            run = runs.submit_tool_outputs(run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run))
        else:
            run = runs.retrieve(run.id, thread_id=run.thread_id)
    return run


def tools_helper(bench: Bench, scenario: str) -> Any:
    runs = bench.client.beta.threads.runs
    run = bench.client.beta.threads.create_and_run_poll(assistant_id=bench.assistant, thread=QUESTION,
                                                        metadata=meta(scenario), poll_interval_ms=0)
    for _ in range(3):
        if run.status != "requires_action":
            break
        run = runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run),
                                                poll_interval_ms=0)
    return run


async def tools_loop_async(bench: Bench, scenario: str) -> Any:
    runs = bench.aclient.beta.threads.runs
    run = await bench.aclient.beta.threads.create_and_run(assistant_id=bench.assistant, thread=QUESTION,
                                                          metadata=meta(scenario))
    for _ in range(LOOP_LIMIT):
        if run.status in TERMINAL:
            break
        if run.status == "requires_action":
            run = await runs.submit_tool_outputs(run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run))
        else:
            run = await runs.retrieve(run.id, thread_id=run.thread_id)
    return run


async def tools_helper_async(bench: Bench, scenario: str) -> Any:
    runs = bench.aclient.beta.threads.runs
    run = await bench.aclient.beta.threads.create_and_run_poll(assistant_id=bench.assistant, thread=QUESTION,
                                                               metadata=meta(scenario), poll_interval_ms=0)
    for _ in range(3):
        if run.status != "requires_action":
            break
        run = await runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=run.thread_id,
                                                      tool_outputs=outputs_for(run), poll_interval_ms=0)
    return run


TOOLS = {"loop": tools_loop, "helper": tools_helper, "loop_async": tools_loop_async,
         "helper_async": tools_helper_async}
TOOL_SCENARIOS = ("tools=1", "tools=2", "tools=1;rounds=2", "tools=1;outcome=failed")


def test_fuzz_tool_submission(bench: Bench) -> None:
    @given(plan=plans(responses=7), variant=st.sampled_from(sorted(TOOLS)), scenario=st.sampled_from(TOOL_SCENARIOS))
    def example(plan: Plan, variant: str, scenario: str) -> None:
        run = drive(bench, TOOLS[variant], variant, scenario)
        bench.check(plan, run, finished_run)

    example()
    ran_all_examples(bench)


# ---- raw responses ---------------------------------------------------------------------------

def raw_view(raw: Any) -> tuple[int, str | None]:
    return raw.status_code, raw.headers.get("content-type")


def raw_loop(bench: Bench, scenario: str) -> Any:
    runs = bench.client.beta.threads.runs.with_raw_response
    raw = bench.client.beta.threads.with_raw_response.create_and_run(assistant_id=bench.assistant, thread=QUESTION,
                                                                      metadata=meta(scenario))
    seen = [raw_view(raw)]
    run = raw.parse()
    for _ in range(LOOP_LIMIT):
        if run.status in TERMINAL:
            break
        if run.status == "requires_action":
            raw = runs.submit_tool_outputs(run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run))
        else:
            raw = runs.retrieve(run.id, thread_id=run.thread_id)
        seen.append(raw_view(raw))
        run = raw.parse()
    return seen, run


async def raw_loop_async(bench: Bench, scenario: str) -> Any:
    runs = bench.aclient.beta.threads.runs.with_raw_response
    thread = await bench.aclient.beta.threads.with_raw_response.create()
    raw = await runs.create(thread_id=thread.parse().id, assistant_id=bench.assistant, metadata=meta(scenario))
    seen = [raw_view(thread), raw_view(raw)]
    run = raw.parse()
    for _ in range(LOOP_LIMIT):
        if run.status in TERMINAL:
            break
        if run.status == "requires_action":
            raw = await runs.submit_tool_outputs(run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run))
        else:
            raw = await runs.retrieve(run.id, thread_id=run.thread_id)
        seen.append(raw_view(raw))
        run = raw.parse()
    return seen, run


RAW_SCENARIOS = ("polls=1", "polls=2", "tools=1", "outcome=failed", "outcome=incomplete", "outcome=cancelled")


def streaming_response_loop(bench: Bench, scenario: str) -> Any:
    runs = bench.client.beta.threads.runs.with_streaming_response
    with bench.client.beta.threads.with_streaming_response.create_and_run(
            assistant_id=bench.assistant, thread=QUESTION, metadata=meta(scenario)) as response:
        run = response.parse()
    for _ in range(LOOP_LIMIT):
        if run.status in TERMINAL:
            break
        with runs.retrieve(run.id, thread_id=run.thread_id) as response:
            run = response.parse()
    return run


async def streaming_response_loop_async(bench: Bench, scenario: str) -> Any:
    runs = bench.aclient.beta.threads.runs.with_streaming_response
    async with bench.aclient.beta.threads.with_streaming_response.create_and_run(
            assistant_id=bench.assistant, thread=QUESTION, metadata=meta(scenario)) as response:
        run = await response.parse()
    for _ in range(LOOP_LIMIT):
        if run.status in TERMINAL:
            break
        async with runs.retrieve(run.id, thread_id=run.thread_id) as response:
            run = await response.parse()
    return run


# with_raw_response and with_streaming_response (whose bodies are read when the app parses them)
RAW = {"loop": raw_loop, "loop_async": raw_loop_async, "streaming": streaming_response_loop,
       "streaming_async": streaming_response_loop_async}


@pytest.mark.parametrize("bench", ["observed"], indirect=True)  # the step fetch is fuzzed by the others
def test_fuzz_raw_responses(bench: Bench) -> None:
    @given(plan=plans(responses=6, steps=False), variant=st.sampled_from(sorted(RAW)),
           scenario=st.sampled_from(RAW_SCENARIOS))
    def example(plan: Plan, variant: str, scenario: str) -> None:
        run = drive(bench, RAW[variant], variant, scenario)
        bench.check(plan, run, finished_run)

    example()
    ran_all_examples(bench)


@pytest.mark.parametrize("variant", ["sync", "async"])
def test_streaming_response_polling_ends_the_run(bench: Bench, variant: str) -> None:
    """``with_streaming_response`` is a covered surface: a run polled through it to ``completed``
    ends then, as completed, with its polls counted (not as an anonymous "abandoned" at shutdown)."""
    if variant == "sync":
        run = streaming_response_loop(bench, "polls=2")
    else:
        run = bench.loop.run_until_complete(streaming_response_loop_async(bench, "polls=2"))
    assert run.status == "completed"
    assert bench.otel.tracker.state_for(run.id) is None and bench.otel.tracker.tracked == 0, "left open"
    bench.otel.end_open_runs()
    span = bench.otel.one_run()
    assert span.attributes.get("openai.assistants.run.id") == run.id
    assert span.attributes.get("openai.assistants.run.status") == "completed"
    assert span.attributes.get("openai.assistants.run.poll_count") == 2
    assert "error.type" not in span.attributes


# ---- streams ---------------------------------------------------------------------------------

def seen(event: Any) -> tuple[Any, Any]:
    return getattr(event, "event", None), getattr(event, "data", event)


class Recorder(openai.AssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[Any, Any]] = []

    def on_event(self, event: Any) -> None:
        self.events.append(seen(event))


class AsyncRecorder(openai.AsyncAssistantEventHandler):
    def __init__(self) -> None:
        super().__init__()
        self.events: list[tuple[Any, Any]] = []

    async def on_event(self, event: Any) -> None:
        self.events.append(seen(event))


def stream_iterated(bench: Bench, scenario: str) -> Any:
    with bench.client.beta.threads.create_and_run(assistant_id=bench.assistant, thread=QUESTION,
                                                  metadata=meta(scenario), stream=True) as stream:
        return [seen(event) for event in stream]


def stream_handler(bench: Bench, scenario: str) -> Any:
    thread = bench.client.beta.threads.create()
    recorder = Recorder()
    with bench.client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=bench.assistant,
                                               metadata=meta(scenario), event_handler=recorder) as stream:
        stream.until_done()
    return recorder.events


def stream_tools(bench: Bench, scenario: str) -> Any:
    """A streamed run that asks for tools, answered with streamed tool output submissions."""
    events: list[tuple[Any, Any]] = []
    stream = bench.client.beta.threads.create_and_run(assistant_id=bench.assistant, thread=QUESTION,
                                                      metadata=meta(scenario), stream=True)
    for _ in range(3):
        waiting = None
        with stream:
            for event in stream:
                events.append(seen(event))
                if event.event == "thread.run.requires_action":
                    waiting = event.data
        if waiting is None:
            break
        stream = bench.client.beta.threads.runs.submit_tool_outputs(
            waiting.id, thread_id=waiting.thread_id, tool_outputs=outputs_for(waiting), stream=True)
    return events


async def stream_iterated_async(bench: Bench, scenario: str) -> Any:
    stream = await bench.aclient.beta.threads.create_and_run(assistant_id=bench.assistant, thread=QUESTION,
                                                             metadata=meta(scenario), stream=True)
    async with stream:
        return [seen(event) async for event in stream]


async def stream_handler_async(bench: Bench, scenario: str) -> Any:
    recorder = AsyncRecorder()
    async with bench.aclient.beta.threads.create_and_run_stream(
            assistant_id=bench.assistant, thread=QUESTION, metadata=meta(scenario), event_handler=recorder) as stream:
        await stream.until_done()
    return recorder.events


STREAMS = {"iterated": stream_iterated, "handler": stream_handler, "tools": stream_tools,
           "iterated_async": stream_iterated_async, "handler_async": stream_handler_async}
# One message delta each: events are what this surface is about, and each costs a parse.
STREAM_SCENARIOS = ("deltas=1", "deltas=1;outcome=failed", "deltas=1;outcome=incomplete", "deltas=1;outcome=cancelled",
                    "deltas=1;outcome=expired", "deltas=1;builtin=code_interpreter")


def test_fuzz_streams(bench: Bench) -> None:
    @given(plan=plans(responses=3, events=24, steps=False), variant=st.sampled_from(sorted(STREAMS)),
           scenario=st.sampled_from(STREAM_SCENARIOS))
    def example(plan: Plan, variant: str, scenario: str) -> None:
        if variant == "tools":
            scenario = f"tools=1;{scenario}"
        run = drive(bench, STREAMS[variant], variant, scenario)
        bench.check(plan, run, finished_in_events)

    example()
    ran_all_examples(bench)



# ---- vector store ingestion --------------------------------------------------------------------


def ingest_file_loop(bench: Bench, name: str) -> Any:
    stores = vector_stores(bench.client)
    store = stores.create(name="fuzz")
    uploaded = bench.client.files.create(file=(name, b"the weather in Paris"), purpose="assistants")
    attached = stores.files.create(vector_store_id=store.id, file_id=uploaded.id)
    for _ in range(LOOP_LIMIT):
        if attached.status != "in_progress":
            break
        attached = stores.files.retrieve(uploaded.id, vector_store_id=store.id)
    return attached


def ingest_file_helper(bench: Bench, name: str) -> Any:
    stores = vector_stores(bench.client)
    store = stores.create(name="fuzz")
    return stores.files.upload_and_poll(vector_store_id=store.id, file=(name, b"the weather in Paris"),
                                        poll_interval_ms=0)


def ingest_batch_helper(bench: Bench, name: str) -> Any:
    stores = vector_stores(bench.client)
    store = stores.create(name="fuzz")
    uploaded = [bench.client.files.create(file=(file_name, b"notes"), purpose="assistants").id
                for file_name in ("a.txt", name)]
    return stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=uploaded, poll_interval_ms=0)


async def ingest_file_helper_async(bench: Bench, name: str) -> Any:
    stores = vector_stores(bench.aclient)
    store = await stores.create(name="fuzz")
    uploaded = await bench.aclient.files.create(file=(name, b"the weather in Paris"), purpose="assistants")
    return await stores.files.create_and_poll(vector_store_id=store.id, file_id=uploaded.id, poll_interval_ms=0)


async def ingest_batch_loop_async(bench: Bench, name: str) -> Any:
    stores = vector_stores(bench.aclient)
    store = await stores.create(name="fuzz")
    uploaded = await bench.aclient.files.create(file=(name, b"notes"), purpose="assistants")
    batch = await stores.file_batches.with_raw_response.create(vector_store_id=store.id, file_ids=[uploaded.id])
    found = batch.parse()
    for _ in range(LOOP_LIMIT):
        if found.status != "in_progress":
            break
        found = (await stores.file_batches.with_raw_response.retrieve(found.id, vector_store_id=store.id)).parse()
    return found


INGESTION = {"file_loop": ingest_file_loop, "file_helper": ingest_file_helper, "batch_helper": ingest_batch_helper,
             "file_helper_async": ingest_file_helper_async, "batch_loop_async": ingest_batch_loop_async}
INGESTION_FILES = ("notes.txt", "notes.md", failing_filename("unsupported_file"), failing_filename("invalid_file"))
INGESTION_TERMINAL = frozenset({"completed", "failed", "cancelled"})


def finished_job(outcome: Outcome) -> list[str]:
    """The registry key of the ingestion job the app saw end (see ingestion.job_key)."""
    found = outcome.value
    job_id, status = getattr(found, "id", None), getattr(found, "status", None)
    if not isinstance(job_id, str) or not isinstance(status, str) or status not in INGESTION_TERMINAL:
        return []
    if getattr(found, "object", None) == "vector_store.file":
        return [f"{getattr(found, 'vector_store_id', None)}/{job_id}"]
    return [job_id]


@pytest.mark.parametrize("bench", ["observed"], indirect=True)
def test_fuzz_ingestion(bench: Bench) -> None:
    @given(plan=plans(responses=6, steps=False), variant=st.sampled_from(sorted(INGESTION)),
           name=st.sampled_from(INGESTION_FILES))
    def example(plan: Plan, variant: str, name: str) -> None:
        job = drive(bench, INGESTION[variant], variant, name)
        bench.check(plan, job, finished_job)

    example()
    ran_all_examples(bench)


# ---- the checks above can fail -------------------------------------------------------------------

def _tampered(self: Any, call: Any, result: Any) -> tuple[Any, None]:
    return "tampered", None


def _broken(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("instrumentation bug")


def _never_ends(self: Any, *args: Any, **kwargs: Any) -> None:
    return None


SABOTAGE = {
    "changed result": lambda mp: mp.setattr(Interceptor, "_succeeded", _tampered),
    "internal error": lambda mp: mp.setattr(RunTracker, "_seen", _broken),
    "span never ends": lambda mp: mp.setattr(RunTracker, "_finish", _never_ends),
    "span ends twice": lambda mp: mp.setattr(RunTracker, "_finish", _twice(RunTracker._finish)),
    "finished run left open": lambda mp: mp.setattr(attributes, "TERMINAL_STATUSES", frozenset()),
}


def _twice(finish: Callable[..., None]) -> Callable[..., None]:
    def both(self: Any, *args: Any, **kwargs: Any) -> None:
        finish(self, *args, **kwargs)
        finish(self, *args, **kwargs)

    return both


@pytest.mark.parametrize("sabotage", sorted(SABOTAGE))
def test_the_checks_catch(sabotage: str, bench: Bench, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each property the fuzz tests check fails when the instrumentation breaks it."""
    flow = bench.sync(poll_helper, "polls=1")
    bench.check(Plan(faults=()), flow, finished_run)  # sound as it is
    SABOTAGE[sabotage](monkeypatch)
    with pytest.raises(AssertionError):
        bench.check(Plan(faults=()), flow, finished_run)
