"""The measured process: drives one workload against a running emulator and prints one JSON line.

Started by ``overhead.py``, once per (instrumentation, mode), with the interpreter of the virtual
environment that holds that instrumentation. It imports only the standard library, ``openai`` and
``opentelemetry-sdk`` at start, and an instrumentation only when a variant needs it, so the same
file runs in our environment and in each peer's.

Modes:
  alternate  every variant in this one process, batch after batch, rotating the order each
             repetition; CPU (``time.process_time``, all threads) and wall time per batch
  single     one variant, one batch: the process's peak RSS belongs to that variant alone
  count      one variant, a few runs, spans kept in memory and counted
  micro      ours only: replayed stream events through the real SDK client, no network
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import platform
import resource
import sys
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import openai
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

# The SDK marks the whole Assistants surface deprecated; one warning per call site is noise here.
warnings.simplefilter("ignore", DeprecationWarning)

# Threads per batch of sequential runs: the emulator checks a thread's runs for an active one on
# every create, so a thread is reused only a few times to keep the server's cost flat.
RUNS_PER_THREAD = 20
TOOL_NAME = "get_weather"
VARIANTS = ("base", "ours-off", "ours-fetch", "openllmetry", "openinference",
            # Diagnostics, run_steps=off: metrics to a no-op meter, spans unsampled, or both.
            "ours-nometrics", "ours-unsampled", "ours-bare")


class NoopSpanExporter(SpanExporter):
    """Takes every span and does nothing: export cost is the exporter's, not the instrumentation's."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


# ----- instrumentations --------------------------------------------------------------------------


class Variant:
    """One way of running the workload: uninstrumented, or under one instrumentation."""

    def __init__(self, name: str, tracer_provider: TracerProvider, meter_provider: MeterProvider) -> None:
        self.name = name
        self._tracer_provider = tracer_provider
        self._meter_provider = meter_provider
        self._instrumentor: Any = None
        self._kwargs: dict[str, Any] = {}
        if name.startswith("ours-"):
            from opentelemetry.metrics import NoOpMeterProvider
            from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

            from otel_assistants import AssistantsInstrumentor

            self._instrumentor = AssistantsInstrumentor()
            self._kwargs = {"run_steps": "fetch" if name == "ours-fetch" else "off"}
            if name in ("ours-nometrics", "ours-bare"):
                self._meter_provider = NoOpMeterProvider()  # type: ignore[assignment]
            if name in ("ours-unsampled", "ours-bare"):
                self._tracer_provider = TracerProvider(sampler=ALWAYS_OFF)
        elif name == "openllmetry":
            from opentelemetry.instrumentation.openai import OpenAIInstrumentor as Llmetry

            self._instrumentor = Llmetry()
        elif name == "openinference":
            from openinference.instrumentation.openai import OpenAIInstrumentor as Inference

            self._instrumentor = Inference()
        elif name != "base":
            raise SystemExit(f"unknown variant {name!r}")

    def activate(self) -> None:
        if self._instrumentor is not None:
            self._instrumentor.instrument(tracer_provider=self._tracer_provider,
                                          meter_provider=self._meter_provider, **self._kwargs)

    def deactivate(self) -> None:
        if self._instrumentor is not None:
            self._instrumentor.uninstrument()


def providers(counting: bool) -> tuple[TracerProvider, MeterProvider, InMemorySpanExporter | None,
                                       InMemoryMetricReader]:
    """Providers whose export costs nothing: a no-op exporter behind the batch processor (the
    production choice; its worker thread is in this process, so its CPU is counted), or, to count
    what was captured, an in-memory exporter behind the simple processor."""
    tracer_provider = TracerProvider()
    memory: InMemorySpanExporter | None = None
    if counting:
        memory = InMemorySpanExporter()
        tracer_provider.add_span_processor(SimpleSpanProcessor(memory))
    else:
        tracer_provider.add_span_processor(BatchSpanProcessor(NoopSpanExporter()))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    # Peers that read the global providers find the same ones.
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(meter_provider)
    return tracer_provider, meter_provider, memory, reader


# ----- workloads -----------------------------------------------------------------------------------


@dataclass
class Batch:
    runs: int = 0
    events: int = 0
    not_completed: Counter[str] = field(default_factory=Counter)

    def outcome(self, status: str | None) -> None:
        self.runs += 1
        if status != "completed":
            self.not_completed[str(status)] += 1


class Workloads:
    """Every workload shares one sync client, one async client and one assistant."""

    def __init__(self, base_url: str, args: argparse.Namespace) -> None:
        self.args = args
        self.client = openai.OpenAI(base_url=base_url, api_key="benchmark")
        self.loop = asyncio.new_event_loop()
        self.aclient = openai.AsyncOpenAI(base_url=base_url, api_key="benchmark")
        assistant = self.client.beta.assistants.create(
            model="gpt-4o-mini", name="benchmark",
            tools=[{"type": "function", "function": {
                "name": TOOL_NAME, "parameters": {"type": "object", "properties": {}}}}],
        )
        self.assistant_id = assistant.id

    def close(self) -> None:
        self.client.close()
        self.loop.run_until_complete(self.aclient.close())
        self.loop.close()

    def threads(self, count: int) -> list[str]:
        return [self.client.beta.threads.create().id for _ in range(count)]

    # Each workload is split in two: prepare (untimed, uninstrumented) and the timed part.

    def prepare(self, workload: str, runs: int) -> Callable[[], Batch]:
        if workload == "poll":
            threads = self.threads(math.ceil(runs / RUNS_PER_THREAD))
            return lambda: self._sequential(threads, runs, self._poll)
        if workload == "tools":
            threads = self.threads(math.ceil(runs / RUNS_PER_THREAD))
            return lambda: self._sequential(threads, runs, self._tools)
        if workload in ("stream", "stream0"):
            threads = self.threads(math.ceil(runs / RUNS_PER_THREAD))
            deltas = self.args.deltas if workload == "stream" else 0
            run = self._stream_helper if self.args.stream_api == "helper" else self._stream_iterate
            return lambda: self._sequential(threads, runs, lambda thread: run(thread, deltas))
        if workload == "async":
            threads = self.threads(self.args.in_flight)
            rounds = max(1, math.ceil(runs / self.args.in_flight))
            return lambda: self.loop.run_until_complete(self._async(threads, rounds))
        if workload == "steplist":
            # What one step listing costs an uninstrumented app: the price of run_steps=fetch's request.
            threads = self.threads(math.ceil(runs / RUNS_PER_THREAD))
            done = [self.client.beta.threads.runs.create_and_poll(
                thread_id=threads[i // RUNS_PER_THREAD], assistant_id=self.assistant_id,
                metadata={"scenario": "polls=1"}) for i in range(runs)]
            return lambda: self._list_steps(done)
        raise SystemExit(f"unknown workload {workload!r}")

    @staticmethod
    def _sequential(threads: list[str], runs: int, one: Callable[[str], tuple[str | None, int]],
                    per_thread: int = RUNS_PER_THREAD) -> Batch:
        batch = Batch()
        for i in range(runs):
            status, events = one(threads[i // per_thread % len(threads)])
            batch.outcome(status)
            batch.events += events
        return batch

    def _poll(self, thread: str) -> tuple[str | None, int]:
        run = self.client.beta.threads.runs.create_and_poll(
            thread_id=thread, assistant_id=self.assistant_id, metadata={"scenario": "polls=1"})
        return run.status, 0

    def _tools(self, thread: str) -> tuple[str | None, int]:
        runs = self.client.beta.threads.runs
        run = runs.create_and_poll(thread_id=thread, assistant_id=self.assistant_id,
                                   metadata={"scenario": "tools=1"})
        if run.status != "requires_action" or run.required_action is None:
            return run.status, 0
        outputs = [{"tool_call_id": call.id, "output": "sunny"}
                   for call in run.required_action.submit_tool_outputs.tool_calls]
        run = runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=thread, tool_outputs=outputs)
        return run.status, 0

    def _stream_iterate(self, thread: str, deltas: int) -> tuple[str | None, int]:
        stream = self.client.beta.threads.runs.create(
            thread_id=thread, assistant_id=self.assistant_id, stream=True,
            metadata={"scenario": f"deltas={deltas}"})
        status, events = None, 0
        for event in stream:
            events += 1
            if event.event.startswith("thread.run.") and not event.event.startswith("thread.run.step"):
                status = event.data.status
        return status, events

    def _stream_helper(self, thread: str, deltas: int) -> tuple[str | None, int]:
        with self.client.beta.threads.runs.stream(
            thread_id=thread, assistant_id=self.assistant_id, metadata={"scenario": f"deltas={deltas}"},
        ) as stream:
            events = sum(1 for _ in stream)
            run = stream.current_run
        return (run.status if run is not None else None), events

    async def _async(self, threads: list[str], rounds: int) -> Batch:
        batch = Batch()
        runs = self.aclient.beta.threads.runs
        for _ in range(rounds):
            finished = await asyncio.gather(*(
                runs.create_and_poll(thread_id=thread, assistant_id=self.assistant_id,
                                     metadata={"scenario": "polls=1"})
                for thread in threads
            ))
            for run in finished:
                batch.outcome(run.status)
        return batch

    def _list_steps(self, done: list[Any]) -> Batch:
        batch = Batch()
        for run in done:
            steps = list(self.client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id, limit=100))
            batch.outcome("completed" if steps else "no steps")
        return batch


# ----- modes -----------------------------------------------------------------------------------


# --gc off: the cyclic collector paused while timing, to tell its share from the code's own.
COLLECTOR = {"enabled": True}


def timed(batch: Callable[[], Batch], tracer_provider: TracerProvider) -> tuple[Batch, float, float]:
    """CPU and wall seconds of one batch. The span processor is flushed inside the timed region, so
    every span a batch made is processed on that batch's clock."""
    gc.collect()
    if not COLLECTOR["enabled"]:
        gc.disable()
    try:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = batch()
        tracer_provider.force_flush()
        return result, time.process_time() - cpu0, time.perf_counter() - wall0
    finally:
        gc.enable()


def run_guarded(action: Callable[[], Any]) -> tuple[Any, str | None]:
    """An exception that reaches the app is a result to report (a peer that crashes), not a stop."""
    try:
        return action(), None
    except Exception as error:
        detail = traceback.format_exception_only(type(error), error)[-1].strip()
        return None, f"{type(error).__module__}.{type(error).__qualname__}: {detail[:300]}"


def mode_alternate(args: argparse.Namespace, work: Workloads) -> dict[str, Any]:
    tracer_provider, meter_provider, _, _ = providers(counting=False)
    variants = [Variant(name, tracer_provider, meter_provider) for name in args.variants]
    errors: dict[str, str] = {}
    # Warm-up: imports, connection pools and first-call caches, for every variant alike.
    for variant in variants:
        batch = work.prepare(args.workload, args.warmup)
        variant.activate()
        _, error = run_guarded(batch)
        variant.deactivate()
        if error is not None:
            errors[variant.name] = error
    samples: list[dict[str, Any]] = []
    others = [v.name for v in variants if v.name != "base"]
    if others and all(name in errors for name in others):
        return {"samples": samples, "errors": errors}  # nothing left to compare the base with
    for rep in range(args.reps):
        shift = rep % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            if variant.name in errors:
                continue
            batch = work.prepare(args.workload, args.runs)
            variant.activate()
            (result, error) = run_guarded(lambda b=batch: timed(b, tracer_provider))
            variant.deactivate()
            if error is not None:
                errors[variant.name] = error
                continue
            done, cpu, wall = result
            samples.append({"variant": variant.name, "rep": rep, "cpu": cpu, "wall": wall, "runs": done.runs,
                            "events": done.events, "not_completed": dict(done.not_completed)})
    return {"samples": samples, "errors": errors}


def mode_single(args: argparse.Namespace, work: Workloads) -> dict[str, Any]:
    tracer_provider, meter_provider, _, _ = providers(counting=False)
    variant = Variant(args.variants[0], tracer_provider, meter_provider)
    before = peak_rss_kib()
    batch = work.prepare(args.workload, args.runs)
    variant.activate()
    result, error = run_guarded(lambda: timed(batch, tracer_provider))
    variant.deactivate()
    out: dict[str, Any] = {"variant": variant.name, "peak_rss_kib": peak_rss_kib(), "peak_rss_kib_before": before}
    if error is not None:
        out["error"] = error
    else:
        done, cpu, wall = result
        out.update(cpu=cpu, wall=wall, runs=done.runs, events=done.events)
    return out


def mode_count(args: argparse.Namespace, work: Workloads) -> dict[str, Any]:
    tracer_provider, meter_provider, memory, reader = providers(counting=True)
    assert memory is not None
    variant = Variant(args.variants[0], tracer_provider, meter_provider)
    batch = work.prepare(args.workload, args.runs)
    variant.activate()
    result, error = run_guarded(batch)
    variant.deactivate()
    tracer_provider.force_flush()
    spans = memory.get_finished_spans()
    names = Counter(span.name for span in spans)
    data = reader.get_metrics_data()
    instruments = sorted({m.name for rm in (data.resource_metrics if data else [])
                          for sm in rm.scope_metrics for m in sm.metrics})
    out: dict[str, Any] = {
        "variant": variant.name,
        "spans": len(spans),
        "attributes": sum(len(span.attributes or {}) for span in spans),
        "attribute_chars": sum(len(str(value)) for span in spans for value in (span.attributes or {}).values()),
        "events": sum(len(span.events) for span in spans),
        "names": dict(names.most_common()),
        "metrics": instruments,
    }
    if error is not None:
        out["error"] = error
    else:
        out["runs"] = result.runs
        out["not_completed"] = dict(result.not_completed)
    return out


# ----- micro: stream events replayed, no network ---------------------------------------------------


class ReplayStream:
    """Looks like the SDK's Stream to the instrumentation (an iterator with a ``response``) and
    yields real SDK event objects recorded once from the emulator."""

    def __init__(self, events: list[Any], response: Any) -> None:
        self.response = response
        self._events = iter(events)

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        return next(self._events)

    def close(self) -> None:
        self.response.close()

    def __enter__(self) -> ReplayStream:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


def mode_micro(args: argparse.Namespace, work: Workloads) -> dict[str, Any]:
    """The instrumentation's own cost with the network and the server taken out: the real SDK client
    over an in-memory HTTP transport, so everything between the app's call and the SDK's ``request``
    (where the instrumentation sits) runs as usual, and what is left of the noise is this process's.

    ``--workload poll``: create_and_poll answered from recorded emulator responses (fresh run ids).
    ``--workload stream``: a recorded run-event stream with its message delta repeated
    ``--micro-events`` times, handed back without SSE parsing, so the per-event part stands out."""
    try:
        import httpx2 as httpx  # openai 3.x is built on httpx2
    except ImportError:
        import httpx  # type: ignore[no-redef]

    thread = work.threads(1)[0]
    counter = iter(range(10**9))
    pending: list[list[Any]] = []
    if args.workload == "stream":
        recorded = list(work.client.beta.threads.runs.create(
            thread_id=thread, assistant_id=work.assistant_id, stream=True, metadata={"scenario": "deltas=1"}))
        delta = next(i for i, event in enumerate(recorded) if event.event == "thread.message.delta")
        template = recorded[:delta] + [recorded[delta]] * args.micro_events + recorded[delta + 1:]

        def fresh_events() -> list[Any]:
            run_id = f"run_micro{next(counter)}"
            return [event.model_copy(update={"data": event.data.model_copy(update={"id": run_id})})
                    if event.event.startswith("thread.run.") and not event.event.startswith("thread.run.step")
                    else event for event in template]

        def answer(request: Any) -> Any:
            return httpx.Response(200, content=b"")

        def one() -> tuple[str | None, int]:
            events = sum(1 for _ in client.beta.threads.runs.create(
                thread_id=thread, assistant_id="asst_micro", stream=True))
            return "completed", events
    elif args.workload == "poll":
        created = work.client.beta.threads.runs.create(thread_id=thread, assistant_id=work.assistant_id)
        queued = json.dumps(created.model_dump(mode="json"))
        finished = json.dumps(work.client.beta.threads.runs.poll(created.id, thread_id=thread).model_dump(mode="json"))

        def answer(request: Any) -> Any:
            if request.method == "POST":  # create: a fresh run id
                body = queued.replace(created.id, f"run_micro{next(counter)}")
            else:  # retrieve: the run, completed
                body = finished.replace(created.id, request.url.path.rsplit("/", 1)[1])
            return httpx.Response(200, content=body.encode(), headers={"content-type": "application/json",
                                                                       "openai-poll-after-ms": "0"})

        def one() -> tuple[str | None, int]:
            run = client.beta.threads.runs.create_and_poll(thread_id=thread, assistant_id="asst_micro")
            return run.status, 0
    else:
        raise SystemExit("micro mode measures --workload poll or stream")

    class ReplayClient(openai.OpenAI):
        def _process_response(self, *, stream: bool, response: Any, **kwargs: Any) -> Any:
            if stream:
                return ReplayStream(pending.pop(), response)
            return super()._process_response(stream=stream, response=response, **kwargs)

    client = ReplayClient(base_url="http://127.0.0.1:9/v1", api_key="benchmark",
                          http_client=httpx.Client(transport=httpx.MockTransport(answer)))
    tracer_provider, meter_provider, _, _ = providers(counting=False)
    variants = [Variant(name, tracer_provider, meter_provider) for name in args.variants]
    samples = []
    for rep in range(args.reps + 1):  # repetition 0 is the warm-up
        shift = rep % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            if args.workload == "stream":
                pending[:] = [fresh_events() for _ in range(args.runs)]
            variant.activate()
            done, cpu, wall = timed(lambda: Workloads._sequential([thread], args.runs, lambda _: one(), 1),
                                    tracer_provider)
            variant.deactivate()
            if rep > 0:
                samples.append({"variant": variant.name, "rep": rep, "cpu": cpu, "wall": wall, "runs": done.runs,
                                "events": done.events, "not_completed": dict(done.not_completed)})
    return {"samples": samples, "errors": {}}


# ----- entry point ------------------------------------------------------------------------------


def peak_rss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in ("openai", "opentelemetry-sdk", "otel-assistants", "opentelemetry-instrumentation-openai",
                 "openinference-instrumentation-openai", "httpx2", "httpx", "wrapt", "pydantic"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--mode", choices=("alternate", "single", "count", "micro"), required=True)
    parser.add_argument("--workload", default="poll",
                        choices=("poll", "tools", "stream", "stream0", "async", "steplist"))
    parser.add_argument("--variants", type=lambda text: text.split(","), default=["base"])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--deltas", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=200)
    parser.add_argument("--stream-api", choices=("iterate", "helper"), default="iterate")
    parser.add_argument("--micro-events", type=int, default=5000)
    parser.add_argument("--gc", choices=("on", "off"), default="on",
                        help="off: pause the cyclic collector while timing")
    args = parser.parse_args(argv)
    for name in args.variants:
        if name not in VARIANTS:
            parser.error(f"unknown variant {name!r}; known: {', '.join(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    COLLECTOR["enabled"] = args.gc == "on"
    os.environ.pop("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", None)
    work = Workloads(args.base_url, args)
    try:
        mode = {"alternate": mode_alternate, "single": mode_single, "count": mode_count, "micro": mode_micro}
        out = mode[args.mode](args, work)
    finally:
        work.close()
    out.update(mode=args.mode, workload=args.workload, versions=versions())
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
