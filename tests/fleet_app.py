"""One process of an instrumented fleet, for the tests that speak of several processes.

``python -m tests.fleet_app ROLE --base-url URL --out FILE [--setting key=value ...] [--runs JSON]``

Roles, as the processes of a real app share a run:

- ``create``: creates one run per ``--scenario`` (each on a new thread), prints their ids as one JSON
  line, then obeys the lines it reads: ``sweep SECONDS`` acts on what is due that many seconds from
  now (what the serving thread does when the time comes) and answers ``swept``; ``exit`` ends it.
- ``poll``: polls every run of ``--runs`` to its end; with ``--submit`` it also submits the tool
  outputs a run asks for (``--async`` does the same with the async client; ``--wait`` retrieves
  every run once, says ``ready`` and goes on after a line read, so that each poller of a test
  meets every run before its end however slowly the processes start).
- ``submit``: submits tool outputs for the calls of ``--calls`` without looking at the runs (a
  queue worker handed only the call ids).
- ``lookup``: retrieves every run once (a page loaded long after).

At the end the tracer provider is shut down (what exit does), and every span and metric point the
process recorded is written to ``--out`` as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import time
import warnings
from typing import Any

import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_assistants import AssistantsInstrumentor
from otel_assistants.attributes import TERMINAL_STATUSES as TERMINAL


def outputs(calls: list[Any]) -> list[dict[str, str]]:
    return [{"tool_call_id": call.id if hasattr(call, "id") else call, "output": "21"} for call in calls]


def create(client: openai.OpenAI, assistant: str, scenarios: list[str]) -> None:
    made = []
    for scenario in scenarios:
        run = client.beta.threads.create_and_run(assistant_id=assistant, metadata={"scenario": scenario})
        made.append({"id": run.id, "thread_id": run.thread_id})
    print(json.dumps(made), flush=True)


def obey(instrumentor: AssistantsInstrumentor) -> None:
    for line in sys.stdin:
        command = line.split()
        if command[:1] == ["sweep"]:
            instrumentor.tracker.sweep(now=time.time() + float(command[1]))  # type: ignore[union-attr]
            instrumentor.force_flush()
            print(f"swept {instrumentor.tracker.tracked}", flush=True)  # type: ignore[union-attr]
        elif command[:1] == ["exit"]:
            return


def wait_for_go() -> None:
    print("ready", flush=True)
    sys.stdin.readline()


def poll(client: openai.OpenAI, runs: list[dict[str, str]], submit: bool, wait: bool) -> None:
    pending = {run["id"]: run["thread_id"] for run in runs}
    if wait:
        for run_id, thread_id in pending.items():
            client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
        wait_for_go()
    while pending:
        for run_id, thread_id in list(pending.items()):
            run = client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
            if run.status in TERMINAL:
                del pending[run_id]
            elif run.status == "requires_action" and submit:
                calls = run.required_action.submit_tool_outputs.tool_calls
                with contextlib.suppress(openai.BadRequestError):  # another poller answered first
                    client.beta.threads.runs.submit_tool_outputs(run_id, thread_id=thread_id,
                                                                 tool_outputs=outputs(calls))
        time.sleep(0.01)


async def poll_async(base_url: str, runs: list[dict[str, str]], submit: bool, wait: bool) -> None:
    async with openai.AsyncOpenAI(base_url=base_url, api_key="sk-fleet", max_retries=0) as client:
        pending = {run["id"]: run["thread_id"] for run in runs}
        if wait:
            for run_id, thread_id in pending.items():
                await client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
            await asyncio.to_thread(wait_for_go)
        while pending:
            for run_id, thread_id in list(pending.items()):
                run = await client.beta.threads.runs.retrieve(run_id, thread_id=thread_id)
                if run.status in TERMINAL:
                    del pending[run_id]
                elif run.status == "requires_action" and submit:
                    calls = run.required_action.submit_tool_outputs.tool_calls
                    with contextlib.suppress(openai.BadRequestError):
                        await client.beta.threads.runs.submit_tool_outputs(run_id, thread_id=thread_id,
                                                                           tool_outputs=outputs(calls))
            await asyncio.sleep(0.01)


def submit_blind(client: openai.OpenAI, calls: list[dict[str, Any]]) -> None:
    for call in calls:
        client.beta.threads.runs.submit_tool_outputs(call["run_id"], thread_id=call["thread_id"],
                                                     tool_outputs=outputs(call["call_ids"]))


def lookup(client: openai.OpenAI, runs: list[dict[str, str]]) -> None:
    for run in runs:
        client.beta.threads.runs.retrieve(run["id"], thread_id=run["thread_id"])


def recorded(exporter: InMemorySpanExporter, reader: InMemoryMetricReader) -> dict[str, Any]:
    spans = [{
        "name": span.name, "kind": span.kind.name, "trace_id": span.context.trace_id,
        "span_id": span.context.span_id, "parent": span.parent.span_id if span.parent else None,
        "start": span.start_time, "end": span.end_time, "status": span.status.status_code.name,
        "attributes": dict(span.attributes or {}),
    } for span in exporter.get_finished_spans()]
    points = []
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    histogram = hasattr(point, "bucket_counts")
                    points.append({"name": metric.name, "attributes": dict(point.attributes or {}),
                                   "value": point.count if histogram else point.value,
                                   "sum": point.sum if histogram else point.value})
    return {"spans": spans, "points": points}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["create", "poll", "submit", "lookup"])
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--setting", action="append", default=[])
    parser.add_argument("--assistant")
    parser.add_argument("--scenario", action="append", default=[])
    parser.add_argument("--runs", default="[]")
    parser.add_argument("--calls", default="[]")
    parser.add_argument("--submit", action="store_true")
    parser.add_argument("--async", dest="use_async", action="store_true")
    parser.add_argument("--wait", action="store_true", help="say ready, then start on a 'go' line")
    options = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    meter_provider = MeterProvider(metric_readers=[reader])
    settings = dict(item.split("=", 1) for item in options.setting)
    instrumentor = AssistantsInstrumentor()
    instrumentor.instrument(tracer_provider=tracer_provider, meter_provider=meter_provider, **settings)
    runs = json.loads(options.runs)
    with openai.OpenAI(base_url=options.base_url, api_key="sk-fleet", max_retries=0) as client:
        if options.role == "create":
            create(client, options.assistant, options.scenario)
            obey(instrumentor)
        elif options.role == "poll" and options.use_async:
            asyncio.run(poll_async(options.base_url, runs, options.submit, options.wait))
        elif options.role == "poll":
            poll(client, runs, options.submit, options.wait)
        elif options.role == "submit":
            submit_blind(client, json.loads(options.calls))
        else:
            lookup(client, runs)
    tracer_provider.shutdown()  # what exit does: open runs are looked up, then end
    with open(options.out, "w") as out:
        json.dump(recorded(exporter, reader), out)
    meter_provider.shutdown()


if __name__ == "__main__":
    main()
