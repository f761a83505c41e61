"""What the OpenTelemetry SDK itself charges for the telemetry one run is made of, on this machine.

    python benchmarks/sdk_costs.py

The contract fixes what a run emits (one span with its attributes and status events, and a set of
metric measurements); this prints the SDK's price for each piece, measured alone with ``timeit``,
so the instrumentation's own share of its overhead can be told from the SDK's. The first line is
a plain-Python yardstick for comparing machines.
"""

from __future__ import annotations

import timeit
from collections.abc import Callable, Sequence

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

# Shaped like a run's metric and span attributes (values are placeholders).
OUTCOME = {"openai.assistants.run.status": "completed", "gen_ai.response.model": "gpt-4o-mini",
           "gen_ai.agent.name": "benchmark", "gen_ai.provider.name": "openai"}
PROVIDER = {"gen_ai.provider.name": "openai"}
START = {f"attribute.{i}": f"value {i}" for i in range(12)}
END = {f"result.{i}": i for i in range(9)}


class NoopSpanExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def microseconds(action: Callable[[], object], number: int = 20_000) -> float:
    """Best of seven: the cost without the machine's noise."""
    return min(timeit.repeat(action, number=number, repeat=7)) / number * 1e6


def main() -> int:
    meter = MeterProvider(metric_readers=[InMemoryMetricReader()]).get_meter("costs")
    histogram = meter.create_histogram("h", unit="s", explicit_bucket_boundaries_advisory=[0.05, 0.1, 1, 10, 600])
    counter = meter.create_counter("c")
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoopSpanExporter()))
    tracer = provider.get_tracer("costs")

    def span_bare() -> None:
        tracer.start_span("invoke_agent").end()

    def span_with_attributes() -> None:
        tracer.start_span("invoke_agent", attributes=START).end()

    def span_with_event() -> None:
        span = tracer.start_span("invoke_agent")
        span.add_event("openai.assistants.run.status", {"openai.assistants.run.status": "queued"})
        span.end()

    def span_set_one_by_one() -> None:
        span = tracer.start_span("invoke_agent")
        for key, value in END.items():
            span.set_attribute(key, value)
        span.end()

    def span_set_at_once() -> None:
        span = tracer.start_span("invoke_agent")
        span.set_attributes(END)
        span.end()

    bare = microseconds(span_bare)
    rows = [
        ("yardstick: sum(range(1000))", microseconds(lambda: sum(range(1000)), 2_000)),
        ("histogram.record, 4 attributes", microseconds(lambda: histogram.record(0.5, OUTCOME))),
        ("histogram.record, no attributes", microseconds(lambda: histogram.record(0.5))),
        ("counter.add, 4 attributes", microseconds(lambda: counter.add(1, OUTCOME))),
        ("counter.add, 1 attribute", microseconds(lambda: counter.add(1, PROVIDER))),
        ("span start + end, no attributes", bare),
        ("  + 12 attributes at start", microseconds(span_with_attributes) - bare),
        ("  + one event with 1 attribute", microseconds(span_with_event) - bare),
        ("  + 9 attributes by set_attribute", microseconds(span_set_one_by_one) - bare),
        ("  + 9 attributes by one set_attributes", microseconds(span_set_at_once) - bare),
    ]
    width = max(len(name) for name, _ in rows)
    for name, cost in rows:
        print(f"{name:<{width}}  {cost:7.1f} µs")
    provider.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
