"""`otel-assistants demo`, the README's main command, run as a user runs it: printing its telemetry, and
exporting it under OpenTelemetry's standard environment configuration to a collector (here real OTLP/HTTP
and OTLP/gRPC receivers on loopback), with its verdict on what arrived."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from .dashboards.support import missing
from .demo_support import (
    BATCH,
    ELSEWHERE,
    FILES,
    OUTCOMES,
    REFUSED,
    ROOT_CHILDREN,
    RUN,
    RUN_ENDS,
    RUN_STATUSES,
    TOOL,
    demo,
    free_port,
)
from .otlp_receiver import Collector, Received, attributes
from .support.processes import clean_environment

# ---- what the terminal shows ----------------------------------------------------------------

TREE_LINE = re.compile(r"(?P<indent>(?:  )+)(?P<name>\S.*?)  \[\d+\.\d ms\](?P<error> ERROR)?(?:  (?P<details>.+))?")
METRIC_LINE = re.compile(r"  (?P<name>[a-z_.]+)\{(?P<labels>[^}]*)\} (?P<value>.+)")


@dataclass
class Node:
    """One line of a printed trace tree."""

    name: str
    error: bool
    details: dict[str, str]
    children: list[Node] = field(default_factory=list)

    def child(self, name: str) -> Node:
        found = [c for c in self.children if c.name == name]
        assert len(found) == 1, (name, self.children)
        return found[0]

    def names(self) -> list[str]:
        return sorted(c.name for c in self.children)


def parse_trees(section: str) -> dict[str, Node]:
    """The printed trees, by root span name."""
    roots: dict[str, Node] = {}
    stack: list[Node] = []
    for line in section.splitlines():
        if line.startswith("trace "):
            assert re.fullmatch(r"trace [0-9a-f]{32}", line), line
            stack = []
            continue
        match = TREE_LINE.fullmatch(line)
        assert match, line
        depth = len(match["indent"]) // 2
        details = dict(item.split("=", 1) for item in (match["details"] or "").split())
        node = Node(match["name"], match["error"] is not None, details)
        if depth == 1:
            assert node.name not in roots, node.name
            roots[node.name] = node
        else:
            stack[depth - 2].children.append(node)
        del stack[depth - 1:]
        stack.append(node)
    return roots


def parse_metrics(section: str) -> list[tuple[str, dict[str, str], str]]:
    """(name, attributes, value) of each printed point."""
    points = []
    for line in section.splitlines():
        match = METRIC_LINE.fullmatch(line)
        assert match, line
        labels = dict(item.split("=", 1) for item in match["labels"].split(", ")) if match["labels"] else {}
        points.append((match["name"], labels, match["value"]))
    return points


def printed_total(points: list[tuple[str, dict[str, str], str]], name: str, match: dict[str, str]) -> int:
    """A counter's value or a histogram's count, over the points whose attributes include ``match``."""
    total = 0
    for point_name, labels, value in points:
        if point_name == name and match.items() <= labels.items():
            total += int(value.split()[0].removeprefix("count="))
    return total


def split_output(stdout: str) -> tuple[str, str, str]:
    """(the run outcomes, what is shown of the traces, the metric totals)."""
    head, separator, rest = stdout.partition("\n\nmetric totals:\n")
    assert separator, stdout
    outcomes, separator, traces = head.partition("\n\n")
    assert separator, stdout
    metrics, _, _ = rest.partition("\n\n")
    return outcomes, traces, metrics


def verdict_lines(stdout: str) -> list[str]:
    """What the demo says last about its exports: nothing when it exported nothing."""
    _, _, rest = stdout.partition("\n\nmetric totals:\n")
    _, _, verdict = rest.partition("\n\n")
    return verdict.splitlines()


def assert_outcomes(outcomes: str) -> None:
    lines = outcomes.splitlines()
    assert re.fullmatch(r"Assistants API emulator on http://127\.0\.0\.1:\d+/v1", lines[0]), lines[0]
    assert [re.split(r"\s+->\s+", line.strip()) for line in lines[1:]] == [[k, v] for k, v in OUTCOMES.items()]


def assert_metric_totals(points: list[tuple[str, dict[str, str], str]]) -> None:
    for status, (error, count) in RUN_ENDS.items():
        match = {"openai.assistants.run.status": status, "gen_ai.agent.name": "weather-assistant",
                 "gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o"}
        runs = [labels for name, labels, _ in points
                if name == "openai.assistants.runs" and labels.get("openai.assistants.run.status") == status]
        assert runs == [{**match, **({"error.type": error} if error else {})}]
        assert printed_total(points, "openai.assistants.runs", match) == count
        assert printed_total(points, "openai.assistants.run.duration", match) == count
    tools = {"gen_ai.tool.name": "get_weather", "gen_ai.tool.type": "function"}
    assert printed_total(points, "openai.assistants.tool_call.duration", tools) == 3
    assert printed_total(points, "openai.assistants.tool_call.duration",
                         {**tools, "error.type": "tool_output_not_submitted"}) == 1
    assert printed_total(points, "gen_ai.client.operation.duration", {"gen_ai.operation.name": "invoke_agent"}) == 8
    assert printed_total(points, "gen_ai.client.token.usage", {"gen_ai.token.type": "input"}) == 4
    assert printed_total(points, "gen_ai.client.operation.time_to_first_chunk",
                         {"gen_ai.operation.name": "invoke_agent"}) == 1
    assert ("openai.assistants.runs.active", {"gen_ai.provider.name": "openai"}, "0") in points
    # the file batch: its files by how they ended, and the one job, completed with a file failed
    openai_ = {"gen_ai.provider.name": "openai"}
    files = [(labels, value) for name, labels, value in points if name == "openai.assistants.ingestion.files"]
    assert sorted(files, key=lambda point: point[1]) == sorted(
        [({**openai_, "openai.assistants.ingestion.status": status, **({"error.type": error} if error else {})},
          str(count)) for status, (error, count) in FILES.items()], key=lambda point: point[1])
    jobs = [(labels, value.split()[0]) for name, labels, value in points
            if name == "openai.assistants.ingestion.duration"]
    assert jobs == [({**openai_, "openai.assistants.ingestion.status": "completed", "error.type": "files_failed"},
                     "count=1")]
    assert printed_total(points, "gen_ai.client.operation.duration",
                         {"gen_ai.operation.name": "ingest_file_batch", "error.type": "files_failed"}) == 1
    assert printed_total(points, "gen_ai.client.operation.duration", {"gen_ai.operation.name": "upload_file"}) == 3
    # the message refused on a thread with an active run: an operation that failed, once
    assert printed_total(points, "gen_ai.client.operation.duration", {"gen_ai.operation.name": "create_message"}) == 1
    assert printed_total(points, "gen_ai.client.operation.duration",
                         {"gen_ai.operation.name": "create_message", "error.type": "openai.BadRequestError",
                          "openai.assistants.error.reason": "thread_has_active_run"}) == 1


@pytest.fixture(scope="module")
def printed() -> subprocess.CompletedProcess[str]:
    return demo({})


def test_demo_prints_every_run_outcome(printed: subprocess.CompletedProcess[str]) -> None:
    assert printed.returncode == 0, printed.stderr
    assert printed.stderr == ""
    outcomes, _, _ = split_output(printed.stdout)
    assert_outcomes(outcomes)
    assert verdict_lines(printed.stdout) == [], "nothing was exported, so there is nothing to report on"


def assert_trees_of_every_scenario(traces: str) -> None:
    trees = parse_trees(traces)
    assert sorted(trees) == sorted(["create_agent weather-assistant", *(f"demo: {title}" for title in OUTCOMES)])
    for title in OUTCOMES:
        assert trees[f"demo: {title}"].names() == sorted(ROOT_CHILDREN[title]), title


def test_demo_prints_the_trace_trees(printed: subprocess.CompletedProcess[str]) -> None:
    _, traces, _ = split_output(printed.stdout)
    assert_trees_of_every_scenario(traces)
    trees = parse_trees(traces)
    runs = {title: trees[f"demo: {title}"].child(RUN) for title in RUN_STATUSES}
    for title, status in RUN_STATUSES.items():
        assert runs[title].details["status"] == status, title
        assert runs[title].error is (status in ("failed", "expired")), title

    completed = runs["completed run"]
    assert completed.details.pop("polls").isdigit()
    assert completed.details == {"status": "completed", "in": "100", "out": "20"}
    assert completed.names() == ["run_step message_creation"]

    tools = runs["tool-calling run"]
    assert tools.names() == [TOOL, TOOL, "run_step message_creation", "run_step tool_calls", "submit_tool_outputs"]
    assert all(not c.error and c.details == {} for c in tools.children if c.name == TOOL)

    failed = runs["failed run"]
    assert failed.details["error"] == "server_error"
    assert failed.child("run_step message_creation").details == {"status": "failed", "error": "server_error"}

    expired = runs["expired run"]
    assert expired.details["error"] == "expired"
    assert expired.names() == [TOOL, "run_step tool_calls"]
    assert expired.child(TOOL).error and expired.child(TOOL).details == {"error": "tool_output_not_submitted"}

    cancelled = runs["cancelled run"]
    assert "error" not in cancelled.details
    assert cancelled.names() == ["cancel_run"]

    streamed = runs["streamed run"]
    assert streamed.details["stream"] == "True" and streamed.details["polls"] == "0"
    assert "stream" not in completed.details

    # Created here, finished by the worker process: one run span (ended by this process's look-up,
    # with the run's truth), the worker's await_run span beneath it, in one trace.
    elsewhere = runs[ELSEWHERE]
    assert elsewhere.details == {"status": "completed", "in": "100", "out": "20", "polls": "0"}
    assert elsewhere.names() == ["await_run"]
    waited = elsewhere.child("await_run")
    assert not waited.error and waited.details.pop("polls").isdigit()
    assert waited.details == {"status": "completed", "in": "100", "out": "20"}
    assert waited.names() == [TOOL, "submit_tool_outputs"]

    # The file batch: one job span with its files' outcomes, beside the requests that made it.
    batch = trees[f"demo: {BATCH}"]
    job = batch.child("ingest_file_batch")
    assert job.error and job.names() == []
    assert job.details == {"status": "completed", "error": "files_failed", "files.completed": "2",
                           "files.failed": "1", "files.total": "3", "polls": "2"}
    assert all(not c.error and c.details == {} and c.names() == [] for c in batch.children if c is not job)

    # The refused message: a failed create_message beside the run, which the app then cancelled.
    refused = trees[f"demo: {REFUSED}"]
    message = refused.child("create_message")
    assert message.error and message.names() == []
    assert (message.details["error"], message.details["http"], message.details["reason"]) == (
        "openai.BadRequestError", "400", "thread_has_active_run")
    assert "error" not in runs[REFUSED].details
    assert runs[REFUSED].names() == ["cancel_run"]


def test_demo_prints_the_metric_totals(printed: subprocess.CompletedProcess[str]) -> None:
    _, _, metrics = split_output(printed.stdout)
    assert_metric_totals(parse_metrics(metrics))


# ---- exporting to a collector ---------------------------------------------------------------

@pytest.fixture
def collector(request: pytest.FixtureRequest) -> Iterator[Collector]:
    param = getattr(request, "param", 200)
    receiver = Collector(statuses=param) if isinstance(param, dict) else Collector(param)
    try:
        yield receiver
    finally:
        receiver.close()


def assert_workload_spans(spans: list[Span]) -> None:
    """Every span of the workload arrived, with the contract's names, kinds, outcomes and statuses."""
    names = Counter(span.name for span in spans)
    assert names[RUN] == 8 and names[TOOL] == 4 and names["await_run"] == 1
    assert names["create_agent weather-assistant"] == 1 and names["cancel_run"] == 2
    assert names["submit_tool_outputs"] == 2
    assert names["ingest_file_batch"] == names["create_vector_store"] == names["create_message"] == 1
    assert names["upload_file"] == 3 and names["ingest_file"] == 0
    assert {f"demo: {title}" for title in OUTCOMES} <= set(names)
    runs = [(span, attributes(span.attributes)) for span in spans if span.name == RUN]
    assert all(span.kind == Span.SPAN_KIND_CLIENT for span, _ in runs)
    assert Counter((a["openai.assistants.run.status"], a.get("error.type")) for _, a in runs) == {
        (status, error): count for status, (error, count) in RUN_ENDS.items()}
    for span, run_attributes in runs:
        failing = "error.type" in run_attributes
        assert span.status.code == (Status.STATUS_CODE_ERROR if failing else Status.STATUS_CODE_UNSET)
        assert run_attributes["gen_ai.agent.name"] == "weather-assistant"
    assert sum(run_attributes.get("gen_ai.request.stream") is True for _, run_attributes in runs) == 1
    unsubmitted = [s for s in spans if s.name == TOOL and attributes(s.attributes).get("error.type")]
    assert [attributes(s.attributes)["error.type"] for s in unsubmitted] == ["tool_output_not_submitted"]

    roots = {span.span_id: span.name for span in spans if not span.parent_span_id}
    [job] = [span for span in spans if span.name == "ingest_file_batch"]
    job_attributes = attributes(job.attributes)
    assert job.kind == Span.SPAN_KIND_CLIENT and job.status.code == Status.STATUS_CODE_ERROR
    assert {key: job_attributes[key] for key in (
        "gen_ai.operation.name", "error.type", "openai.assistants.ingestion.status",
        "openai.assistants.ingestion.poll_count", "openai.assistants.ingestion.files.completed",
        "openai.assistants.ingestion.files.failed", "openai.assistants.ingestion.files.total")} == {
        "gen_ai.operation.name": "ingest_file_batch", "error.type": "files_failed",
        "openai.assistants.ingestion.status": "completed", "openai.assistants.ingestion.poll_count": 2,
        "openai.assistants.ingestion.files.completed": 2, "openai.assistants.ingestion.files.failed": 1,
        "openai.assistants.ingestion.files.total": 3}
    assert job_attributes["openai.assistants.file_batch.id"].startswith("vsfb_")
    # the job and the requests that made it, all in the scenario's trace
    for span in spans:
        if span.name in ("ingest_file_batch", "upload_file", "create_vector_store"):
            assert roots.get(span.parent_span_id) == f"demo: {BATCH}", span.name
    [message] = [span for span in spans if span.name == "create_message"]
    message_attributes = attributes(message.attributes)
    assert message.status.code == Status.STATUS_CODE_ERROR and roots.get(message.parent_span_id) == f"demo: {REFUSED}"
    assert (message_attributes["error.type"], message_attributes["http.response.status_code"],
            message_attributes["openai.assistants.error.reason"]) == ("openai.BadRequestError", 400,
                                                                      "thread_has_active_run")


def assert_workload_metrics(received: Received) -> None:
    points = received.last_points("openai.assistants.runs")
    runs: Counter[tuple[str, str | None]] = Counter()
    for point in points:
        labels = attributes(point.attributes)
        runs[labels["openai.assistants.run.status"], labels.get("error.type")] += point.as_int
    assert runs == {(status, error): count for status, (error, count) in RUN_ENDS.items()}
    assert sum(p.count for p in received.last_points("openai.assistants.tool_call.duration")) == 3
    files: Counter[tuple[str, str | None]] = Counter()
    for point in received.last_points("openai.assistants.ingestion.files"):
        labels = attributes(point.attributes)
        files[labels["openai.assistants.ingestion.status"], labels.get("error.type")] += point.as_int
    assert files == {(status, error): count for status, (error, count) in FILES.items()}
    jobs = received.last_points("openai.assistants.ingestion.duration")
    assert [(attributes(p.attributes).get("error.type"), p.count) for p in jobs] == [("files_failed", 1)]


def assert_trace_ids_listed(traces: str, received: Received, destination: str) -> None:
    spans = received.spans()
    trace_ids = sorted({span.trace_id.hex() for span in spans})
    lines = traces.splitlines()
    assert lines[0] == f"{len(spans)} spans in {len(trace_ids)} traces sent to {destination}:"
    assert lines[1:] == [f"  trace {trace_id}" for trace_id in trace_ids], "the trees are in the collector instead"


def test_demo_exports_to_the_otlp_endpoint(collector: Collector) -> None:
    result = demo({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint})
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "nothing but the demo's own output"
    outcomes, exported, metrics = split_output(result.stdout)
    assert_outcomes(outcomes)
    assert_trace_ids_listed(exported, collector, f"{collector.endpoint}/v1/traces")
    assert collector.content_types == {"application/x-protobuf"}
    assert collector.service_names() == {"otel-assistants-demo"}
    assert_workload_spans(collector.spans())
    # once per process, when it ends: the demo's, and its worker's
    assert len(collector.metrics) == 2, "the metrics are exported once per process, when it ends"
    assert_workload_metrics(collector)
    # the terminal still totals the metrics it exported
    assert_metric_totals(parse_metrics(metrics))
    assert verdict_lines(result.stdout) == [
        f"traces: {len(collector.spans())} spans arrived at {collector.endpoint}/v1/traces (OTLP/HTTP)",
        f"metrics: arrived at {collector.endpoint}/v1/metrics (OTLP/HTTP)",
    ]


@pytest.mark.parametrize("collector", [400], indirect=True)
def test_demo_says_when_the_collector_refuses_the_export(collector: Collector) -> None:
    result = demo({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint})
    assert result.returncode == 1
    assert result.stderr == ""
    _, traces, _ = split_output(result.stdout)
    assert_trees_of_every_scenario(traces)  # what arrived nowhere is shown in the terminal
    url = collector.endpoint
    assert verdict_lines(result.stdout) == [
        f"traces: refused by {url}/v1/traces (OTLP/HTTP): HTTP 400",
        f"metrics: refused by {url}/v1/metrics (OTLP/HTTP): HTTP 400",
        f"{url}/v1/traces rejected the traces (HTTP 400): check that it is an OTLP/HTTP receiver of them.",
        f"{url}/v1/metrics rejected the metrics (HTTP 400): check that it is an OTLP/HTTP receiver of them.",
    ]


@pytest.mark.parametrize("collector", [{"/v1/metrics": 405}], indirect=True)
def test_demo_succeeds_against_a_traces_only_backend(collector: Collector) -> None:
    """Jaeger, Tempo and Phoenix take traces and refuse metrics: the traces arriving is the success."""
    result = demo({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint})
    assert result.returncode == 0, result.stdout
    assert result.stderr == ""
    assert_workload_spans(collector.spans())
    url = collector.endpoint
    assert verdict_lines(result.stdout) == [
        f"traces: {len(collector.spans())} spans arrived at {url}/v1/traces (OTLP/HTTP)",
        f"metrics: refused by {url}/v1/metrics (OTLP/HTTP): HTTP 405",
        f"{url}/v1/metrics does not take metrics (HTTP 405), as a traces-only backend does: set "
        "OTEL_METRICS_EXPORTER=none, or send metrics to an OpenTelemetry Collector or Prometheus with "
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT.",
    ]


def test_demo_exports_the_signal_given_its_own_endpoint(collector: Collector) -> None:
    result = demo({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"{collector.endpoint}/v1/traces"})
    assert result.returncode == 0, result.stdout
    assert_workload_spans(collector.spans())
    assert collector.metrics == [], "no endpoint for metrics: they stay in the terminal"
    assert verdict_lines(result.stdout) == [
        f"traces: {len(collector.spans())} spans arrived at {collector.endpoint}/v1/traces (OTLP/HTTP)"]


def test_demo_exports_nothing_when_the_exporters_are_none(collector: Collector) -> None:
    result = demo({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint, "OTEL_TRACES_EXPORTER": "none",
                   "OTEL_METRICS_EXPORTER": "none"})
    assert result.returncode == 0, result.stderr
    assert collector.traces == [] and collector.metrics == []
    outcomes, traces, metrics = split_output(result.stdout)
    assert_outcomes(outcomes)
    assert_trees_of_every_scenario(traces)
    assert_metric_totals(parse_metrics(metrics))
    assert verdict_lines(result.stdout) == []


def timed_demo(env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = demo(env, timeout=60)
    return result, time.monotonic() - started


def test_demo_says_when_nothing_listens() -> None:
    port = free_port()
    # Beside the same demo with nothing to export, so that a slow or busy machine moves both: an
    # exporter retrying against the closed port would add ten seconds or more per signal.
    _, exporting_nothing = timed_demo({"OTEL_TRACES_EXPORTER": "none", "OTEL_METRICS_EXPORTER": "none"})
    result, elapsed = timed_demo({"OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}"})
    assert result.returncode == 1
    assert elapsed - exporting_nothing < 5, (
        f"the demo took {elapsed:.1f} s to say that nothing listens, {exporting_nothing:.1f} s exporting nothing")
    assert result.stderr == ""
    _, traces, _ = split_output(result.stdout)
    assert_trees_of_every_scenario(traces)  # what arrived nowhere is shown in the terminal
    assert verdict_lines(result.stdout) == [
        f"traces: not sent to http://127.0.0.1:{port}/v1/traces (OTLP/HTTP)",
        f"metrics: not sent to http://127.0.0.1:{port}/v1/metrics (OTLP/HTTP)",
        f"Nothing is listening on 127.0.0.1:{port}: start your collector or backend there, or set "
        "OTEL_EXPORTER_OTLP_ENDPOINT to where it listens (OTLP/HTTP usually listens on port 4318, OTLP/gRPC on "
        "4317).",
    ]


def test_demo_explains_a_signal_path_in_the_common_endpoint(collector: Collector) -> None:
    result = demo({"OTEL_EXPORTER_OTLP_ENDPOINT": f"{collector.endpoint}/v1/traces"})
    assert result.returncode == 1
    url = collector.endpoint
    assert verdict_lines(result.stdout) == [
        f"traces: refused by {url}/v1/traces/v1/traces (OTLP/HTTP): HTTP 404",
        f"metrics: refused by {url}/v1/traces/v1/metrics (OTLP/HTTP): HTTP 404",
        "OTEL_EXPORTER_OTLP_ENDPOINT ends in /v1/traces, but the exporter appends /v1/traces and /v1/metrics "
        f"itself: set OTEL_EXPORTER_OTLP_ENDPOINT={url}, or put the full URL in OTEL_EXPORTER_OTLP_TRACES_ENDPOINT.",
    ]


class GrpcCollector(Received):
    """An OTLP/gRPC receiver on loopback, served by grpcio with the OTLP service stubs of opentelemetry-proto."""

    def __init__(self) -> None:
        super().__init__()
        try:
            import grpc
            from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc
            from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
        except ImportError:
            missing("grpcio is missing (pip install -e '.[test]' brings it with the OTLP/gRPC exporter)")
            raise
        received = self

        class Traces(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: ExportTraceServiceRequest, context: Any) -> ExportTraceServiceResponse:
                received.traces.append(request)
                return ExportTraceServiceResponse()

        class Metrics(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request: ExportMetricsServiceRequest, context: Any) -> ExportMetricsServiceResponse:
                received.metrics.append(request)
                return ExportMetricsServiceResponse()

        self.server = grpc.server(ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Traces(), self.server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(Metrics(), self.server)
        port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        self.endpoint = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        self.server.stop(grace=None).wait(5)


def test_demo_exports_over_grpc_when_the_protocol_says_so() -> None:
    receiver = GrpcCollector()
    try:
        result = demo({"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    finally:
        receiver.close()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""
    _, exported, _ = split_output(result.stdout)
    assert_trace_ids_listed(exported, receiver, receiver.endpoint)
    assert_workload_spans(receiver.spans())
    assert len(receiver.metrics) == 2  # the demo's and its worker's, once each
    assert_workload_metrics(receiver)
    assert verdict_lines(result.stdout) == [
        f"traces: {len(receiver.spans())} spans arrived at {receiver.endpoint} (OTLP/gRPC)",
        f"metrics: arrived at {receiver.endpoint} (OTLP/gRPC)",
    ]


# ---- what cannot run says so in one line ----------------------------------------------------

def demo_without(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The demo command in a process where ``module`` cannot be imported, as if it were not installed."""
    script = (f"import sys; sys.modules[{module!r}] = None; from otel_assistants.cli import main; "
              "sys.exit(main(['demo']))")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=clean_environment(env), timeout=60, check=False)


@pytest.mark.parametrize("module", ["openai", "opentelemetry.sdk"])
def test_demo_without_the_demo_extra_says_what_to_install(module: str) -> None:
    result = demo_without(module, {})
    assert result.returncode == 2
    assert result.stdout == ""
    assert re.fullmatch(rf"otel-assistants demo needs the demo extra \(cannot import {re.escape(module)}[\w.]*\): "
                        r"pip install 'otel-assistants\[demo\]'\n", result.stderr), result.stderr


def test_demo_says_which_package_grpc_needs() -> None:
    result = demo_without("opentelemetry.exporter.otlp.proto.grpc",
                          {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"})
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == ("otel-assistants demo: OTLP over grpc needs an exporter that is not installed: "
                             "pip install opentelemetry-exporter-otlp-proto-grpc\n")


@pytest.mark.parametrize(("env", "message"), [
    ({"OTEL_TRACES_EXPORTER": "zipkin"},
     "Requested component 'zipkin' not found in entry point 'opentelemetry_traces_exporter'"),
    ({"OTEL_METRICS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
     "Unsupported OTLP protocol 'http/json' is configured"),
])
def test_demo_refuses_settings_the_sdk_cannot_use(env: dict[str, str], message: str) -> None:
    result = demo(env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"otel-assistants demo: the OpenTelemetry exporter settings cannot be used: {message}\n"
