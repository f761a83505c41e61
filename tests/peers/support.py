"""Running ``peer_app`` under ``opentelemetry-instrument`` and telling which instrumentation traced which request."""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from otel_assistants.emulator import Emulator

from ..dashboards.support import missing
from ..otlp_receiver import Collector, attributes
from ..support.processes import clean_environment

REPO = Path(__file__).resolve().parents[2]
OURS = "otel_assistants"
OFFICIAL = "opentelemetry.instrumentation.genai.openai"
OPENINFERENCE = "openinference.instrumentation.openai"
OFFICIAL_DIST = "opentelemetry-instrumentation-genai-openai"
OPENINFERENCE_DIST = "openinference-instrumentation-openai"
RESPONSE_MODEL = "gpt-4.1-mini"

# What the app saw (peer_app prints it): the same with any instrumentation, or none.
EXPECTED_RESULT = {
    "polled": "completed",
    "failed": "failed",
    "stream_helper": "completed",
    "stream_events": "thread.run.completed",
    "messages": 5,
    "response": ["completed", "Hello from the emulator.", 48],
    "response_stream": ["response.created", "response.completed", 11],
    "response_helper": "Hello from the emulator.",
    "response_failed": "failed",
    "response_http_error": 500,
    "async_run": "completed",
    "async_stream_events": "thread.run.completed",
    "async_response": "completed",
    "async_response_stream": "response.completed",
}
# The app's runs by final status (sync: polled, failed, stream helper, stream=True; async: polled, stream=True).
RUN_STATUSES = {"completed": 5, "failed": 1}

_RUN_POLL = re.compile(r"GET /threads/[^/]+/runs/[^/]+")
_STEP_FETCH = re.compile(r"GET /threads/[^/]+/runs/[^/]+/steps")


def require_distribution(name: str) -> None:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        missing(f"{name} is not installed (pip install -e '.[test,dashboards]'; "
                "OpenInference: '.[test,dashboards,openinference]')")


def installed(name: str) -> bool:
    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def run_app(
    emulator: Emulator, collector: Collector, *, disabled: str = "", instrument: str = ""
) -> dict[str, Any]:
    """Runs the app under opentelemetry-instrument, exporting over OTLP/HTTP to ``collector``;
    returns what the app saw."""
    env = {
        **clean_environment(),
        "OTEL_SERVICE_NAME": "migrating-app",
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_METRICS_EXPORTER": "otlp",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.endpoint,
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": disabled,
        "PYTHONWARNINGS": "ignore::DeprecationWarning",
    }
    command = [str(Path(sys.executable).parent / "opentelemetry-instrument"), sys.executable, "-m",
               "tests.peers.peer_app", emulator.base_url]
    if instrument:
        command.append(f"--instrument={instrument}")
    emulator.clear_requests()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-5000:]
    assert "Traceback" not in done.stderr, done.stderr[-5000:]
    [line] = [line for line in done.stdout.splitlines() if line.startswith("result ")]
    return dict(json.loads(line.removeprefix("result ")))


def app_requests(emulator: Emulator) -> Counter[str]:
    """The app's own requests (the run polls too), without the step fetches otel_assistants makes."""
    requests = Counter(f"{r.method} {r.path}" for r in emulator.requests)
    return Counter({key: n for key, n in requests.items() if not _STEP_FETCH.fullmatch(key)})


def assistants_requests(emulator: Emulator, *, polls: bool) -> int:
    return sum(
        n for key, n in app_requests(emulator).items()
        if not key.startswith("POST /responses") and (polls or not _RUN_POLL.fullmatch(key))
    )


def responses_calls(emulator: Emulator) -> int:
    return app_requests(emulator)["POST /responses"]


def spans(collector: Collector, scope: str) -> list[Any]:
    return [span for name, span in collector.scoped_spans() if name == scope]


def client_spans(collector: Collector, scope: str) -> list[Any]:
    """The CLIENT spans one instrumentation made: its per-request spans where it follows the GenAI
    conventions (run steps and tool calls are INTERNAL; OpenInference makes every span INTERNAL)."""
    return [span for span in spans(collector, scope) if span.kind == Span.SPAN_KIND_CLIENT]


def run_statuses(collector: Collector) -> Counter[str]:
    return Counter(
        attributes(span.attributes)["openai.assistants.run.status"]
        for span in client_spans(collector, OURS)
        if attributes(span.attributes).get("gen_ai.operation.name") == "invoke_agent"
    )


def histogram_count(collector: Collector, name: str, scope: str, **match: str) -> int:
    return sum(
        point.count for point in collector.last_points(name, scope)
        if match.items() <= attributes(point.attributes).items()
    )
