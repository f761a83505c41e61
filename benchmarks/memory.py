"""Does memory stay bounded when runs are never seen to finish? A soak run, not a test.

    python benchmarks/memory.py                 # 100,000 runs, about 10-15 minutes on 2 cores
    python benchmarks/memory.py --runs 20000    # a shorter look (holds and abandoned streams scale)

The instrumented client (this process) drives the Assistants API emulator (its own process) on
loopback: most runs are created and polled to completion; some are created and never polled
(``hold=1``, they stay in progress on the server); some are streamed and given up after the first
event, half of them closed and half dropped without a close. The never-polled runs are spread over
the first part of the run, so the tracker reaches its bound before the second half and the second
half shows whether anything else grows. Every ``--sample-every`` runs it prints RSS (VmRSS from
/proc/self/status) and what the tracker holds.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
import threading
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import openai
from common import EmulatorProcess
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from otel_assistants import AssistantsInstrumentor, attributes

warnings.simplefilter("ignore", DeprecationWarning)

NORMAL, HOLD, ABANDON = "completed", "never polled", "stream abandoned"
# A held run's expiry is pushed past the soak, so the tracked-run cap, not expiry, bounds them.
HOLD_SCENARIO = "hold=1;expires_in=7200"
FLAT_WITHIN = 0.05


class CountingExporter(SpanExporter):
    """Counts ended spans by name and error.type and keeps nothing else."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        for span in spans:
            attributes = span.attributes or {}
            self.counts[(span.name.split(" ")[0], str(attributes.get("error.type", "")))] += 1
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        return None


def schedule(runs: int, holds: int, abandoned: int, hold_part: float) -> list[str]:
    """Which run is which: holds evenly over the first ``hold_part`` of the runs, abandoned streams
    evenly over all of them."""
    kinds = [NORMAL] * runs
    span = max(1, int(runs * hold_part))
    for k in range(min(holds, span)):
        kinds[k * span // min(holds, span)] = HOLD
    for k in range(min(abandoned, runs)):
        i = (k * runs // abandoned + runs // (2 * abandoned)) % runs
        while kinds[i] != NORMAL:  # next free slot
            i = (i + 1) % runs
        kinds[i] = ABANDON
    return kinds


def describe(counts: Counter[tuple[str, str]]) -> str:
    return ", ".join(f"{name}{' [' + error + ']' if error else ''} x{count:,}"
                     for (name, error), count in sorted(counts.items()))


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--holds", type=int, help="runs created and never polled (default: 10%% of --runs)")
    parser.add_argument("--abandoned", type=int,
                        help="streams given up after one event, half closed, half dropped (default: 10%% of --runs)")
    parser.add_argument("--hold-part", type=float, default=0.4,
                        help="the never-polled runs are spread over this first part of the run (default 0.4)")
    parser.add_argument("--sample-every", type=int, help="runs between RSS samples (default: --runs / 20)")
    parser.add_argument("--max-tracked-runs", type=int, help="instrument() setting (default: the package's)")
    parser.add_argument("--run-steps", choices=("fetch", "observed", "off"), default="off",
                        help="instrument() setting; off by default to keep the soak short (the fetch adds a "
                             "request per run and keeps nothing)")
    parser.add_argument("--threads", type=int, default=4,
                        help="app threads sharing the client: the client works while others wait on the server")
    parser.add_argument("--reset-every", type=int, default=10_000,
                        help="runs between emulator resets, which keep the server's own store small")
    args = parser.parse_args(argv)
    args.holds = args.runs // 10 if args.holds is None else args.holds
    args.abandoned = args.runs // 10 if args.abandoned is None else args.abandoned
    args.sample_every = args.sample_every or max(1, args.runs // 20)
    return args


class Soak:
    def __init__(self, emulator: EmulatorProcess, args: argparse.Namespace) -> None:
        self.emulator = emulator
        self.client = openai.OpenAI(base_url=emulator.base_url, api_key="benchmark")
        self.assistant_id = self._assistant()
        self.outcomes: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._given_up = 0

    def _assistant(self) -> str:
        return self.client.beta.assistants.create(model="gpt-4o-mini", name="soak").id

    def reset(self) -> None:
        """A fresh server store; its runs on hold are forgotten there, not by the client."""
        self.emulator.reset()
        self.assistant_id = self._assistant()

    def _dropped_next(self) -> bool:
        """Every other given-up stream is dropped rather than closed."""
        with self._lock:
            self._given_up += 1
            return self._given_up % 2 == 0

    def one(self, kind: str) -> None:
        threads = self.client.beta.threads
        if kind == NORMAL:
            run = threads.create_and_run_poll(assistant_id=self.assistant_id, metadata={"scenario": "polls=1"})
            outcome = str(run.status)
        elif kind == HOLD:
            run = threads.create_and_run(assistant_id=self.assistant_id, metadata={"scenario": HOLD_SCENARIO})
            outcome = f"held ({run.status})"
        else:
            stream = threads.create_and_run(assistant_id=self.assistant_id, stream=True,
                                            metadata={"scenario": "deltas=3"})
            next(iter(stream))
            if self._dropped_next():  # the app gives up after the first event and drops the stream
                # Its connection is released underneath (the SDK keeps a dropped stream's
                # connection, and the pool would run dry); the stream object is only let go, so
                # the run ends when the proxy is collected.
                stream.response.close()
                del stream
                outcome = "stream dropped after 1 event"
            else:  # or closes it
                stream.close()
                outcome = "stream closed after 1 event"
        with self._lock:
            self.outcomes[outcome] += 1


def own_requests(reader: InMemoryMetricReader) -> str:
    """The look-ups and step fetches the instrumentation made, by type and outcome, as its metric says."""
    counts: Counter[str] = Counter()
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                if metric.name == attributes.METRIC_OWN_REQUESTS:
                    for point in metric.data.data_points:
                        labels = point.attributes or {}
                        counts[f"{labels.get(attributes.OWN_REQUEST_TYPE)} "
                               f"{labels.get(attributes.OWN_REQUEST_OUTCOME)}"] += point.value
    return ", ".join(f"{key} {value:,}" for key, value in sorted(counts.items())) or "none"


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    exporter = CountingExporter()
    tracer_provider = TracerProvider()
    # Synchronous, so no span is dropped from a full queue and the counts below are complete.
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    settings: dict[str, Any] = {"run_steps": args.run_steps}
    if args.max_tracked_runs:
        settings["max_tracked_runs"] = args.max_tracked_runs
    instrumentor = AssistantsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, **settings)
    tracker = instrumentor.tracker
    bound = instrumentor.settings.max_tracked_runs if instrumentor.settings else None
    kinds = schedule(args.runs, args.holds, args.abandoned, args.hold_part)
    print(f"{args.runs:,} runs: {Counter(kinds)[NORMAL]:,} {NORMAL}, {args.holds:,} {HOLD} (over the first "
          f"{args.hold_part:.0%}), {args.abandoned:,} {ABANDON}; max_tracked_runs {bound:,}, "
          f"run_steps {args.run_steps}", flush=True)
    header = f"{'runs':>8} {'elapsed s':>9} {'RSS MiB':>8} {'tracked':>8} {'ended map':>9} {'deadline heap':>13}"
    print(header, flush=True)
    series: list[tuple[int, float]] = []
    started = time.perf_counter()
    with EmulatorProcess() as emulator, ThreadPoolExecutor(args.threads) as pool:
        soak = Soak(emulator, args)
        done = 0
        while done < args.runs:
            # A chunk at a time: between chunks no run is in flight, so the server can be reset.
            chunk = kinds[done:done + args.sample_every]
            list(pool.map(soak.one, chunk))
            if (done + len(chunk)) // args.reset_every > done // args.reset_every:
                soak.reset()
            done += len(chunk)
            gc.collect()
            rss = rss_mib()
            series.append((done, rss))
            tracked = tracker.tracked if tracker else 0
            # The last two columns read tracker internals, only for this printout.
            ended = len(getattr(tracker, "_ended", ()))
            heap = len(getattr(tracker, "_deadlines", ()))
            print(f"{done:>8,} {time.perf_counter() - started:>9.0f} {rss:>8.1f} {tracked:>8,} {ended:>9,} {heap:>13,}",
                  flush=True)
        tracked_end = tracker.tracked if tracker else 0
        tracer_provider.force_flush()
        with contextlib.suppress(Exception):
            soak.client.close()
        elapsed = time.perf_counter() - started
        ended_by_then, requested_by_then = describe(exporter.counts), own_requests(reader)
        # Ends every run still tracked, while the API still answers: looked up (2 s in all), else abandoned.
        instrumentor.uninstrument()

    half = next((rss for runs, rss in series if runs >= args.runs // 2), series[0][1])
    end = series[-1][1]
    change = (end - half) / half
    print()
    print(f"client outcomes: {dict(soak.outcomes)}")
    print(f"spans ended by then: {ended_by_then}")
    print(f"tracker at the end: {tracked_end:,} runs tracked, bound {bound:,} -> "
          f"{'at or under its bound' if bound is None or tracked_end <= bound else 'OVER its bound'}")
    print(f"RSS at half-way {half:.1f} MiB, at the end {end:.1f} MiB: {change:+.1%} "
          f"({'flat' if abs(change) <= FLAT_WITHIN else 'NOT flat'} within {FLAT_WITHIN:.0%})")
    print(f"elapsed {elapsed / 60:.1f} min, {args.runs / elapsed:.0f} runs/s")
    print(f"the instrumentation's own requests by then: {requested_by_then}")
    print(f"spans ended after uninstrument(): {describe(exporter.counts)}")
    print(f"the instrumentation's own requests in all: {own_requests(reader)}")
    tracer_provider.shutdown()
    ok = (bound is None or tracked_end <= bound) and abs(change) <= FLAT_WITHIN
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
