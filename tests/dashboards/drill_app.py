"""The app of the end-to-end drill: an instrumented client mid-migration, running a known mix of
Assistants runs, vector store ingestion, known API errors and Responses API calls.

Runs are instrumented by otel-assistants, Responses calls by the official OpenAI instrumentation
(opentelemetry-instrumentation-genai-openai), both on one meter provider. It serves the metrics with
opentelemetry-exporter-prometheus on a loopback port, drives the emulator, prints
``done <json counts>`` when the workload is over and keeps serving until its standard input closes.

    python -m tests.dashboards.drill_app --port 9464 --cycles 12 --pause 1.0
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections import Counter
from typing import Any

import openai
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import start_http_server

from otel_assistants import AssistantsInstrumentor
from otel_assistants.emulator import Emulator
from otel_assistants.emulator.ingestion import failing_filename

from ..support.flows import outputs_for

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
# And 15 Responses API calls per cycle (60 % of the traffic), each (scenario, streamed): 3 fail (20 %),
# the 12 others report 60 input and 12 output tokens.
RESPONSES = (
    *[("usage=60,12", False)] * 6,
    *[("usage=60,12", True)] * 6,
    ("outcome=failed", False),
    ("outcome=failed", True),
    ("http_status=500", False),
)
MODEL = "gpt-4o"
# And per cycle two ingestion jobs: a batch of 3 good files and 1 unsupported one, and one corrupt
# PDF added alone: 5 files, 2 of them failed (40 %).
BATCH = (("faq.md", b"# FAQ"), ("policies.txt", b"refunds within 30 days"), ("prices.json", b"{}"),
         (failing_filename("unsupported_file", "diagram"), b"\x89PNG"))
SINGLE = (failing_filename("invalid_file", "scan"), b"%PDF-1.4 broken")


def respond(client: openai.OpenAI, scenario: str, streamed: bool) -> Counter[str]:
    """One Responses API call; what it cost as the app saw it."""
    seen: Counter[str] = Counter(calls=1)
    try:
        if streamed:
            stream = client.responses.create(model=MODEL, input="Hi", stream=True, metadata={"scenario": scenario})
            with stream:
                response = list(stream)[-1].response
        else:
            response = client.responses.create(model=MODEL, input="Hi", metadata={"scenario": scenario})
    except openai.APIStatusError:
        seen["errors"] += 1
        return seen
    if response.status == "failed":
        seen["errors"] += 1
    if response.usage is not None:
        seen["with_usage"] += 1
        seen["tokens"] += response.usage.input_tokens + response.usage.output_tokens
    return seen


def ingest(client: openai.OpenAI, store_id: str) -> Counter[str]:
    """One cycle's ingestion jobs; how their files ended, as the app saw it."""
    stores = client.vector_stores if hasattr(client, "vector_stores") else client.beta.vector_stores
    batch = stores.file_batches.upload_and_poll(vector_store_id=store_id, files=list(BATCH), poll_interval_ms=1)
    single = stores.files.upload_and_poll(vector_store_id=store_id, file=SINGLE, poll_interval_ms=1)
    counts = batch.file_counts
    ended = Counter(completed=counts.completed, failed=counts.failed)
    ended[single.status] += 1
    return ended


# Per cycle, the known API errors of contract 2.8 (their reason: how many).
ERROR_MIX = {"thread_has_active_run": 3, "unsupported_parameter": 1, "invalid_batch_id": 1, "no_files_provided": 1}


def known_errors(client: openai.OpenAI, assistant_id: str, store_id: str) -> Counter[str]:
    """One cycle's refused requests (ERROR_MIX), each caught as the app would; by what it got."""
    refused: Counter[str] = Counter()
    stores = client.vector_stores if hasattr(client, "vector_stores") else client.beta.vector_stores
    thread = client.beta.threads.create()
    runs = client.beta.threads.runs
    held = runs.create(thread_id=thread.id, assistant_id=assistant_id, metadata={"scenario": "hold=1"})
    attempts: list[Any] = [
        *[lambda: client.beta.threads.messages.create(thread_id=thread.id, role="user", content="more")] * 3,
        lambda: client.beta.assistants.create(model="o3-mini", temperature=0.2),
        lambda: stores.file_batches.retrieve(store_id, vector_store_id=store_id),  # a store id as a batch id
        lambda: stores.file_batches.create(vector_store_id=store_id, file_ids=[]),
    ]
    for attempt in attempts:
        try:
            attempt()
        except openai.BadRequestError:
            refused["bad_request"] += 1
    runs.cancel(run_id=held.id, thread_id=thread.id)
    refused[runs.poll(run_id=held.id, thread_id=thread.id, poll_interval_ms=1).status] += 1
    return refused


def run_one(client: openai.OpenAI, assistant_id: str, spec: str) -> Any:
    thread = client.beta.threads.create()
    runs = client.beta.threads.runs
    if spec == "stream":
        with runs.stream(thread_id=thread.id, assistant_id=assistant_id) as stream:
            stream.until_done()
            return stream.get_final_run()
    cancel = spec.endswith(";cancel")
    scenario = spec.removesuffix(";cancel")
    run = runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant_id, metadata={"scenario": scenario}, poll_interval_ms=1
    )
    if run.status == "requires_action" and run.required_action is not None:
        if cancel:
            runs.cancel(run_id=run.id, thread_id=thread.id)
            run = runs.poll(run_id=run.id, thread_id=thread.id, poll_interval_ms=1)
        else:
            run = runs.submit_tool_outputs_and_poll(
                run_id=run.id,
                thread_id=thread.id,
                tool_outputs=outputs_for(run, "42"),
                poll_interval_ms=1,
            )
    return run


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
    official = OpenAIInstrumentor()
    official.instrument(meter_provider=provider)
    server, _ = start_http_server(args.port, addr="127.0.0.1")
    statuses: Counter[str] = Counter()
    run_usage: Counter[str] = Counter()
    responses: Counter[str] = Counter()
    try:
        with Emulator(poll_after_ms=1) as emulator:
            client = openai.OpenAI(base_url=emulator.base_url, api_key="drill", max_retries=0)
            assistant = client.beta.assistants.create(model=MODEL, name="helpdesk")
            stores = client.vector_stores if hasattr(client, "vector_stores") else client.beta.vector_stores
            store = stores.create(name="helpdesk-docs")
            files: Counter[str] = Counter()
            errors: Counter[str] = Counter()
            for _ in range(args.cycles):
                # Runs and calls interleaved, so any stretch of the workload holds the mix.
                for index in range(max(len(CYCLE), len(RESPONSES))):
                    if index < len(CYCLE):
                        run = run_one(client, assistant.id, CYCLE[index])
                        statuses[run.status] += 1
                        if run.usage is not None:
                            run_usage.update(with_usage=1, tokens=run.usage.total_tokens)
                    if index < len(RESPONSES):
                        responses.update(respond(client, *RESPONSES[index]))
                files.update(ingest(client, store.id))
                refused = known_errors(client, assistant.id, store.id)
                errors["bad_request"] += refused.pop("bad_request", 0)
                statuses.update(refused)  # the run held while they were refused, then cancelled
                for _ in range(2):
                    try:
                        client.beta.threads.retrieve("thread_that_does_not_exist")
                    except openai.NotFoundError:
                        statuses["not_found"] += 1
                time.sleep(args.pause)
        print("done " + json.dumps({"runs": statuses, "run_usage": run_usage, "responses": responses,
                                    "files": files, "errors": errors}), flush=True)
        sys.stdin.read()  # keep the metrics up until the drill is over
    finally:
        official.uninstrument()
        instrumentor.uninstrument()
        server.shutdown()
        provider.shutdown()


if __name__ == "__main__":
    main()
