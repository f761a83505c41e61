"""The demo run: the emulator on loopback, every scenario of the workload, then what became of the telemetry.

With no exporter configured it prints each trace as a tree and the metric totals. With the standard
OpenTelemetry variables (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_TRACES_EXPORTER``, ...) the same
telemetry goes to a collector or backend, and the demo ends with what arrived there.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import Any, TextIO

import openai

from ..emulator import Emulator
from ..instrumentor import AssistantsInstrumentor
from .pipeline import apply_demo_defaults, build_pipeline
from .render import TreeSpan, render_metrics, render_traces
from .verdict import verdict
from .workload import ASSISTANT, SCENARIOS, FinishedElsewhere, outcome


def run_demo(out: TextIO = sys.stdout) -> int:
    """Exit code: 0 when everything exported arrived (or nothing was exported), 1 otherwise.

    Raises :class:`~otel_assistants.demo.ConfigurationError` when the environment asks for an
    exporter this installation lacks.
    """
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    apply_demo_defaults(os.environ)
    pipeline = build_pipeline()
    instrumentor = AssistantsInstrumentor()
    # The run's trace context goes with the run, so the worker process's spans join its trace.
    instrumentor.instrument(tracer_provider=pipeline.tracer_provider, meter_provider=pipeline.meter_provider,
                            propagate_context=True)
    tracer = pipeline.tracer_provider.get_tracer("otel-assistants-demo")
    elsewhere: list[TreeSpan] = []
    elsewhere_exported: list[dict[str, Any]] = []
    try:
        with Emulator(poll_after_ms=5) as emulator:
            out.write(f"Assistants API emulator on {emulator.base_url}\n")
            client = openai.OpenAI(base_url=emulator.base_url, api_key="demo-key")
            assistant = client.beta.assistants.create(**ASSISTANT)
            width = max(len(scenario.title) for scenario in SCENARIOS)
            for scenario in SCENARIOS:
                with tracer.start_as_current_span(f"demo: {scenario.title}"):
                    run = scenario.drive(client, assistant.id)
                if isinstance(run, FinishedElsewhere):
                    elsewhere += run.spans
                    elsewhere_exported += run.exported
                out.write(f"  {scenario.title:<{width}} -> {outcome(run)}\n")
            # While the emulator still answers: the step fetches, and the look-up of the run the
            # worker finished (this process did not see it end), which ends and counts it.
            instrumentor.uninstrument()
    finally:
        if instrumentor.is_instrumented_by_opentelemetry:
            instrumentor.uninstrument()
    totals = pipeline.metrics.get_metrics_data()
    spans = [TreeSpan.from_sdk(span) for span in pipeline.spans.get_finished_spans()] + elsewhere
    pipeline.shutdown()
    for told in elsewhere_exported:  # the worker's spans went where this process's went: one account
        for route in pipeline.routes_of("traces"):
            if route.destination == told["destination"]:
                route.sent += told["sent"]
                route.delivered += told["delivered"]

    # The traces are shown where they arrived, by id; in the terminal when they arrived nowhere.
    arrived_at = [route.destination for route in pipeline.routes_of("traces") if route.arrived()]
    if arrived_at:
        trace_ids = sorted({span.trace_id for span in spans})
        out.write(f"\n{len(spans)} spans in {len(trace_ids)} traces sent to {', '.join(arrived_at)}:\n")
        out.writelines(f"  trace {trace_id:032x}\n" for trace_id in trace_ids)
    else:
        out.write("\n" + render_traces(spans))
    out.write("\n" + render_metrics(totals))
    lines, exit_code = verdict(pipeline.routes, os.environ)
    if lines:
        out.write("\n" + "\n".join(lines) + "\n")
    return exit_code
