"""The instrumentation's own requests (the step fetch, run look-ups) never sit on the app's path:
while the API stalls or fails them, the app's calls take the time they take without
instrumentation, sync and async, with the SDK's default retries; a breaker stops asking and
resumes once the API recovers; shutdown with many open runs and a dead API stays within its
bound and loses no span; no thread per run, no task on the app's event loop."""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation

from otel_assistants import own_requests
from otel_assistants.emulator import DROP, Emulator, Exchange, Reply
from otel_assistants.emulator.ingestion import MAX_POLLS, ingest_metadata

from ..support.flows import vector_stores
from .support import LogTrap, Watched, run_spans

API_KEY = "sk-own-requests"
STALL_S = 1.5  # as slow as an API in trouble answers
OWN = "openai.assistants.instrumentation.requests"
TYPE, OUTCOME = "openai.assistants.instrumentation.request.type", "openai.assistants.instrumentation.request.outcome"


def counted(otel: Watched, kind: str, outcome: str) -> float:
    return otel.total(OWN, {TYPE: kind, OUTCOME: outcome})


class Trouble:
    """A fault hook for some requests only: ``wanted(exchange)`` picks them; ``mode`` says what
    happens to them: ``slow_503`` (an answer after STALL_S, 503), ``timeout`` (no answer for far
    longer than the instrumentation waits), ``drop`` (the connection closes, no answer)."""

    def __init__(self, mode: str, wanted: Callable[[Exchange], bool]) -> None:
        self.mode = mode
        self.wanted = wanted
        self.hit = 0
        self.release = threading.Event()

    def __call__(self, exchange: Exchange, data: Any) -> Any:
        if exchange.stage != "request" or not self.wanted(exchange):
            return data
        self.hit += 1
        if self.mode == "drop":
            return DROP
        self.release.wait(STALL_S if self.mode == "slow_503" else 30)
        return Reply(503, {"error": {"message": "The server is overloaded.", "type": "server_error"}})


def step_listings(exchange: Exchange) -> bool:
    return exchange.path.endswith("/steps")


def retrieves_of(ids: set[str]) -> Callable[[Exchange], bool]:
    return lambda exchange: exchange.path.rsplit("/", 1)[-1] in ids


def handed_off(client: openai.OpenAI, assistant: str, count: int) -> tuple[list[Any], set[str]]:
    """Runs created here and left to other processes (they run on until cancelled): this one does
    not see them end, so it looks them up when they are due."""
    handed = [client.beta.threads.create_and_run(assistant_id=assistant, metadata={"scenario": "hold=1"})
              for _ in range(count)]
    return handed, {run.id for run in handed}


@pytest.fixture
def trouble_on(module_emulator: Emulator) -> Iterator[Callable[[Trouble], Trouble]]:
    installed: list[Trouble] = []

    def install(trouble: Trouble) -> Trouble:
        installed.append(trouble)
        module_emulator.mutate = trouble
        return trouble

    yield install
    module_emulator.mutate = None
    for trouble in installed:
        trouble.release.set()


@pytest.fixture
def fast_breaker(monkeypatch: pytest.MonkeyPatch) -> float:
    """A breaker that pauses briefly, so that its recovery can be seen in a test."""
    monkeypatch.setattr(own_requests, "BREAKER_COOLDOWN_S", 0.3)
    return 0.3


def assistant_with_code(client: Any) -> str:
    return client.beta.assistants.create(model="gpt-4o", name="coder", tools=[{"type": "code_interpreter"}]).id


def timed_sync_runs(client: openai.OpenAI, assistant: str, count: int) -> list[float]:
    took = []
    for _ in range(count):
        started = time.perf_counter()
        run = client.beta.threads.create_and_run_poll(assistant_id=assistant, poll_interval_ms=0,
                                                      metadata={"scenario": "builtin=code_interpreter"})
        took.append(time.perf_counter() - started)
        assert run.status == "completed"
    return took


async def timed_async_runs(client: openai.AsyncOpenAI, assistant: str, count: int) -> list[float]:
    took = []
    for _ in range(count):
        started = time.perf_counter()
        run = await client.beta.threads.create_and_run_poll(assistant_id=assistant, poll_interval_ms=0,
                                                            metadata={"scenario": "builtin=code_interpreter"})
        took.append(time.perf_counter() - started)
        assert run.status == "completed"
    return took


def assert_unslowed(instrumented: list[float], plain: list[float]) -> None:
    """The app's calls take what they take without instrumentation: not one waits for the stall."""
    assert max(instrumented) < STALL_S / 2, (instrumented, plain)
    assert statistics.median(instrumented) < statistics.median(plain) + 0.2, (instrumented, plain)


RUNS = 8


def assert_breaker_stopped_asking(otel: Watched, kind: str, jobs: int) -> None:
    """Each job was tried at most once; after the threshold's failures (plus those already under way
    on the serving threads) the rest were skipped, not sent."""
    failed, skipped = counted(otel, kind, "failed"), counted(otel, kind, "skipped")
    assert own_requests.BREAKER_THRESHOLD <= failed <= own_requests.BREAKER_THRESHOLD + own_requests.MAX_WORKERS - 1
    assert failed + skipped == jobs


def until_recovered(otel: Watched, drive: Callable[[], Any], within_s: float = 20) -> int:
    """Drive runs until one's steps arrive (the breaker's pause has passed); returns how many it took."""
    deadline = time.monotonic() + within_s
    driven = 0
    while time.monotonic() < deadline:
        time.sleep(0.2)
        drive()
        driven += 1
        otel.settle()
        if otel.exporter.get_finished_spans() and otel.spans("run_step"):
            return driven
    raise AssertionError("no step spans after the API recovered")


@pytest.mark.parametrize("mode", ["slow_503", "timeout", "drop"])
def test_a_failing_step_listing_never_slows_the_sync_app(make_watched: Callable[..., Watched], mode: str,
                                                         module_emulator: Emulator, trouble_on: Any,
                                                         fast_breaker: float) -> None:
    client = openai.OpenAI(base_url=module_emulator.base_url, api_key=API_KEY)  # the SDK's default retries
    assistant = assistant_with_code(client)
    trouble_on(Trouble(mode, step_listings))
    plain = timed_sync_runs(client, assistant, RUNS)
    otel = make_watched()
    try:
        instrumented = timed_sync_runs(client, assistant, RUNS)
        assert_unslowed(instrumented, plain)
        otel.instrumentor.force_flush(60_000)
        assert otel.spans("run_step") == []
        assert_breaker_stopped_asking(otel, "step_fetch", RUNS)
        assert counted(otel, "step_fetch", "sent") == 0
        # The API recovers: after the breaker's pause, step spans arrive again.
        module_emulator.mutate = None
        recovered = until_recovered(otel, lambda: timed_sync_runs(client, assistant, 1))
        assert sorted(s.name for s in otel.spans("run_step")) == ["run_step message_creation", "run_step tool_calls"]
        assert counted(otel, "step_fetch", "sent") == 1
        assert len(run_spans(otel.spans())) == RUNS + recovered
    finally:
        otel.close()
        client.close()


@pytest.mark.parametrize("mode", ["slow_503", "drop"])
def test_a_failing_step_listing_never_slows_the_async_app(make_watched: Callable[..., Watched], mode: str,
                                                          module_emulator: Emulator, trouble_on: Any) -> None:
    async def both() -> tuple[list[float], list[float], list[str]]:
        async with openai.AsyncOpenAI(base_url=module_emulator.base_url, api_key=API_KEY) as client:
            assistant = (await client.beta.assistants.create(model="gpt-4o", tools=[{"type": "code_interpreter"}])).id
            plain = await timed_async_runs(client, assistant, RUNS)
            otel = make_watched()
            try:
                instrumented = await timed_async_runs(client, assistant, RUNS)
                # Only the app's own task on the app's loop: the requests are made elsewhere.
                tasks = [task.get_coro().__qualname__ for task in asyncio.all_tasks()]
            finally:
                otel.close()
            return plain, instrumented, tasks

    trouble_on(Trouble(mode, step_listings))
    plain, instrumented, tasks = asyncio.run(both())
    assert_unslowed(instrumented, plain)
    assert tasks == ["test_a_failing_step_listing_never_slows_the_async_app.<locals>.both"]


def test_look_ups_in_trouble_never_slow_the_app_and_stop_while_the_api_fails(make_watched: Callable[..., Watched],
                                                                             module_emulator: Emulator, trouble_on: Any,
                                                                             fast_breaker: float) -> None:
    """Owned runs handed to other processes are looked up while the API stalls their retrieves:
    the app's calls meanwhile take their usual time; the breaker stops the look-ups, and they
    resume once the API recovers."""
    client = openai.OpenAI(base_url=module_emulator.base_url, api_key=API_KEY)
    assistant = assistant_with_code(client)
    otel = make_watched()
    try:
        handed, ids = handed_off(client, assistant, 6)
        trouble = trouble_on(Trouble("slow_503", retrieves_of(ids)))
        with suppress_instrumentation():
            plain = timed_sync_runs(client, assistant, 3)
        otel.tracker.sweep(now=time.time() + 200)  # each has gone unseen for a while
        instrumented = timed_sync_runs(client, assistant, 3)
        assert_unslowed(instrumented, plain)
        otel.instrumentor.force_flush(60_000)
        assert_breaker_stopped_asking(otel, "run_lookup", len(handed))
        assert trouble.hit == counted(otel, "run_lookup", "failed")
        assert otel.tracker.tracked == len(handed)  # not given up: there are look-ups left
        module_emulator.mutate = None
        for run in handed:
            with suppress_instrumentation():
                client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
        time.sleep(2 * fast_breaker)  # the breaker's first pause
        otel.tracker.sweep(now=time.time() + 400)
        otel.instrumentor.force_flush(60_000)
        ended = {s.attributes["openai.assistants.run.id"]: s.attributes["openai.assistants.run.status"]
                 for s in run_spans(otel.spans()) if s.attributes["openai.assistants.run.id"] in ids}
        assert ended == dict.fromkeys(ids, "cancelled")
    finally:
        otel.close()
        client.close()


@pytest.mark.parametrize("dead", ["refused", "hanging"])
def test_shutdown_with_a_thousand_open_runs_and_a_dead_api(make_watched: Callable[..., Watched], dead: str) -> None:
    runs = 1000
    with Emulator(poll_after_ms=0) as emu:
        client = openai.OpenAI(base_url=emu.base_url, api_key=API_KEY, max_retries=0)
        assistant = client.beta.assistants.create(model="gpt-4o").id
        otel = make_watched()
        trap = LogTrap()
        release = threading.Event()
        try:
            with trap.installed():
                for _ in range(runs):
                    client.beta.threads.create_and_run(assistant_id=assistant, metadata={"scenario": "hold=1"})
                if dead == "refused":
                    emu.stop()
                else:
                    emu.mutate = hang_until(release)
                own = otel.tracker.own_requests
                started = time.monotonic()
                otel.tracer_provider.shutdown()
                took = time.monotonic() - started
        finally:
            release.set()
            otel.close()
            client.close()
    assert own.flush(30)  # what was under way when the budget ran out has finished too
    assert took < 2.0 + 1.0, f"shutdown took {took:.1f} s"
    spans = run_spans(otel.spans())
    assert len(spans) == runs
    assert {s.attributes["error.type"] for s in spans} == {"abandoned"}
    assert otel.total("openai.assistants.runs", {"error.type": "abandoned"}) == runs
    assert otel.total("openai.assistants.runs.active") == 0
    assert otel.ledger.problems() == []
    assert trap.messages() == []
    sent_or_failed = counted(otel, "run_lookup", "failed") + counted(otel, "run_lookup", "sent")
    assert sent_or_failed <= own_requests.BREAKER_THRESHOLD + own_requests.MAX_WORKERS + 1
    assert counted(otel, "run_lookup", "skipped") + counted(otel, "run_lookup", "dropped") + sent_or_failed == runs


def hang_until(release: threading.Event) -> Callable[[Exchange, Any], Any]:
    def hang(exchange: Exchange, data: Any) -> Any:
        release.wait(30)
        return data

    return hang


def test_no_thread_per_run_and_a_bounded_queue(make_watched: Callable[..., Watched], module_emulator: Emulator,
                                               trouble_on: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(own_requests, "QUEUE_LIMIT", 10)
    client = openai.OpenAI(base_url=module_emulator.base_url, api_key=API_KEY, max_retries=0)
    assistant = assistant_with_code(client)
    otel = make_watched()
    try:
        handed, ids = handed_off(client, assistant, 40)
        trouble = trouble_on(Trouble("timeout", retrieves_of(ids)))
        threads_before = threading.active_count()
        otel.tracker.sweep(now=time.time() + 200)
        time.sleep(0.5)
        assert threading.active_count() - threads_before <= own_requests.MAX_WORKERS
        # Every serving thread waits on a stalled look-up, ten more wait in the queue; the rest are dropped.
        dropped = counted(otel, "run_lookup", "dropped")
        assert len(handed) - own_requests.MAX_WORKERS - 10 <= dropped <= len(handed) - 10
        trouble.release.set()
        otel.instrumentor.force_flush(60_000)
        assert otel.tracker.tracked == len(handed)  # a dropped look-up is tried again when next due
    finally:
        module_emulator.mutate = None
        otel.close()
        client.close()


def test_async_runs_are_looked_up_after_the_apps_loop_closed(make_watched: Callable[..., Watched],
                                                             module_emulator: Emulator) -> None:
    """The look-ups of an async client's runs are made on a loop of the instrumentation's own: the
    app's loop may be long gone by shutdown."""
    otel = make_watched()
    try:
        async def create() -> list[Any]:
            async with openai.AsyncOpenAI(base_url=module_emulator.base_url, api_key=API_KEY, max_retries=0) as client:
                assistant = (await client.beta.assistants.create(model="gpt-4o")).id
                return [await client.beta.threads.create_and_run(assistant_id=assistant,
                                                                 metadata={"scenario": "usage=9,1"})
                        for _ in range(3)]

        handed = asyncio.run(create())
        with openai.OpenAI(base_url=module_emulator.base_url, api_key=API_KEY) as other, suppress_instrumentation():
            for run in handed:  # finished where this process does not see it
                assert other.beta.threads.runs.poll(run.id, thread_id=run.thread_id,
                                                    poll_interval_ms=0).status == "completed"
        otel.tracer_provider.shutdown()
        spans = run_spans(otel.spans())
        assert [(s.attributes["openai.assistants.run.status"], s.attributes["gen_ai.usage.input_tokens"])
                for s in spans] == [("completed", 9)] * 3
        assert counted(otel, "run_lookup", "sent") == 3
    finally:
        otel.close()


# ---- ingestion jobs' look-ups -----------------------------------------------------------------------


def files_left_indexing(client: openai.OpenAI, count: int) -> tuple[Any, set[str]]:
    """Files added to a store that indexes slowly, never polled here: this process looks them up."""
    stores = vector_stores(client)
    store = stores.create(name="slow", metadata=ingest_metadata(polls=MAX_POLLS))
    ids = set()
    for index in range(count):
        uploaded = client.files.create(file=(f"doc{index}.txt", b"text"), purpose="assistants")
        stores.files.create(vector_store_id=store.id, file_id=uploaded.id)
        ids.add(uploaded.id)
    return store, ids


def test_ingestion_look_ups_in_trouble_never_slow_the_app_and_stop_while_the_api_fails(
        make_watched: Callable[..., Watched], module_emulator: Emulator, trouble_on: Any) -> None:
    """Ingestion jobs left indexing are looked up while the API stalls their retrieves: the app's
    calls meanwhile take their usual time, each look-up is one request, and the breaker stops them."""
    client = openai.OpenAI(base_url=module_emulator.base_url, api_key=API_KEY)
    assistant = assistant_with_code(client)
    otel = make_watched()
    try:
        _, ids = files_left_indexing(client, 6)
        trouble = trouble_on(Trouble("slow_503", retrieves_of(ids)))
        with suppress_instrumentation():
            plain = timed_sync_runs(client, assistant, 3)
        otel.tracker.sweep(now=time.time() + 800)  # each has gone unseen for a while
        instrumented = timed_sync_runs(client, assistant, 3)
        assert_unslowed(instrumented, plain)
        otel.instrumentor.force_flush(60_000)
        assert_breaker_stopped_asking(otel, "ingestion_lookup", len(ids))
        assert trouble.hit == counted(otel, "ingestion_lookup", "failed")  # no retries
        assert otel.tracker.tracked == len(ids)  # not given up: there are look-ups left
    finally:
        otel.close()
        client.close()


def test_shutdown_with_open_ingestion_jobs_and_a_dead_api(make_watched: Callable[..., Watched]) -> None:
    jobs = 200
    with Emulator(poll_after_ms=0) as emu:
        client = openai.OpenAI(base_url=emu.base_url, api_key=API_KEY, max_retries=0)
        otel = make_watched()
        trap = LogTrap()
        try:
            with trap.installed():
                files_left_indexing(client, jobs)
                emu.stop()
                started = time.monotonic()
                otel.tracer_provider.shutdown()
                took = time.monotonic() - started
        finally:
            otel.close()
            client.close()
    assert took < 2.0 + 1.0, f"shutdown took {took:.1f} s"
    spans = [s for s in otel.spans() if s.name == "ingest_file"]
    assert len(spans) == jobs
    assert {s.attributes["error.type"] for s in spans} == {"abandoned"}
    assert {s.attributes["openai.assistants.ingestion.status"] for s in spans} == {"in_progress"}
    assert otel.total("openai.assistants.ingestion.duration", {"error.type": "abandoned"}) == jobs
    assert otel.points("openai.assistants.ingestion.files") == []  # no file reached a terminal status
    assert otel.ledger.problems() == []
    assert trap.messages() == []
