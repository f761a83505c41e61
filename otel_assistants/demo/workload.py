"""What the demo does with the Assistants API: one named scenario per outcome worth seeing.

Each scenario drives the real ``openai`` SDK against the emulator: most of them one run, whose
behaviour comes from the run's ``metadata["scenario"]``; one a vector store file batch, whose files'
outcomes come from their names. Adding a case to the demo is adding a :class:`DemoScenario` to
:data:`SCENARIOS`.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import openai

from ..emulator.ingestion import failing_filename, ingest_metadata
from .render import TreeSpan

TOOL_NAME = "get_weather"
ASSISTANT = {
    "model": "gpt-4o", "name": "weather-assistant", "instructions": "Answer weather questions.",
    "tools": [{"type": "function", "function": {"name": TOOL_NAME, "parameters": {"type": "object"}}},
              {"type": "code_interpreter"}],  # a built-in tool: the polled runs' steps are fetched
}


@dataclass(frozen=True)
class DemoScenario:
    """A named part of the workload: ``drive`` runs it and returns what the app last saw of it (a run,
    a file batch, ...), which :func:`outcome` puts in words."""

    title: str
    drive: Callable[[openai.OpenAI, str], Any]


def _thread(client: openai.OpenAI) -> str:
    return str(client.beta.threads.create(messages=[{"role": "user", "content": "Weather in Paris?"}]).id)


def _outputs(run: Any) -> list[dict[str, str]]:
    calls = run.required_action.submit_tool_outputs.tool_calls
    return [{"tool_call_id": c.id, "output": json.dumps({"city": "Paris", "celsius": 21})} for c in calls]


def completed(client: openai.OpenAI, assistant_id: str) -> Any:
    return client.beta.threads.runs.create_and_poll(
        thread_id=_thread(client), assistant_id=assistant_id, poll_interval_ms=5, metadata={"scenario": "polls=3"})


def tool_calling(client: openai.OpenAI, assistant_id: str) -> Any:
    runs = client.beta.threads.runs
    thread_id = _thread(client)
    run = runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=5,
                               metadata={"scenario": "tools=2;polls=2"})
    time.sleep(0.15)  # the app's own tool work, timed by the execute_tool spans
    return runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=thread_id, tool_outputs=_outputs(run),
                                             poll_interval_ms=5)


def failed(client: openai.OpenAI, assistant_id: str) -> Any:
    return client.beta.threads.runs.create_and_poll(
        thread_id=_thread(client), assistant_id=assistant_id, poll_interval_ms=5,
        metadata={"scenario": "outcome=failed;error_code=server_error;polls=2"})


def expired(client: openai.OpenAI, assistant_id: str) -> Any:
    runs = client.beta.threads.runs
    thread_id = _thread(client)
    run = runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id, poll_interval_ms=5,
                               metadata={"scenario": "tools=1;expires_in=2"})
    # A tool slower than the run's expiry, the usual cause of expired runs. `expires_at` is in whole
    # seconds, so two of them leave the run at least one to be seen asking for its tool output.
    time.sleep(max(0.0, run.expires_at - time.time()) + 0.1)
    return runs.retrieve(run.id, thread_id=thread_id)


def cancelled(client: openai.OpenAI, assistant_id: str) -> Any:
    runs = client.beta.threads.runs
    thread_id = _thread(client)
    run = runs.create(thread_id=thread_id, assistant_id=assistant_id, metadata={"scenario": "hold=1"})
    runs.cancel(run.id, thread_id=thread_id)
    return runs.poll(run.id, thread_id=thread_id, poll_interval_ms=5)


def streamed(client: openai.OpenAI, assistant_id: str) -> Any:
    with client.beta.threads.runs.stream(thread_id=_thread(client), assistant_id=assistant_id,
                                         metadata={"scenario": "deltas=5"}) as stream:
        stream.until_done()
        return stream.current_run


def file_batch_with_unsupported_file(client: openai.OpenAI, assistant_id: str) -> Any:
    """Two text files and an image into a vector store: the image is not a type file_search indexes,
    so the batch completes with one failed file, as the real API does."""
    # Under `beta` before openai 1.66, top level after.
    stores = client.vector_stores if hasattr(client, "vector_stores") else client.beta.vector_stores
    store = stores.create(name="weather-notes", metadata=ingest_metadata(polls=2))
    files = [("paris.txt", b"Paris: mild, 21 C."), ("lyon.md", b"# Lyon\nSunny, 24 C."),
             (failing_filename("unsupported_file", "diagram"), b"\x89PNG\r\n\x1a\n")]
    # Uploaded here rather than by `upload_and_poll`, whose worker threads do not carry the trace
    # context: the upload_file spans stay in the scenario's trace.
    file_ids = [client.files.create(file=file, purpose="assistants").id for file in files]
    return stores.file_batches.create_and_poll(vector_store_id=store.id, file_ids=file_ids, poll_interval_ms=5)


@dataclass(frozen=True)
class RefusedMessage:
    """A message the API refused (its HTTP status), and how the run that blocked it ended."""

    http_status: int
    status: str  # the run's


def message_on_active_run(client: openai.OpenAI, assistant_id: str) -> Any:
    """A message added while the thread's run is still going: the API refuses it (HTTP 400), the app
    catches the error and cancels the run, so nothing is left running."""
    threads = client.beta.threads
    thread_id = _thread(client)
    run = threads.runs.create(thread_id=thread_id, assistant_id=assistant_id, metadata={"scenario": "hold=1"})
    try:
        threads.messages.create(thread_id=thread_id, role="user", content="And in Lyon?")
    except openai.BadRequestError as error:
        refused = error.status_code
    else:
        raise RuntimeError("the API took a message on a thread with an active run")
    threads.runs.cancel(run.id, thread_id=thread_id)
    return RefusedMessage(refused, threads.runs.poll(run.id, thread_id=thread_id, poll_interval_ms=5).status)


def outcome(result: Any) -> str:
    """How a scenario ended, in the words of its outcome line."""
    if isinstance(result, RefusedMessage):
        return f"message refused (HTTP {result.http_status}), run {result.status}"
    counts = getattr(result, "file_counts", None)
    if counts is not None and counts.failed:
        return f"{result.status} ({counts.failed} of {counts.total} files failed)"
    return str(getattr(result, "status", "?"))


@dataclass(frozen=True)
class FinishedElsewhere:
    """A run another process finished: its last status there, and the spans that process recorded."""

    status: str
    spans: list[TreeSpan]
    exported: list[dict[str, Any]]  # per trace exporter: destination, spans sent and delivered


def finished_by_another_process(client: openai.OpenAI, assistant_id: str) -> Any:
    """Created here; polled to its end and its tool call answered by a worker process. This process
    learns how the run ended by looking it up, and counts it; the worker records an await_run span."""
    run = client.beta.threads.runs.create(thread_id=_thread(client), assistant_id=assistant_id,
                                          metadata={"scenario": "tools=1;polls=2"})
    worker = subprocess.run([sys.executable, "-m", "otel_assistants.demo.worker", str(client.base_url), run.id,
                             run.thread_id], capture_output=True, text=True, timeout=120, check=False)
    if worker.returncode != 0:
        raise RuntimeError(f"the worker process failed: {worker.stderr.strip()}")
    told = json.loads(worker.stdout.splitlines()[-1])
    return FinishedElsewhere(told["status"], [TreeSpan(**span) for span in told["spans"]], told["exported"])


SCENARIOS: list[DemoScenario] = [
    DemoScenario("completed run", completed),
    DemoScenario("tool-calling run", tool_calling),
    DemoScenario("failed run", failed),
    DemoScenario("expired run", expired),
    DemoScenario("cancelled run", cancelled),
    DemoScenario("streamed run", streamed),
    DemoScenario("run finished by another process", finished_by_another_process),
    DemoScenario("file batch with an unsupported file", file_batch_with_unsupported_file),
    DemoScenario("message on a thread with an active run", message_on_active_run),
]
