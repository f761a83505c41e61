"""``otel-assistants demo``: a real instrumented workload against the emulator, shown in the terminal.

It starts the emulator on loopback, drives runs that complete, call tools, fail, expire, get
cancelled and stream, then prints each trace as a tree and the metric totals. With
``OTEL_EXPORTER_OTLP_ENDPOINT`` set, the same telemetry goes to that collector (Jaeger, Tempo, ...).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TextIO

from . import AssistantsInstrumentor
from .emulator import Emulator

SERVICE_NAME = "otel-assistants-demo"
TOOL_NAME = "get_weather"


def _outputs(run: Any) -> list[dict[str, str]]:
    calls = run.required_action.submit_tool_outputs.tool_calls
    return [{"tool_call_id": c.id, "output": json.dumps({"city": "Paris", "celsius": 21})} for c in calls]


def _workload(client: Any, assistant_id: str) -> list[tuple[str, Callable[[], Any]]]:
    runs = client.beta.threads.runs

    def thread() -> str:
        return str(client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Paris?"}]).id)

    def completed() -> Any:
        return runs.create_and_poll(thread_id=thread(), assistant_id=assistant_id, poll_interval_ms=5,
                                    metadata={"scenario": "polls=3"})

    def tool_calling() -> Any:
        thread_id = thread()
        run = runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=5,
                                   metadata={"scenario": "tools=2;polls=2"})
        time.sleep(0.15)  # the app's own tool work, timed by the execute_tool spans
        return runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=thread_id, tool_outputs=_outputs(run),
                                                 poll_interval_ms=5)

    def failed() -> Any:
        return runs.create_and_poll(thread_id=thread(), assistant_id=assistant_id, poll_interval_ms=5,
                                    metadata={"scenario": "outcome=failed;error_code=server_error;polls=2"})

    def expired() -> Any:
        thread_id = thread()
        run = runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=5,
                                   metadata={"scenario": "tools=1;expires_in=1"})
        time.sleep(1.2)  # a tool slower than the run's expiry: the usual cause of expired runs
        return runs.retrieve(run.id, thread_id=thread_id)

    def cancelled() -> Any:
        thread_id = thread()
        run = runs.create(thread_id=thread_id, assistant_id=assistant_id, metadata={"scenario": "hold=1"})
        runs.cancel(run.id, thread_id=thread_id)
        return runs.poll(run.id, thread_id=thread_id, poll_interval_ms=5)

    def streamed() -> Any:
        with runs.stream(thread_id=thread(), assistant_id=assistant_id,
                         metadata={"scenario": "deltas=5"}) as stream:
            stream.until_done()
            return stream.current_run

    return [("completed run", completed), ("tool-calling run", tool_calling), ("failed run", failed),
            ("expired run", expired), ("cancelled run", cancelled), ("streamed run", streamed)]


def run_demo(out: TextIO = sys.stdout) -> int:
    import openai
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader, PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    warnings.filterwarnings("ignore", category=DeprecationWarning)
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", SERVICE_NAME)})
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = InMemoryMetricReader()
    readers: list[Any] = [metrics]
    if endpoint:
        span_exporter, metric_exporter = _otlp_exporters()
        tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter))
        readers.append(PeriodicExportingMetricReader(metric_exporter, export_interval_millis=5000))
    meter_provider = MeterProvider(resource=resource, metric_readers=readers)
    instrumentor = AssistantsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    tracer = tracer_provider.get_tracer("otel-assistants-demo")
    try:
        with Emulator(poll_after_ms=5) as emulator:
            out.write(f"Assistants API emulator on {emulator.base_url}\n")
            client = openai.OpenAI(base_url=emulator.base_url, api_key="demo-key")
            assistant = client.beta.assistants.create(
                model="gpt-4o", name="weather-assistant", instructions="Answer weather questions.",
                tools=[{"type": "function", "function": {"name": TOOL_NAME, "parameters": {"type": "object"}}},
                       {"type": "code_interpreter"}],
            )
            for title, step in _workload(client, assistant.id):
                with tracer.start_as_current_span(f"demo: {title}"):
                    run = step()
                out.write(f"  {title:<18} -> {getattr(run, 'status', '?')}\n")
            instrumentor.force_flush()  # the step fetches, while the emulator still answers
    finally:
        instrumentor.uninstrument()
        tracer_provider.shutdown()
        meter_provider.force_flush()
    finished = list(spans.get_finished_spans())
    exit_code = 0
    if endpoint:
        traces = sorted({format(s.context.trace_id, "032x") for s in finished})
        if span_exporter.rejected or not metric_exporter.delivered:
            # the SDK only logs failed exports: say so rather than claim the telemetry arrived
            metrics_lost = "" if metric_exporter.delivered else " and the metrics"
            out.write(f"\nCould not export to {endpoint}: {span_exporter.rejected} of {len(finished)} spans"
                      f"{metrics_lost} did not reach the collector (see the errors above)\n")
            exit_code = 1
        else:
            out.write(f"\nExported {len(finished)} spans in {len(traces)} traces and the metrics to {endpoint}\n")
        for trace_id in traces:
            out.write(f"  trace {trace_id}\n")
    else:
        out.write("\n" + render_traces(finished))
    out.write("\n" + render_metrics(metrics.get_metrics_data()))
    meter_provider.shutdown()
    return exit_code


def _otlp_exporters() -> tuple[Any, Any]:
    """OTLP/HTTP span and metric exporters that remember what the collector did not accept."""
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.metrics.export import MetricExportResult
    from opentelemetry.sdk.trace.export import SpanExportResult

    class SpanExporter(OTLPSpanExporter):
        rejected = 0  # spans in batches that failed

        def export(self, batch: Any) -> Any:
            result = super().export(batch)
            if result is not SpanExportResult.SUCCESS:
                self.rejected += len(batch)
            return result

    class MetricExporter(OTLPMetricExporter):
        delivered = False  # the last export succeeded (points are cumulative: the last one counts)

        def export(self, data: Any, *args: Any, **kwargs: Any) -> Any:
            result = super().export(data, *args, **kwargs)
            self.delivered = result is MetricExportResult.SUCCESS
            return result

    return SpanExporter(), MetricExporter()


# attribute -> how the tree labels it
_SHOWN = {
    "openai.assistants.run.status": "status", "openai.assistants.run_step.status": "status", "error.type": "error",
    "gen_ai.usage.input_tokens": "in", "gen_ai.usage.output_tokens": "out",
    "openai.assistants.run.poll_count": "polls", "gen_ai.request.stream": "stream",
    "openai.assistants.file_search.result_count": "results",
}


def render_traces(spans: list[Any]) -> str:
    """Every trace as an indented tree: name, duration and the attributes that tell the story."""
    by_parent: dict[int | None, list[Any]] = defaultdict(list)
    ids = {s.context.span_id for s in spans}
    for span in spans:
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
        by_parent[parent].append(span)
    lines: list[str] = []

    def walk(span: Any, depth: int) -> None:
        duration = (span.end_time - span.start_time) / 1e6
        details = " ".join(f"{label}={span.attributes[key]}" for key, label in _SHOWN.items() if key in span.attributes)
        status = " ERROR" if span.status.status_code.name == "ERROR" else ""
        lines.append(f"{'  ' * depth}{span.name}  [{duration:.1f} ms]{status}  {details}".rstrip())
        for child in sorted(by_parent.get(span.context.span_id, []), key=lambda s: s.start_time):
            walk(child, depth + 1)

    for root in sorted(by_parent[None], key=lambda s: s.start_time):
        lines.append(f"trace {root.context.trace_id:032x}")
        walk(root, 1)
    return "\n".join(lines) + "\n"


def render_metrics(data: Any) -> str:
    lines = ["metric totals:"]
    if data is None:
        return "metric totals: none\n"
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    labels = ", ".join(f"{k}={v}" for k, v in sorted((point.attributes or {}).items()))
                    if hasattr(point, "bucket_counts"):
                        value = f"count={point.count} sum={point.sum:.3f}"
                    else:
                        value = f"{point.value}"
                    lines.append(f"  {metric.name}{{{labels}}} {value}")
    return "\n".join(lines) + "\n"
