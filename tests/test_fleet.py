"""One run is one run across a fleet: real OS processes share runs as an app's workers do (one
creates, others poll and submit tool outputs, one looks the runs up long after), and what they
record, summed over all of them, must match the emulator's own account of the runs."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import openai
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation

from .support.flows import WEATHER_TOOL
from .support.processes import clean_environment, run_script

ROOT = Path(__file__).resolve().parents[1]
# Completed, tool-calling (one and two rounds), failed, with its own usage, incomplete, expiring; 20
# answers before each stop outlast the pollers' first sightings.
SCENARIOS = [f"{scenario};polls=20" for scenario in (
    "outcome=completed", "tools=1", "tools=2;rounds=2", "outcome=failed;error_code=rate_limit_exceeded",
    "usage=33,4", "outcome=incomplete", "tools=1;outcome=expired")]
RUN_METRICS = ("openai.assistants.runs", "openai.assistants.run.duration", "openai.assistants.run.queue_duration",
               "openai.assistants.run.polls", "gen_ai.client.token.usage")


class Process:
    """One process of the fleet (``tests/fleet_app.py``), and what it recorded once it ended."""

    def __init__(self, tmp: Path, name: str, role: str, base_url: str, *args: str, settings: tuple[str, ...] = ()):
        self.out = tmp / f"{name}.json"
        command = [sys.executable, "-m", "tests.fleet_app", role, "--base-url", base_url, "--out", str(self.out),
                   *(f"--setting={setting}" for setting in settings), *args]
        self.process = subprocess.Popen(command, cwd=ROOT, env=clean_environment(), stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def say(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def recorded(self, timeout: float = 120) -> dict[str, Any]:
        _, errors = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, errors
        assert "Traceback" not in errors and "internal error" not in errors, errors
        return json.loads(self.out.read_text())


def points(records: list[dict[str, Any]], name: str, match: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    return [point for record in records for point in record["points"] if point["name"] == name
            and all(point["attributes"].get(k) == v for k, v in (match or {}).items())]


def total(records: list[dict[str, Any]], name: str, match: dict[str, Any] | None = None,
          field: str = "value") -> float:
    return sum(point[field] for point in points(records, name, match))


def spans(record: dict[str, Any], operation: str) -> list[dict[str, Any]]:
    return [span for span in record["spans"] if span["attributes"].get("gen_ai.operation.name") == operation]


ASSISTANT = {"model": "gpt-4o", "name": "fleet", "tools": [WEATHER_TOOL]}


def truth(client: openai.OpenAI, runs: list[dict[str, str]]) -> dict[str, Any]:
    """What the emulator says of the runs: each one's status and usage, and the function calls asked."""
    with suppress_instrumentation():
        found = [client.beta.threads.runs.retrieve(run["id"], thread_id=run["thread_id"]) for run in runs]
        calls = 0
        for run in found:
            for step in client.beta.threads.runs.steps.list(run.id, thread_id=run.thread_id).data:
                if step.type == "tool_calls":
                    calls += sum(1 for call in step.step_details.tool_calls if call.type == "function")
    usage = [run.usage for run in found if run.usage is not None]
    return {"statuses": Counter(run.status for run in found), "input": sum(u.prompt_tokens for u in usage),
            "output": sum(u.completion_tokens for u in usage), "calls": calls,
            "ids": {run.id: run.status for run in found}}


@pytest.mark.parametrize("propagate", [False, True], ids=["plain", "propagate_context"])
def test_each_run_is_counted_once_across_a_fleet(propagate: bool, emulator: Any, client: openai.OpenAI,
                                                 assistant: Any, tmp_path: Path) -> None:
    settings = ("propagate_context=true",) if propagate else ()
    url = emulator.base_url
    creator = Process(tmp_path, "creator", "create", url, f"--assistant={assistant.id}",
                      *(f"--scenario={scenario}" for scenario in SCENARIOS), settings=settings)
    runs = json.loads(creator.line())
    listing = json.dumps(runs)
    # Behind a status endpoint: one worker answers the tool calls, two others only watch.
    pollers = [Process(tmp_path, "submitter", "poll", url, f"--runs={listing}", "--submit", "--wait",
                       settings=settings),
               Process(tmp_path, "watcher", "poll", url, f"--runs={listing}", "--wait", settings=settings),
               Process(tmp_path, "async-watcher", "poll", url, f"--runs={listing}", "--async", "--wait",
                       settings=settings)]
    assert [poller.line() for poller in pollers] == ["ready"] * 3
    for poller in pollers:
        poller.say("go")
    polled = [poller.recorded() for poller in pollers]
    emulator.clear_requests()
    late = Process(tmp_path, "late", "lookup", url, f"--runs={listing}", settings=settings).recorded()
    assert [r.path for r in emulator.requests if "/steps" in r.path] == [], "a late look-up listed steps"
    creator.say("exit")
    created = creator.recorded()
    fleet = [created, *polled, late]
    known = truth(client, runs)
    assert known["statuses"] == Counter({"completed": 4, "failed": 1, "incomplete": 1, "expired": 1})

    # Each run counted once, by its owner, with its true status; tokens and calls as the emulator says.
    counted = Counter()
    for point in points(fleet, "openai.assistants.runs"):
        counted[point["attributes"]["openai.assistants.run.status"]] += point["value"]
    assert counted == known["statuses"]
    assert total(fleet, "gen_ai.client.token.usage", {"gen_ai.token.type": "input"}, "sum") == known["input"]
    assert total(fleet, "gen_ai.client.token.usage", {"gen_ai.token.type": "output"}, "sum") == known["output"]
    assert total(fleet, "openai.assistants.tool_call.duration") == known["calls"]
    assert total(fleet, "openai.assistants.runs.active") == 0
    for record in (*polled, late):  # per-run metrics are the owner's alone
        assert not [p for name in RUN_METRICS for p in points([record], name)]
    assert not [s for record in fleet for s in record["spans"] if s["attributes"].get("error.type") == "abandoned"]

    # The owner: one run span per run, with its true status.
    run_spans = {s["attributes"]["openai.assistants.run.id"]: s for s in spans(created, "invoke_agent")}
    assert {run_id: s["attributes"]["openai.assistants.run.status"] for run_id, s in run_spans.items()} == known["ids"]
    # The others: at most one await_run span per run each, never an error for not seeing the end.
    for record in polled:
        waits = spans(record, "await_run")
        assert len(waits) == len(runs), "each poller met every run before its end"
        assert len({s["attributes"]["openai.assistants.run.id"] for s in waits}) == len(waits)
        assert {(s["kind"], s["name"]) for s in waits} == {("INTERNAL", "await_run")}  # the agent's name is
        # not known in a process that never saw the assistant, and no request is made to learn it
        assert not [s for s in waits if s["status"] == "ERROR" and s["attributes"]["openai.assistants.run.status"]
                    not in ("failed", "expired")]
    # Function calls: recorded where their outputs were submitted.
    assert total([polled[0]], "openai.assistants.tool_call.duration") == known["calls"]
    # The late look-up: plain operations, nothing for the runs.
    assert [s["name"] for s in late["spans"]] == ["retrieve_run"] * len(runs)
    assert {p["name"] for p in late["points"]} <= {"gen_ai.client.operation.duration"}
    assert total([late], "gen_ai.client.operation.duration", {"gen_ai.operation.name": "retrieve_run"}) == len(runs)

    # With propagate_context every process's spans for a run sit in its owner's trace.
    for run_id, run_span in run_spans.items():
        waits = [s for record in polled for s in spans(record, "await_run")
                 if s["attributes"]["openai.assistants.run.id"] == run_id]
        for wait in waits:
            if propagate:
                assert (wait["trace_id"], wait["parent"]) == (run_span["trace_id"], run_span["span_id"])
            else:
                assert wait["trace_id"] != run_span["trace_id"]
    if propagate:
        submitted = [s for s in polled[0]["spans"] if s["name"].startswith(("submit_tool_outputs", "execute_tool"))]
        assert submitted and {s["trace_id"] for s in submitted} <= {s["trace_id"] for s in run_spans.values()}


def test_the_owner_learns_the_end_from_a_look_up_while_it_runs_on(emulator: Any, client: openai.OpenAI,
                                                                  assistant: Any, tmp_path: Path) -> None:
    """The creating worker lives on: once a run has gone unseen for a while it asks the API, and the
    run ends with its truth then, not at exit."""
    url = emulator.base_url
    creator = Process(tmp_path, "creator", "create", url, f"--assistant={assistant.id}", "--scenario=usage=50,5")
    runs = json.loads(creator.line())
    Process(tmp_path, "poller", "poll", url, f"--runs={json.dumps(runs)}").recorded()
    creator.say("sweep 60")  # not due yet: the owner saw the run just now
    assert creator.line() == "swept 1"
    creator.say("sweep 200")  # a look-up every 132 s of a run's 10-minute life
    assert creator.line() == "swept 0"
    creator.say("exit")
    created = creator.recorded()
    [run] = spans(created, "invoke_agent")
    assert run["attributes"]["openai.assistants.run.status"] == "completed"
    assert (run["attributes"]["gen_ai.usage.input_tokens"], run["attributes"]["gen_ai.usage.output_tokens"]) == (50, 5)
    assert total([created], "openai.assistants.instrumentation.requests",
                 {"openai.assistants.instrumentation.request.type": "run_lookup",
                  "openai.assistants.instrumentation.request.outcome": "sent"}) == 1


def test_calls_answered_by_a_worker_that_never_saw_the_run(emulator: Any, client: openai.OpenAI, assistant: Any,
                                                           tmp_path: Path) -> None:
    """A queue worker handed only the call ids submits the outputs: it records the calls; the
    owner and a watcher who saw them asked record none."""
    url = emulator.base_url
    creator = Process(tmp_path, "creator", "create", url, f"--assistant={assistant.id}", "--scenario=tools=2;polls=1")
    [run] = json.loads(creator.line())
    with suppress_instrumentation():
        waiting = client.beta.threads.runs.poll(run["id"], thread_id=run["thread_id"], poll_interval_ms=1)
    assert waiting.status == "requires_action"
    call_ids = [call.id for call in waiting.required_action.submit_tool_outputs.tool_calls]
    watcher = Process(tmp_path, "watcher", "poll", url, f"--runs={json.dumps([run])}")
    worker = Process(tmp_path, "worker", "submit", url, "--calls=" + json.dumps(
        [{"run_id": run["id"], "thread_id": run["thread_id"], "call_ids": call_ids}])).recorded()
    watched = watcher.recorded()
    creator.say("exit")
    created = creator.recorded()
    fleet = [created, watched, worker]
    assert total(fleet, "openai.assistants.tool_call.duration") == 2
    tools = [s for s in worker["spans"] if s["name"] == "execute_tool"]
    assert sorted(s["attributes"]["gen_ai.tool.call.id"] for s in tools) == sorted(call_ids)
    assert all(s["attributes"]["gen_ai.tool.type"] == "function" and "gen_ai.tool.name" not in s["attributes"]
               for s in tools)  # where the call was asked is not known here
    [wait] = spans(worker, "await_run")
    assert all(s["parent"] == wait["span_id"] for s in tools)
    assert not [s for s in created["spans"] + watched["spans"] if s["name"].startswith("execute_tool")]
    assert total(fleet, "openai.assistants.runs", {"openai.assistants.run.status": "completed"}) == 1


def test_a_late_look_up_in_a_fresh_process_records_nothing_for_the_run(emulator: Any, client: openai.OpenAI,
                                                                       tmp_path: Path) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", name="late", tools=[{"type": "code_interpreter"}])
    with suppress_instrumentation():
        run = client.beta.threads.create_and_run_poll(assistant_id=assistant.id, poll_interval_ms=1,
                                                      metadata={"scenario": "builtin=code_interpreter"})
    assert run.status == "completed"
    emulator.clear_requests()
    late = Process(tmp_path, "late", "lookup", emulator.base_url,
                   f"--runs={json.dumps([{'id': run.id, 'thread_id': run.thread_id}])}").recorded()
    assert [(r.method, r.path) for r in emulator.requests] == [("GET", f"/threads/{run.thread_id}/runs/{run.id}")]
    [span] = late["spans"]
    assert (span["name"], span["kind"]) == ("retrieve_run", "CLIENT")
    assert span["attributes"]["openai.assistants.run.id"] == run.id
    assert span["attributes"]["gen_ai.conversation.id"] == run.thread_id
    assert [p["name"] for p in late["points"]] == ["gen_ai.client.operation.duration"]


# A process that forks while it follows a run (a pre-forking server that created one, a task handed
# to a forked worker): the child inherits the parent's memory, the run included.
FORKING = """
import json, os, sys, warnings
warnings.filterwarnings("ignore")
import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_assistants import AssistantsInstrumentor

exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
meter_provider = MeterProvider(metric_readers=[reader])
AssistantsInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-fleet", max_retries=0)
assistant = client.beta.assistants.create(model="gpt-4o", name="forker")
run = client.beta.threads.create_and_run(assistant_id=assistant.id, metadata={"scenario": "polls=1"})
child = os.fork()
if child == 0:
    client.beta.threads.create()  # the child works on, then ends
tracer_provider.shutdown()
points = [(metric.name, point.value) for rm in reader.get_metrics_data().resource_metrics
          for sm in rm.scope_metrics for metric in sm.metrics for point in metric.data.data_points
          if metric.name in ("openai.assistants.runs", "openai.assistants.runs.active")]
runs = [span.name for span in exporter.get_finished_spans() if span.name.startswith("invoke_agent")]
print(json.dumps({"who": "child" if child == 0 else "parent", "runs": runs, "points": points}), flush=True)
if child == 0:
    os._exit(0)
os.waitpid(child, 0)
"""


def test_a_forked_child_leaves_the_parents_runs_to_the_parent(emulator: Any, tmp_path: Path) -> None:
    done = run_script(tmp_path / "forking.py", FORKING, emulator.base_url)
    assert done.returncode == 0, done.stderr
    told = {entry["who"]: entry for entry in map(json.loads, done.stdout.splitlines())}
    assert told["parent"]["runs"] == ["invoke_agent forker"]
    assert sorted(told["parent"]["points"]) == [["openai.assistants.runs", 1], ["openai.assistants.runs.active", 0]]
    assert told["child"]["runs"] == []
    assert [value for _, value in told["child"]["points"]] in ([], [0])
