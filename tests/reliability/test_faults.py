"""Infrastructure faults: a collector that is down or hangs, an API server that dies mid-poll or
mid-stream, rate limits and server errors retried by the SDK, and a server clock far from ours."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import StatusCode

from otel_assistants import AssistantsInstrumentor
from otel_assistants import tracker as tracker_module
from otel_assistants.emulator import DROP, Emulator, Exchange, Reply

from ..support.flows import QUESTION, TERMINAL, WEATHER, outputs_for
from .support import LogTrap, Watched, error_shape, run_spans

API_KEY = "sk-faults"


def sync_client(emu: Emulator, retries: int = 0) -> openai.OpenAI:
    return openai.OpenAI(base_url=emu.base_url, api_key=API_KEY, max_retries=retries, timeout=10)


def async_client(emu: Emulator, retries: int = 0) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=emu.base_url, api_key=API_KEY, max_retries=retries, timeout=10)


def histogram_points(otel: Watched, name: str) -> list[Any]:
    data = otel.reader.get_metrics_data()
    return [point for resource in (data.resource_metrics if data else []) for scope in resource.scope_metrics
            for metric in scope.metrics if metric.name == name for point in metric.data.data_points]


# ---- the OTLP endpoint is down or hangs ------------------------------------------------------

EXPORT_TIMEOUT_S = 1.0


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Blackhole:
    """A loopback listener that accepts connections and never answers (a hung collector)."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.1)
        self.port = int(self._listener.getsockname()[1])
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="blackhole", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self._held.append(connection)  # read nothing, answer nothing

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for connection in self._held:
            connection.close()
        self._listener.close()


@pytest.fixture(params=["down", "hanging"])
def collector(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "down":
        yield f"http://127.0.0.1:{closed_port()}"
        return
    hole = Blackhole()
    try:
        yield f"http://127.0.0.1:{hole.port}"
    finally:
        hole.close()


def timed(flow: Callable[[], Any], times: int) -> list[float]:
    durations = []
    for _ in range(times):
        started = time.perf_counter()
        flow()
        durations.append(time.perf_counter() - started)
    return durations


def test_app_calls_stay_fast_when_the_collector_is_unreachable(module_emulator: Emulator, collector: str) -> None:
    """With a BatchSpanProcessor and a periodic metric reader (the documented production setup)
    export happens on their own threads: the app's calls cost the same with the collector down or
    hung, and shutting down is bounded by the exporter's timeout."""
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(BatchSpanProcessor(
        OTLPSpanExporter(endpoint=f"{collector}/v1/traces", timeout=EXPORT_TIMEOUT_S), schedule_delay_millis=20))
    meter_provider = MeterProvider(metric_readers=[PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{collector}/v1/metrics", timeout=EXPORT_TIMEOUT_S),
        export_interval_millis=50, export_timeout_millis=EXPORT_TIMEOUT_S * 1000)])
    client = sync_client(module_emulator)
    assistant = client.beta.assistants.create(model="gpt-4o", name="exporting", tools=[WEATHER])

    def flow() -> None:
        runs = client.beta.threads.runs
        run = client.beta.threads.create_and_run_poll(assistant_id=assistant.id, thread=QUESTION,
                                                      metadata={"scenario": "tools=1"}, poll_interval_ms=0)
        runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run),
                                          poll_interval_ms=0)

    instrumentor = AssistantsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    try:
        with suppress_instrumentation():
            baseline = timed(flow, 30)
        exporting = timed(flow, 30)  # each makes 7 spans: the exporter fails or hangs meanwhile
    finally:
        instrumentor.uninstrument()
        started = time.perf_counter()
        tracer_provider.shutdown()
        meter_provider.shutdown()
        shutdown = time.perf_counter() - started
    # Generous bounds: a blocked call would take the exporter timeout (1 s) or more.
    assert max(exporting) < 0.5, f"slowest instrumented call {max(exporting):.3f} s"
    assert sum(exporting) < 3 * sum(baseline) + 1.0, f"{sum(exporting):.3f} s instrumented, {sum(baseline):.3f} s not"
    # Shutdown waits for in-flight exports, each bounded by the exporter's timeout (and its retries).
    assert shutdown < 8 * EXPORT_TIMEOUT_S + 5, f"shutdown took {shutdown:.1f} s"


# ---- the API server dies mid-poll or mid-stream ----------------------------------------------

class Killer:
    """An emulator hook that lets ``allow`` run retrieves through, then drops the next one and
    stops the server: the app is polling when the server goes away."""

    def __init__(self, emu: Emulator, allow: int) -> None:
        self._emu = emu
        self._allow = allow
        self._lock = threading.Lock()
        self.polls = 0

    def __call__(self, exchange: Exchange, data: Any) -> Any:
        if exchange.stage != "request" or exchange.method != "GET" or "/runs/" not in exchange.path:
            return data
        with self._lock:
            self.polls += 1
            if self.polls <= self._allow:
                return data
        # Stopped from another thread: this handler thread must be free to finish its request.
        threading.Thread(target=self._emu.stop, daemon=True).start()
        return DROP


def kill_mid_poll_sync(emu: Emulator, assistant: str) -> Any:
    return sync_client(emu).beta.threads.create_and_run_poll(assistant_id=assistant, thread=QUESTION,
                                                             poll_interval_ms=0, metadata={"scenario": "hold=1"})


def kill_mid_poll_async(emu: Emulator, assistant: str) -> Any:
    async def flow() -> Any:
        async with async_client(emu) as client:
            thread = await client.beta.threads.create()
            run = await client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant,
                                                        metadata={"scenario": "hold=1"})
            while run.status not in TERMINAL:
                run = await client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
            return run

    return asyncio.run(flow())


def in_fresh_emulator(flow: Callable[[Emulator, str], Any], allow: int) -> tuple[str, int]:
    """Run the flow against a new emulator killed after ``allow`` polls: (what the app got, port)."""
    emu = Emulator(poll_after_ms=0).start()
    try:
        with suppress_instrumentation():
            assistant = sync_client(emu).beta.assistants.create(model="gpt-4o", name="doomed").id
        emu.mutate = Killer(emu, allow)
        try:
            return f"returned {flow(emu, assistant)!r}", emu.port
        except Exception as error:
            return error_shape(error), emu.port
    finally:
        emu.stop()


@pytest.mark.parametrize("flow", [kill_mid_poll_sync, kill_mid_poll_async], ids=["sync", "async"])
def test_server_killed_mid_poll(make_watched: Callable[..., Watched], flow: Callable[[Emulator, str], Any]) -> None:
    with suppress_instrumentation():
        expected, _ = in_fresh_emulator(flow, allow=2)
    otel = make_watched()
    try:
        got, port = in_fresh_emulator(flow, allow=2)
        # The run may well go on server-side: its span stays open until the provider shuts down.
        assert [s.name for s in run_spans(otel.spans())] == []
        assert otel.tracker.tracked == 1
        otel.tracer_provider.shutdown()
    finally:
        otel.close()
    assert got == expected
    assert got.startswith("raised openai.APIConnectionError")
    run = otel.one_run()
    assert otel.ledger.problems() == []
    assert run.attributes["error.type"] == "abandoned"
    assert run.status.status_code is StatusCode.ERROR
    assert run.attributes["openai.assistants.run.poll_count"] == 2
    assert run.attributes["server.port"] == port
    failures = [e for e in run.events if e.name == "exception"]
    assert [e.attributes["exception.type"] for e in failures] == ["openai.APIConnectionError"]
    assert otel.total("openai.assistants.runs", {"error.type": "abandoned"}) == 1
    assert otel.total("openai.assistants.runs.active") == 0


def kill_mid_stream_sync(emu: Emulator, client: Any, assistant: str) -> list[str]:
    seen = []
    with client.beta.threads.create_and_run(assistant_id=assistant, thread=QUESTION, stream=True,
                                            metadata={"scenario": "deltas=20;delta_delay_ms=20"}) as stream:
        for event in stream:
            seen.append(event.event)
            if event.event == "thread.message.delta":
                emu.stop()  # the server goes away with the stream half sent
    return seen


class KillingHandler(openai.AssistantEventHandler):
    def __init__(self, emu: Emulator) -> None:
        super().__init__()
        self._emu = emu

    def on_text_delta(self, delta: Any, snapshot: Any) -> None:
        self._emu.stop()


def kill_mid_stream_handler(emu: Emulator, client: Any, assistant: str) -> list[str]:
    thread = client.beta.threads.create()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant, event_handler=KillingHandler(emu),
                                         metadata={"scenario": "deltas=20;delta_delay_ms=20"}) as stream:
        stream.until_done()
    return ["done"]


def kill_mid_stream_async(emu: Emulator, client: Any, assistant: str) -> list[str]:
    async def flow() -> list[str]:
        seen = []
        async with async_client(emu) as aclient:
            stream = await aclient.beta.threads.create_and_run(
                assistant_id=assistant, thread=QUESTION, stream=True,
                metadata={"scenario": "deltas=20;delta_delay_ms=20"})
            async with stream:
                async for event in stream:
                    seen.append(event.event)
                    if event.event == "thread.message.delta":
                        await asyncio.to_thread(emu.stop)
        return seen

    return asyncio.run(flow())


STREAM_KILLS = {"sync": kill_mid_stream_sync, "handler": kill_mid_stream_handler, "async": kill_mid_stream_async}


def stream_in_fresh_emulator(variant: str) -> str:
    emu = Emulator(poll_after_ms=0).start()
    try:
        client = sync_client(emu)
        with suppress_instrumentation():
            assistant = client.beta.assistants.create(model="gpt-4o", name="doomed").id
        try:
            return f"returned {STREAM_KILLS[variant](emu, client, assistant)!r}"
        except Exception as error:
            return error_shape(error)
    finally:
        emu.stop()


def public_name(error_class: str) -> str:
    """``httpx._exceptions.ReadError`` as the contract names it: ``httpx.ReadError``."""
    *module, name = error_class.split(".")
    return ".".join([part for part in module if not part.startswith("_")] + [name])


@pytest.mark.parametrize("variant", sorted(STREAM_KILLS))
def test_server_killed_mid_stream(make_watched: Callable[..., Watched], variant: str) -> None:
    with suppress_instrumentation():
        expected = stream_in_fresh_emulator(variant)
    otel = make_watched()
    try:
        got = stream_in_fresh_emulator(variant)
        run = otel.one_run()  # ended by the broken stream itself, not by shutdown
    finally:
        otel.close()
    assert got == expected
    assert got.startswith("raised "), "the stream should break"
    assert otel.ledger.problems() == []
    assert run.status.status_code is StatusCode.ERROR
    # The run fails with what the stream raised. Newer SDKs raise openai.APIConnectionError from
    # the stream and their event-handler helpers hand the app its transport-level cause instead.
    raised = public_name(got.removeprefix("raised ").split(":")[0])
    assert run.attributes["error.type"] in {raised, "openai.APIConnectionError"}
    assert [e.attributes["exception.type"] for e in run.events if e.name == "exception"] == [
        run.attributes["error.type"]]
    assert run.attributes["openai.assistants.run.status"] == "in_progress"
    steps = [s for s in otel.children(run) if s.name.startswith("run_step")]
    assert steps and all(s.end_time is not None for s in steps), "the step in flight ends with its run"
    assert otel.total("openai.assistants.runs", {"error.type": run.attributes["error.type"]}) == 1


# ---- 429 and 5xx retried by the SDK ----------------------------------------------------------

class Flaky:
    """The first attempt of every request matching ``when`` is answered ``status`` before it
    reaches the API (so retrying is safe); the retry goes through."""

    def __init__(self, status: int, when: Callable[[Exchange], bool]) -> None:
        self._status = status
        self._when = when
        self._lock = threading.Lock()
        self._flip = False
        self.refused = 0

    def __call__(self, exchange: Exchange, data: Any) -> Any:
        if exchange.stage != "request" or not self._when(exchange):
            return data
        with self._lock:
            self._flip = not self._flip
            if not self._flip:
                return data
            self.refused += 1
        code = "rate_limit_exceeded" if self._status == 429 else None
        return Reply(self._status, {"error": {"message": "Try again.", "type": "server_error", "param": None,
                                              "code": code}})


def is_poll(exchange: Exchange) -> bool:
    return exchange.method == "GET" and exchange.path.count("/") == 4 and "/runs/" in exchange.path


def is_write(exchange: Exchange) -> bool:
    return exchange.method == "POST"


def answered(emu: Emulator, method: str, suffix: str, status: int) -> int:
    return sum(1 for r in emu.requests if r.method == method and r.path.endswith(suffix) and r.status == status)


@pytest.mark.parametrize("status", [429, 500, 503])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_retried_polls_are_counted_once(make_watched: Callable[..., Watched], module_emulator: Emulator, status: int,
                                        asynchronous: bool) -> None:
    module_emulator.clear_requests()
    client = sync_client(module_emulator, retries=2)
    assistant = client.beta.assistants.create(model="gpt-4o", name="retried").id
    otel = make_watched()
    flaky = Flaky(status, is_poll)
    module_emulator.mutate = flaky
    try:
        if asynchronous:
            async def flow() -> Any:
                async with async_client(module_emulator, retries=2) as aclient:
                    thread = await aclient.beta.threads.create()
                    return await aclient.beta.threads.runs.create_and_poll(
                        thread_id=thread.id, assistant_id=assistant, metadata={"scenario": "polls=4"},
                        poll_interval_ms=0)
            run = asyncio.run(flow())
        else:
            thread = client.beta.threads.create()
            run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant,
                                                           metadata={"scenario": "polls=4"}, poll_interval_ms=0)
    finally:
        module_emulator.mutate = None
        otel.close()
    assert run.status == "completed"
    path = f"/threads/{run.thread_id}/runs/{run.id}"
    polls = answered(module_emulator, "GET", path, 200)
    refused = answered(module_emulator, "GET", path, status)
    assert polls == 4 and refused == flaky.refused == 4, "each poll was retried once"
    span = otel.one_run()
    assert span.attributes["openai.assistants.run.poll_count"] == polls
    assert "error.type" not in span.attributes
    assert [e for e in span.events if e.name == "exception"] == []
    assert [(p.count, p.sum) for p in histogram_points(otel, "openai.assistants.run.polls")] == [(1, polls)]
    assert otel.total("openai.assistants.runs") == 1
    assert otel.total("gen_ai.client.operation.duration", {"gen_ai.operation.name": "invoke_agent"}) == 1


@pytest.mark.parametrize("status", [429, 502])
@pytest.mark.parametrize("asynchronous", [False, True], ids=["sync", "async"])
def test_retried_writes_are_counted_once(make_watched: Callable[..., Watched], module_emulator: Emulator, status: int,
                                         asynchronous: bool) -> None:
    """Every POST (thread, message, run, tool outputs) is refused once, then retried by the SDK:
    one span and one operation metric point per logical call, none marked as an error."""
    module_emulator.clear_requests()
    client = sync_client(module_emulator, retries=2)
    assistant = client.beta.assistants.create(model="gpt-4o", name="retried", tools=[WEATHER]).id
    otel = make_watched()
    module_emulator.mutate = flaky = Flaky(status, is_write)
    try:
        if asynchronous:
            async def flow() -> Any:
                async with async_client(module_emulator, retries=2) as aclient:
                    threads = aclient.beta.threads
                    thread = await threads.create()
                    await threads.messages.create(thread_id=thread.id, role="user", content="weather?")
                    run = await threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant,
                                                             metadata={"scenario": "tools=1"}, poll_interval_ms=0)
                    return await threads.runs.submit_tool_outputs_and_poll(
                        run_id=run.id, thread_id=thread.id, tool_outputs=outputs_for(run), poll_interval_ms=0)
            run = asyncio.run(flow())
        else:
            threads = client.beta.threads
            thread = threads.create()
            threads.messages.create(thread_id=thread.id, role="user", content="weather?")
            run = threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant,
                                               metadata={"scenario": "tools=1"}, poll_interval_ms=0)
            run = threads.runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=thread.id,
                                                            tool_outputs=outputs_for(run), poll_interval_ms=0)
    finally:
        module_emulator.mutate = None
        otel.close()
    assert run.status == "completed"
    assert flaky.refused == 4
    assert otel.ledger.problems() == []
    for operation in ("create_thread", "create_message", "submit_tool_outputs", "invoke_agent"):
        spans = [s for s in otel.spans() if s.attributes.get("gen_ai.operation.name") == operation]
        assert len(spans) == 1, operation
        assert "error.type" not in spans[0].attributes, operation
        assert otel.total("gen_ai.client.operation.duration", {"gen_ai.operation.name": operation}) == 1, operation
    assert len(otel.spans("execute_tool")) == 1
    assert otel.total("openai.assistants.runs", {"openai.assistants.run.status": "completed"}) == 1


def test_exhausted_retries_end_the_run_once(make_watched: Callable[..., Watched], module_emulator: Emulator) -> None:
    module_emulator.clear_requests()
    client = sync_client(module_emulator, retries=2)
    assistant = client.beta.assistants.create(model="gpt-4o", name="limited").id
    otel = make_watched()
    try:
        with pytest.raises(openai.RateLimitError):
            client.beta.threads.create_and_run(assistant_id=assistant, thread=QUESTION,
                                               metadata={"scenario": "http_status=429"})
    finally:
        otel.close()
    assert answered(module_emulator, "POST", "/threads/runs", 429) == 3, "the SDK tried three times"
    run = otel.one_run()
    assert run.attributes["error.type"] == "openai.RateLimitError"
    assert len([e for e in run.events if e.name == "exception"]) == 1
    assert otel.total("openai.assistants.runs") == 1
    assert otel.total("gen_ai.client.operation.duration", {"error.type": "openai.RateLimitError"}) == 1
    assert otel.total("openai.assistants.runs.active") == 0


def test_exhausted_poll_retries_keep_the_run_open(make_watched: Callable[..., Watched],
                                                  module_emulator: Emulator) -> None:
    """A poll that fails after the SDK's retries does not end the run (it goes on server-side):
    one exception event per logical poll, and no poll counted for it."""
    client = sync_client(module_emulator, retries=2)
    assistant = client.beta.assistants.create(model="gpt-4o", name="limited").id
    otel = make_watched()
    try:
        run = client.beta.threads.create_and_run(assistant_id=assistant, thread=QUESTION,
                                                 metadata={"scenario": "poll_errors=3"})
        with pytest.raises(openai.InternalServerError):
            client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
        assert otel.tracker.state_for(run.id) is not None
        final = client.beta.threads.runs.retrieve(run.id, thread_id=run.thread_id)
    finally:
        otel.close()
    assert final.status == "completed"
    span = otel.one_run()
    assert span.attributes["openai.assistants.run.status"] == "completed"
    assert span.attributes["openai.assistants.run.poll_count"] == 1
    assert "error.type" not in span.attributes
    assert [e.attributes["exception.type"] for e in span.events if e.name == "exception"] == [
        "openai.InternalServerError"]


# ---- the server's clock is far from ours -----------------------------------------------------

DAY = 86400


class Skewed:
    """Every ``*_at`` timestamp the server sends is moved by ``seconds``."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds

    def __call__(self, exchange: Exchange, data: Any) -> Any:
        if exchange.stage == "request":
            return data
        return self._shift(data)

    def _shift(self, value: Any) -> Any:
        if isinstance(value, dict):
            return {key: (item + self.seconds if key.endswith("_at") and isinstance(item, int)
                          and not isinstance(item, bool) else self._shift(item)) for key, item in value.items()}
        if isinstance(value, list):
            return [self._shift(item) for item in value]
        return value


def all_points(otel: Watched) -> list[tuple[str, Any]]:
    data = otel.reader.get_metrics_data()
    return [(metric.name, point) for resource in (data.resource_metrics if data else [])
            for scope in resource.scope_metrics for metric in scope.metrics for point in metric.data.data_points]


@pytest.mark.parametrize("skew", [-365 * DAY, -DAY, -120, 120, DAY, 365 * DAY])
def test_server_clock_skew_keeps_spans_and_durations_sane(make_watched: Callable[..., Watched],
                                                          module_emulator: Emulator, skew: int,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # Deadlines are checked once, on the first request; premature abandoning under skew has its
    # own test below, so that this one is about times alone.
    monkeypatch.setattr(tracker_module, "SWEEP_INTERVAL_S", 3600.0)
    client = sync_client(module_emulator)
    assistant = client.beta.assistants.create(model="gpt-4o", name="skewed", tools=[WEATHER]).id
    with suppress_instrumentation():  # a run created by "another process"
        elsewhere = client.beta.threads.create_and_run(assistant_id=assistant, thread=QUESTION,
                                                       metadata={"scenario": "polls=3;builtin=code_interpreter"})
    otel = make_watched(adopt_runs=True)  # the run created elsewhere is owned here, from its server time
    module_emulator.mutate = Skewed(skew)
    trap = LogTrap()
    try:
        with trap.installed():
            runs = client.beta.threads.runs
            before = time.time_ns()
            discovered = runs.retrieve(elsewhere.id, thread_id=elsewhere.thread_id)
            after = time.time_ns()
            while discovered.status not in TERMINAL:
                discovered = runs.retrieve(elsewhere.id, thread_id=elsewhere.thread_id)
            run = client.beta.threads.create_and_run_poll(assistant_id=assistant, thread=QUESTION, poll_interval_ms=0,
                                                          metadata={"scenario": "tools=1;builtin=file_search"})
            run = runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=run.thread_id,
                                                    tool_outputs=outputs_for(run), poll_interval_ms=0)
            list(runs.steps.list(run.id, thread_id=run.thread_id))
            with runs.stream(thread_id=client.beta.threads.create().id, assistant_id=assistant,
                             metadata={"scenario": "builtin=code_interpreter"}) as stream:
                stream.until_done()
    finally:
        module_emulator.mutate = None
        otel.close()
    assert run.status == "completed" and discovered.status == "completed"
    assert trap.messages() == []
    assert otel.ledger.problems() == []
    spans = otel.spans()
    assert len(run_spans(spans)) == 3
    assert [s.name for s in spans if s.end_time < s.start_time] == [], "a span ended before it started"
    assert {s.attributes.get("openai.assistants.run.status") for s in run_spans(spans)} == {"completed"}
    assert len(otel.spans("run_step")) >= 6 and len(otel.spans("execute_tool")) == 4
    # Adopted runs start at their server creation time, unless that is in our future.
    created = discovered.created_at * 1_000_000_000
    span = next(s for s in run_spans(spans) if s.attributes["openai.assistants.run.id"] == elsewhere.id)
    if created <= before:
        assert span.start_time == created
    else:
        assert before <= span.start_time <= after
    for name, point in all_points(otel):
        if name.endswith("duration") or name.endswith("time_to_first_chunk"):
            assert point.min >= 0, f"{name} recorded a negative duration"


def test_server_clock_behind_does_not_abandon_a_live_run(make_watched: Callable[..., Watched],
                                                         module_emulator: Emulator,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A server clock a day behind puts every ``expires_at`` in our past. A run the client is
    still watching, seen ``in_progress`` moments ago, is not abandoned for it."""
    monkeypatch.setattr(tracker_module, "SWEEP_INTERVAL_S", 0.0)  # check deadlines on every request
    client = sync_client(module_emulator)
    assistant = client.beta.assistants.create(model="gpt-4o", name="behind").id
    otel = make_watched()
    module_emulator.mutate = Skewed(-DAY)
    try:
        run = client.beta.threads.create_and_run_poll(assistant_id=assistant, thread=QUESTION, poll_interval_ms=0,
                                                      metadata={"scenario": "polls=3"})
    finally:
        module_emulator.mutate = None
        otel.close()
    assert run.status == "completed"
    span = otel.one_run()
    assert span.attributes.get("error.type") != "abandoned", (
        "abandoned while still being polled: its deadline was read off the server's clock")
    assert span.attributes["openai.assistants.run.status"] == "completed"
    assert span.attributes["openai.assistants.run.poll_count"] == 3
