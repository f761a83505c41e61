"""`otel-assistants demo`, the README's main command, run as a user runs it: printing its telemetry, and
exporting it over OTLP/HTTP to a collector (here a real receiver on loopback)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from .otlp_receiver import Collector, attributes

RUN = "invoke_agent weather-assistant"
TOOL = "execute_tool get_weather"
OUTCOMES = {"completed run": "completed", "tool-calling run": "completed", "failed run": "failed",
            "expired run": "expired", "cancelled run": "cancelled", "streamed run": "completed"}
# run status -> (error.type, runs ending so) of the workload
RUN_ENDS = {"completed": (None, 3), "failed": ("server_error", 1), "expired": ("expired", 1), "cancelled": (None, 1)}


def demo(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The installed console script, as the README runs it, with no OTEL_* setting but ``env``'s."""
    command = shutil.which("otel-assistants", path=str(Path(sys.executable).parent))
    assert command is not None, "the otel-assistants console script is not installed next to the interpreter"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run([command, "demo"], capture_output=True, text=True, env={**clean, **env}, timeout=180,
                          check=False)


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
    head, separator, metrics = stdout.partition("\n\nmetric totals:\n")
    assert separator, stdout
    outcomes, separator, traces = head.partition("\n\n")
    assert separator, stdout
    return outcomes, traces, metrics


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
    assert printed_total(points, "gen_ai.client.operation.duration", {"gen_ai.operation.name": "invoke_agent"}) == 6
    assert printed_total(points, "gen_ai.client.token.usage", {"gen_ai.token.type": "input"}) == 3
    assert printed_total(points, "gen_ai.client.operation.time_to_first_chunk",
                         {"gen_ai.operation.name": "invoke_agent"}) == 1
    assert ("openai.assistants.runs.active", {"gen_ai.provider.name": "openai"}, "0") in points


@pytest.fixture(scope="module")
def printed() -> subprocess.CompletedProcess[str]:
    return demo({})


def test_demo_prints_every_run_outcome(printed: subprocess.CompletedProcess[str]) -> None:
    assert printed.returncode == 0, printed.stderr
    assert "Traceback" not in printed.stderr
    outcomes, _, _ = split_output(printed.stdout)
    assert_outcomes(outcomes)


def test_demo_prints_the_trace_trees(printed: subprocess.CompletedProcess[str]) -> None:
    _, traces, _ = split_output(printed.stdout)
    trees = parse_trees(traces)
    assert sorted(trees) == sorted(["create_agent weather-assistant", *(f"demo: {title}" for title in OUTCOMES)])
    for title in OUTCOMES:
        assert trees[f"demo: {title}"].names() == ["create_thread", RUN]
    runs = {title: trees[f"demo: {title}"].child(RUN) for title in OUTCOMES}
    for title, status in OUTCOMES.items():
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


def test_demo_prints_the_metric_totals(printed: subprocess.CompletedProcess[str]) -> None:
    _, _, metrics = split_output(printed.stdout)
    assert_metric_totals(parse_metrics(metrics))


# ---- exporting to a collector ---------------------------------------------------------------


@pytest.fixture
def collector(request: pytest.FixtureRequest) -> Iterator[Collector]:
    receiver = Collector(getattr(request, "param", 200))
    try:
        yield receiver
    finally:
        receiver.close()


def test_demo_exports_to_the_otlp_endpoint(collector: Collector) -> None:
    result = demo({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint})
    assert result.returncode == 0, result.stderr
    outcomes, exported, metrics = split_output(result.stdout)
    assert_outcomes(outcomes)

    spans = collector.spans()
    trace_ids = sorted({span.trace_id.hex() for span in spans})
    lines = exported.splitlines()
    assert lines[0] == f"Exported {len(spans)} spans in {len(trace_ids)} traces and the metrics to {collector.endpoint}"
    assert lines[1:] == [f"  trace {trace_id}" for trace_id in trace_ids], "the trees are in the collector instead"
    assert collector.content_types == {"application/x-protobuf"}
    assert collector.service_names() == {"otel-assistants-demo"}

    names = Counter(span.name for span in spans)
    assert names[RUN] == 6 and names[TOOL] == 3
    assert names["create_agent weather-assistant"] == names["submit_tool_outputs"] == names["cancel_run"] == 1
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

    points = collector.last_points("openai.assistants.runs")
    received: Counter[tuple[str, str | None]] = Counter()
    for point in points:
        labels = attributes(point.attributes)
        received[labels["openai.assistants.run.status"], labels.get("error.type")] += point.as_int
    assert received == {(status, error): count for status, (error, count) in RUN_ENDS.items()}
    assert sum(p.count for p in collector.last_points("openai.assistants.tool_call.duration")) == 3
    # the terminal still totals the metrics it exported
    assert_metric_totals(parse_metrics(metrics))


@pytest.mark.parametrize("collector", [400], indirect=True)
def test_demo_says_when_the_collector_refuses_the_export(collector: Collector) -> None:
    result = demo({"OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint})
    assert collector.traces and collector.metrics, "the demo did send to the collector"
    assert result.returncode == 1
    _, exported, _ = split_output(result.stdout)
    first = exported.splitlines()[0]
    assert re.fullmatch(rf"Could not export to {re.escape(collector.endpoint)}: (\d+) of \1 spans and the metrics "
                        r"did not reach the collector \(see the errors above\)", first), first
    assert "Exported" not in result.stdout
