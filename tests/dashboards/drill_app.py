"""The app of the end-to-end drill: an instrumented client running a known mix of runs.

It serves its metrics with opentelemetry-exporter-prometheus on a loopback port, drives the
Assistants API emulator, prints ``done <json counts>`` when the workload is over and keeps serving
until its standard input closes.

    python -m tests.dashboards.drill_app --port 9464 --cycles 12 --pause 1.0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter

import openai
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import start_http_server

from otel_assistants import AssistantsInstrumentor
from otel_assistants.emulator import Emulator

# One cycle: 10 runs, 2 failed (20%) and 1 expired (10%), plus two 404s from retrieve_thread.
CYCLE = (
    "outcome=failed;error_code=server_error",
    "outcome=failed;error_code=rate_limit_exceeded",
    "outcome=expired",
    "outcome=incomplete",
    "tools=1;cancel",  # the app cancels while the run waits for its tool output
    "tools=1",  # the app answers the function call
    "stream",  # streamed, for time to first chunk
    "builtin=code_interpreter",
    "",
    "",
)


def run_one(client: openai.OpenAI, assistant_id: str, spec: str) -> str:
    thread = client.beta.threads.create()
    runs = client.beta.threads.runs
    if spec == "stream":
        with runs.stream(thread_id=thread.id, assistant_id=assistant_id) as stream:
            stream.until_done()
            run = stream.get_final_run()
        return run.status
    cancel = spec.endswith(";cancel")
    scenario = spec.removesuffix(";cancel")
    run = runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, metadata={"scenario": scenario}, poll_interval_ms=1
    )
    if run.status == "requires_action" and run.required_action is not None:
        calls = run.required_action.submit_tool_outputs.tool_calls
        if cancel:
            runs.cancel(run_id=run.id, thread_id=thread.id)
            run = runs.poll(run_id=run.id, thread_id=thread.id, poll_interval_ms=1)
        else:
            run = runs.submit_tool_outputs_and_poll(
                run_id=run.id,
                thread_id=thread.id,
                tool_outputs=[{"tool_call_id": call.id, "output": "42"} for call in calls],
                poll_interval_ms=1,
            )
    return run.status


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cycles", type=int, default=12)
    parser.add_argument("--pause", type=float, default=1.0, help="seconds between cycles")
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # the SDK's notice that Assistants is deprecated

    reader = PrometheusMetricReader()
    provider = MeterProvider(metric_readers=[reader], resource=Resource.create({"service.name": "drill"}))
    instrumentor = AssistantsInstrumentor()
    instrumentor.instrument(meter_provider=provider)
    server, _ = start_http_server(args.port, addr="127.0.0.1")
    statuses: Counter[str] = Counter()
    try:
        with Emulator(poll_after_ms=1) as emulator:
            client = openai.OpenAI(base_url=emulator.base_url, api_key="drill", max_retries=0)
            assistant = client.beta.assistants.create(model="gpt-4o", name="helpdesk")
            for _ in range(args.cycles):
                for spec in CYCLE:
                    statuses[run_one(client, assistant.id, spec)] += 1
                for _ in range(2):
                    try:
                        client.beta.threads.retrieve("thread_that_does_not_exist")
                    except openai.NotFoundError:
                        statuses["not_found"] += 1
                time.sleep(args.pause)
        print("done " + json.dumps(statuses), flush=True)
        sys.stdin.read()  # keep the metrics up until the drill is over
    finally:
        instrumentor.uninstrument()
        server.shutdown()
        provider.shutdown()


if __name__ == "__main__":
    main()
