"""The demo and an instrumented app export to a real trace backend, Arize Phoenix, under OpenTelemetry's
standard environment configuration; the traces are read back through Phoenix's REST API and checked span
by span: every tree (parent and child), name, attribute, status and Phoenix's span kind, for every run
outcome of the workload.

Phoenix keeps no OpenTelemetry span kind (it derives its own kind from the GenAI attributes: AGENT,
TOOL, ...); the CLIENT kind of the run spans is checked on the raw OTLP in tests/test_demo.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..demo_support import BATCH, ELSEWHERE, OUTCOMES, REFUSED, ROOT_CHILDREN, RUN, RUN_STATUSES, TOOL, demo
from ..support.processes import clean_environment
from .phoenix import Phoenix, phoenix_command

APP = Path(__file__).with_name("assistants_app.py")
Shape = tuple[str, tuple[Any, ...]]


def shape(name: str, *children: Shape) -> Shape:
    return name, tuple(sorted(children))


MESSAGE_STEP, TOOL_STEP, TOOL_CALL = shape("run_step message_creation"), shape("run_step tool_calls"), shape(TOOL)
# what each scenario's run span has beneath it
RUN_CHILDREN: dict[str, tuple[Shape, ...]] = {
    "completed run": (MESSAGE_STEP,),
    "tool-calling run": (TOOL_CALL, TOOL_CALL, MESSAGE_STEP, TOOL_STEP, shape("submit_tool_outputs")),
    "failed run": (MESSAGE_STEP,),
    "expired run": (TOOL_CALL, TOOL_STEP),
    "cancelled run": (shape("cancel_run"),),
    "streamed run": (MESSAGE_STEP,),
    # the worker process's await_run span, in the run's trace (the demo propagates the run's context)
    ELSEWHERE: (shape("await_run", TOOL_CALL, shape("submit_tool_outputs")),),
    REFUSED: (shape("cancel_run"),),
}
# An app instrumented by configuration alone runs the scenarios of one process.
APP_OUTCOMES = {title: status for title, status in OUTCOMES.items() if title != ELSEWHERE}
ERRORS = {"failed run": "server_error", "expired run": "expired"}


def expected_traces(prefix: str, outcomes: dict[str, str] = OUTCOMES) -> list[Shape]:
    """The workload's traces: the assistant's creation, and one trace per scenario under its own root span."""
    scenarios = [shape(f"{prefix}: {title}",
                       *(shape(name, *RUN_CHILDREN[title]) if name == RUN else shape(name)
                         for name in ROOT_CHILDREN[title]))
                 for title in outcomes]
    return sorted([shape("create_agent weather-assistant"), *scenarios])


def size(tree: Shape) -> int:
    return 1 + sum(size(child) for child in tree[1])


def traces_of(spans: list[dict[str, Any]]) -> list[Shape]:
    """The spans as trees, by their context and parent ids (a span whose parent is absent is a root)."""
    ids = {span["context"]["span_id"] for span in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent_id"] if span["parent_id"] in ids else None
        children.setdefault(parent, []).append(span)

    def build(span: dict[str, Any]) -> Shape:
        own = children.get(span["context"]["span_id"], [])
        assert all(child["context"]["trace_id"] == span["context"]["trace_id"] for child in own)
        return shape(span["name"], *(build(child) for child in own))

    return sorted(build(root) for root in children.get(None, []))


def runs_by_scenario(spans: list[dict[str, Any]], prefix: str) -> dict[str, dict[str, Any]]:
    """Scenario title -> its run span."""
    roots = {span["context"]["span_id"]: span["name"].removeprefix(f"{prefix}: ") for span in spans
             if span["parent_id"] is None}
    return {roots[span["parent_id"]]: span for span in spans if span["name"] == RUN}


def children_of(spans: list[dict[str, Any]], parent: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return [s for s in spans if s["parent_id"] == parent["context"]["span_id"] and s["name"] == name]


def assert_workload(spans: list[dict[str, Any]], prefix: str, outcomes: dict[str, str] = OUTCOMES) -> None:
    """The whole workload arrived as the contract describes it, every run outcome with its details."""
    assert traces_of(spans) == expected_traces(prefix, outcomes)
    runs = runs_by_scenario(spans, prefix)
    statuses = {title: status for title, status in RUN_STATUSES.items() if title in outcomes}
    assert sorted(runs) == sorted(statuses)
    for title, status in statuses.items():
        run, attributes = runs[title], runs[title]["attributes"]
        assert attributes["openai.assistants.run.status"] == status, title
        assert attributes["gen_ai.operation.name"] == "invoke_agent"
        assert attributes["gen_ai.agent.name"] == "weather-assistant"
        assert attributes["gen_ai.provider.name"] == "openai"
        assert attributes["gen_ai.response.model"] == "gpt-4o"
        assert attributes["openai.assistants.run.id"].startswith("run_")
        assert attributes.get("error.type") == ERRORS.get(title), title
        assert run["status_code"] == ("ERROR" if title in ERRORS else "UNSET"), title
        assert run["status_message"] == ERRORS.get(title, ""), title
        assert run["span_kind"] == "AGENT"  # Phoenix's kind for an invoke_agent span
        assert attributes.get("gen_ai.request.stream", False) is (title == "streamed run"), title
        changes = [e["attributes"]["openai.assistants.run.status"] for e in run["events"]
                   if e["name"] == "openai.assistants.run.status"]
        assert changes[0] == "queued" and changes[-1] == status, (title, changes)
    assert runs["completed run"]["attributes"]["gen_ai.usage.input_tokens"] == 100
    assert runs["completed run"]["attributes"]["gen_ai.usage.output_tokens"] == 20

    tools = children_of(spans, runs["tool-calling run"], TOOL) + children_of(spans, runs["expired run"], TOOL)
    assert all(t["span_kind"] == "TOOL" and t["attributes"]["gen_ai.tool.name"] == "get_weather" for t in tools)
    assert all(t["attributes"]["gen_ai.tool.call.id"].startswith("call_") for t in tools)
    assert [t["status_code"] for t in children_of(spans, runs["tool-calling run"], TOOL)] == ["UNSET", "UNSET"]
    [unsubmitted] = children_of(spans, runs["expired run"], TOOL)
    assert unsubmitted["status_code"] == "ERROR"
    assert unsubmitted["attributes"]["error.type"] == "tool_output_not_submitted"
    [failed_step] = children_of(spans, runs["failed run"], "run_step message_creation")
    assert failed_step["attributes"]["openai.assistants.run_step.status"] == "failed"
    assert failed_step["attributes"]["error.type"] == "server_error" and failed_step["status_code"] == "ERROR"
    [cancel] = children_of(spans, runs["cancelled run"], "cancel_run")
    assert cancel["status_code"] == "UNSET"
    [refused_cancel] = children_of(spans, runs[REFUSED], "cancel_run")
    assert refused_cancel["status_code"] == "UNSET"
    roots = {span["context"]["span_id"]: span for span in spans if span["parent_id"] is None}
    [message] = [span for span in spans if span["name"] == "create_message"]
    assert roots[message["parent_id"]]["name"] == f"{prefix}: {REFUSED}"
    assert message["status_code"] == "ERROR"
    assert message["attributes"]["error.type"] == "openai.BadRequestError"
    assert message["attributes"]["http.response.status_code"] == 400
    assert message["attributes"]["openai.assistants.error.reason"] == "thread_has_active_run"
    [job] = [span for span in spans if span["name"] == "ingest_file_batch"]
    assert roots[job["parent_id"]]["name"] == f"{prefix}: {BATCH}"
    assert job["status_code"] == "ERROR" and job["status_message"] == "files_failed"
    assert {key: job["attributes"][key] for key in (
        "error.type", "openai.assistants.ingestion.status", "openai.assistants.ingestion.poll_count",
        "openai.assistants.ingestion.files.completed", "openai.assistants.ingestion.files.failed",
        "openai.assistants.ingestion.files.total")} == {
        "error.type": "files_failed", "openai.assistants.ingestion.status": "completed",
        "openai.assistants.ingestion.poll_count": 2, "openai.assistants.ingestion.files.completed": 2,
        "openai.assistants.ingestion.files.failed": 1, "openai.assistants.ingestion.files.total": 3}
    if ELSEWHERE in outcomes:
        [waited] = children_of(spans, runs[ELSEWHERE], "await_run")
        assert waited["status_code"] == "UNSET"
        assert waited["attributes"]["gen_ai.operation.name"] == "await_run"
        run_id = runs[ELSEWHERE]["attributes"]["openai.assistants.run.id"]
        assert waited["attributes"]["openai.assistants.run.id"] == run_id
        assert waited["attributes"]["openai.assistants.run.status"] == "completed"


@pytest.fixture(scope="module")
def phoenix(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Phoenix]:
    server = Phoenix(phoenix_command(), tmp_path_factory.mktemp("phoenix"))
    try:
        yield server
    finally:
        server.stop()


def project_env(project: str, endpoint: str) -> dict[str, str]:
    """Standard OpenTelemetry settings sending to ``endpoint``, into a Phoenix project of the test's own."""
    return {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
            "OTEL_RESOURCE_ATTRIBUTES": f"openinference.project.name={project}"}


def listed_trace_ids(stdout: str) -> set[str]:
    return set(re.findall(r"^  trace ([0-9a-f]{32})$", stdout, flags=re.MULTILINE))


def test_the_demo_exports_every_span_to_phoenix(phoenix: Phoenix) -> None:
    result = demo(project_env("demo-http", phoenix.url))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    announced = re.search(r"^(\d+) spans in (\d+) traces sent to (\S+):$", result.stdout, flags=re.MULTILINE)
    assert announced is not None, result.stdout
    assert announced[3] == f"{phoenix.url}/v1/traces"
    spans = phoenix.wait_for_spans("demo-http", int(announced[1]))
    assert len(spans) == int(announced[1]) == sum(map(size, expected_traces("demo")))
    assert {span["context"]["trace_id"] for span in spans} == listed_trace_ids(result.stdout)
    assert_workload(spans, "demo")
    assert result.stdout.rstrip().splitlines()[-3:] == [
        f"traces: {len(spans)} spans arrived at {phoenix.url}/v1/traces (OTLP/HTTP)",
        f"metrics: refused by {phoenix.url}/v1/metrics (OTLP/HTTP): HTTP 405",
        f"{phoenix.url}/v1/metrics does not take metrics (HTTP 405), as a traces-only backend does: set "
        "OTEL_METRICS_EXPORTER=none, or send metrics to an OpenTelemetry Collector or Prometheus with "
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT.",
    ]


def test_the_demo_exports_to_phoenix_over_grpc(phoenix: Phoenix) -> None:
    endpoint = f"http://127.0.0.1:{phoenix.grpc_port}"
    result = demo({**project_env("demo-grpc", endpoint), "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                   "OTEL_METRICS_EXPORTER": "none"})
    assert result.returncode == 0, result.stdout + result.stderr
    expected = sum(map(size, expected_traces("demo")))
    spans = phoenix.wait_for_spans("demo-grpc", expected)
    assert len(spans) == expected
    assert_workload(spans, "demo")
    assert result.stdout.rstrip().splitlines()[-1] == f"traces: {expected} spans arrived at {endpoint} (OTLP/gRPC)"


def test_an_app_instrumented_by_configuration_exports_to_phoenix(phoenix: Phoenix) -> None:
    instrument = shutil.which("opentelemetry-instrument", path=str(Path(sys.executable).parent))
    assert instrument is not None, "opentelemetry-instrument (opentelemetry-distro, in the test extra) is missing"
    env = {**project_env("app-http", phoenix.url), "OTEL_SERVICE_NAME": "assistants-app",
           "OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
           "OTEL_METRICS_EXPORTER": "none", "OTEL_LOGS_EXPORTER": "none"}
    result = subprocess.run([instrument, sys.executable, str(APP)], capture_output=True, text=True,
                            env=clean_environment(env), timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"{title} -> {status}" for title, status in APP_OUTCOMES.items()]
    expected = sum(map(size, expected_traces("app", APP_OUTCOMES)))
    spans = phoenix.wait_for_spans("app-http", expected)
    assert len(spans) == expected
    assert_workload(spans, "app", APP_OUTCOMES)
