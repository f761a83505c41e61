"""Reading what the instrumentation exported, for assertions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk import _logs as sdk_logs
from opentelemetry.sdk._logs import export as log_export
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_assistants import AssistantsInstrumentor

# opentelemetry-sdk 1.39 renamed the in-memory log exporter (the old name warns from then on).
InMemoryLogExporter = getattr(log_export, "InMemoryLogRecordExporter", None) or log_export.InMemoryLogExporter


@dataclass
class Point:
    attributes: dict[str, Any]
    value: float | None = None  # sums and gauges
    count: int | None = None  # histograms
    sum: float | None = None
    buckets: tuple[float, ...] = ()
    unit: str = ""


def traced(exporter: InMemorySpanExporter) -> TracerProvider:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider


def metered(reader: InMemoryMetricReader) -> MeterProvider:
    return MeterProvider(metric_readers=[reader])


def logged(exporter: Any) -> sdk_logs.LoggerProvider:
    provider = sdk_logs.LoggerProvider()
    provider.add_log_record_processor(log_export.SimpleLogRecordProcessor(exporter))
    return provider


class Otel:
    """A tracer, meter and logger provider with in-memory exporters, and the instrumentor on them.

    The exporters and providers are made here unless given (the layered fixtures give theirs)."""

    def __init__(self, *, exporter: InMemorySpanExporter | None = None, tracer_provider: TracerProvider | None = None,
                 reader: InMemoryMetricReader | None = None, meter_provider: MeterProvider | None = None,
                 log_exporter: Any = None, logger_provider: sdk_logs.LoggerProvider | None = None,
                 **settings: Any) -> None:
        self.exporter = exporter or InMemorySpanExporter()
        self.tracer_provider = tracer_provider or traced(self.exporter)
        self.reader = reader or InMemoryMetricReader()
        self.meter_provider = meter_provider or metered(self.reader)
        self.log_exporter = log_exporter or InMemoryLogExporter()
        self.logger_provider = logger_provider or logged(self.log_exporter)
        self.tracer = self.tracer_provider.get_tracer("app")
        self.instrumentor = AssistantsInstrumentor()
        self.instrumentor.instrument(tracer_provider=self.tracer_provider, meter_provider=self.meter_provider,
                                     logger_provider=self.logger_provider, **settings)
        self.closed = False

    def close(self) -> None:
        """Uninstruments, once: a test may close early and its fixture closes again at teardown."""
        if not self.closed:
            self.closed = True
            self.instrumentor.uninstrument()

    # spans

    def settle(self) -> None:
        """Let the instrumentation's own pending requests (step fetches, look-ups) finish first."""
        assert self.instrumentor.force_flush(), "the instrumentation's own requests did not finish"

    def spans(self, name: str | None = None) -> list[ReadableSpan]:
        self.settle()
        found = list(self.exporter.get_finished_spans())
        if name is None:
            return found
        return [s for s in found if s.name == name or s.name.startswith(name + " ")]

    def run_spans(self) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.attributes.get("gen_ai.operation.name") == "invoke_agent"]

    def one_run(self) -> ReadableSpan:
        runs = self.run_spans()
        assert len(runs) == 1, [(s.name, dict(s.attributes)) for s in self.spans()]
        return runs[0]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        return [s for s in self.spans() if s.parent is not None and s.parent.span_id == parent.context.span_id]

    # log records (content events)

    def log_records(self) -> list[Any]:
        """Every log record emitted, oldest first (``LogData`` before SDK 1.39, ``ReadableLogRecord``
        after: both hold the record as ``log_record``)."""
        return [data.log_record for data in self.log_exporter.get_finished_logs()]

    # metrics

    def points(self, name: str) -> list[Point]:
        self.settle()
        data = self.reader.get_metrics_data()
        found: list[Point] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name != name:
                        continue
                    for point in metric.data.data_points:
                        attributes = dict(point.attributes or {})
                        if hasattr(point, "bucket_counts"):
                            found.append(Point(attributes, count=point.count, sum=point.sum,
                                               buckets=tuple(point.explicit_bounds), unit=metric.unit))
                        else:
                            found.append(Point(attributes, value=point.value, unit=metric.unit))
        return found

    def total(self, name: str, match: dict[str, Any] | None = None) -> float:
        """Sum (counters) or count (histograms) of the points whose attributes include ``match``."""
        total = 0.0
        for point in self.points(name):
            if all(point.attributes.get(k) == v for k, v in (match or {}).items()):
                total += point.value if point.value is not None else (point.count or 0)
        return total
