"""End-to-end drill on real servers.

An instrumented app (``drill_app``) runs a known mix of runs, vector store ingestion, refused
requests and Responses API calls against the emulator (runs instrumented by otel-assistants,
calls by the official OpenAI instrumentation) and
serves its metrics through opentelemetry-exporter-prometheus; a real Prometheus scrapes it and
evaluates the shipped alert rules (only their ``for:`` shortened) and sends to a real Alertmanager,
which delivers to a webhook inside this test. Then every query of every dashboard panel must return
data, the failure and expiry ratio panels and the migration dashboard's share, error and token
panels must show the mix, the Grafana-managed rules must select what the Prometheus rules select,
and the failure-rate alert must arrive at the webhook.
"""

from __future__ import annotations

import contextlib
import json
import math
import queue
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from . import contract, support

JOB = "assistants-drill"
CYCLES = 12  # of 10 runs each, see drill_app.CYCLE
FAILED_SHARE, EXPIRED_SHARE, TOLERANCE = 0.2, 0.1, 0.05
FAILED_FILES_SHARE = 0.4  # drill_app.BATCH and SINGLE: 2 of 5 files fail
# Panels whose events the drill's mix makes (failures, expiries, a cancel at requires_action, 404s,
# incomplete runs), so a zero there means a query that misses them.
SEEN_IN_THE_MIX = {
    "Failure ratio", "Expiry ratio", "Failure and expiry ratio", "Cancelled and incomplete runs",
    "Run errors by type", "Top error types", "Tool calls not submitted", "Expired runs", "Operation error ratio",
    "Operation errors by type",
    # the migration dashboard: both kinds of traffic, with failures on both sides
    "Responses share", "Run error ratio", "Responses error ratio", "Tokens per run", "Tokens per Responses call",
    "Assistants still on runs", "Runs and Responses calls by model", "Responses share by model", "Runs by assistant",
    "Error ratio by model", "Errors by type", "Tokens per call by model and type", "Token rate by model",
    # the vector stores dashboard: indexed and failed files
    "Files ended", "Failed-file ratio", "Jobs ended", "Files ingested by status", "Failed-file ratio by error type",
    "Indexing duration by status",
}
RUN_ERROR_SHARE, RESPONSES_ERROR_SHARE = 0.3, 0.2  # failed and expired runs; failed and HTTP 500 calls
OURS = "otel_assistants"
SHORT_FOR = "2s"

# With the drill's mix these alerts fire, and these do not (their thresholds are above the mix).
EXPECTED_FIRING = {
    ("AssistantsRunFailureRateHigh", "warning"),
    ("AssistantsRunExpiryRateHigh", "warning"),
    ("AssistantsRunsRateLimited", "warning"),
    ("AssistantsToolOutputsNotSubmitted", "warning"),
    ("AssistantsAPIEndpointNotFound", "critical"),
    ("AssistantsFileIngestionFailureRateHigh", "warning"),
    ("AssistantsThreadActiveRunConflicts", "warning"),
}
EXPECTED_SILENT = {
    ("AssistantsRunFailureRateHigh", "critical"),
    ("AssistantsRunQueueTimeHigh", "warning"),
    ("AssistantsRunsStuck", "warning"),
    ("AssistantsAPIServerErrors", "warning"),
}


class Webhook:
    """Alertmanager's webhook receiver: collects the notifications it posts."""

    def __init__(self) -> None:
        self.notifications: queue.Queue[dict[str, Any]] = queue.Queue()
        inbox = self.notifications

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                inbox.put(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Webhook:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Prometheus:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"

    def get(self, path: str, **params: str) -> Any:
        url = f"{self.base}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        with urllib.request.urlopen(url, timeout=10) as response:
            payload = json.loads(response.read())
        assert payload["status"] == "success", payload
        return payload["data"]

    def query(self, expr: str, at: float) -> list[dict[str, Any]]:
        data = urllib.parse.urlencode({"query": expr, "time": f"{at:.3f}"}).encode()
        with urllib.request.urlopen(f"{self.base}/api/v1/query", data=data, timeout=10) as response:
            payload = json.loads(response.read())
        assert payload["status"] == "success", (expr, payload)
        assert payload["data"]["resultType"] == "vector", (expr, payload["data"]["resultType"])
        return list(payload["data"]["result"])


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as response:
            if response.status == 200:
                return
        time.sleep(0.2)
    pytest.fail(f"{url} not ready after {timeout}s:\n{log.read_text()[-3000:]}")


@contextlib.contextmanager
def _process(args: list[str], log: Path, **kwargs: Any) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, **kwargs)
        try:
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def _shortened_rules(target: Path) -> None:
    """The shipped rules with only `for:` shortened, so the drill does not wait minutes."""
    yaml = support.require_module("yaml")
    documents = [support.load_yaml(path) for path in support.RULES]
    for document in documents:
        for group in document["groups"]:
            for rule in group["rules"]:
                rule["for"] = SHORT_FOR
    target.write_text(yaml.safe_dump({"groups": [g for d in documents for g in d["groups"]]}, sort_keys=False))
    shipped = {(r["alert"], r["labels"]["severity"]): r["expr"] for r in support.prometheus_rules()}
    loaded = yaml.safe_load(target.read_text())
    assert {(r["alert"], r["labels"]["severity"]): r["expr"] for g in loaded["groups"] for r in g["rules"]} == shipped


def _grafana_selects(prometheus: Prometheus, rule: dict[str, Any], at: float) -> set[str]:
    """Label sets for which a Grafana-managed rule's condition holds: A, reduced by last, above C."""
    data = {q["refId"]: q for q in rule["data"]}
    assert data["B"]["model"]["reducer"] == "last"
    (threshold,) = data["C"]["model"]["conditions"][0]["evaluator"]["params"]
    selected = set()
    for sample in prometheus.query(data["A"]["model"]["expr"], at):
        if float(sample["value"][1]) > threshold:
            selected.add(json.dumps(sample["metric"], sort_keys=True))
    return selected


def test_drill(tmp_path: Path) -> None:
    prometheus_bin = support.require_binary("prometheus")
    alertmanager_bin = support.require_binary("prometheus-alertmanager", "alertmanager")
    support.require_module("yaml")
    support.require_module("opentelemetry.exporter.prometheus")
    import otel_assistants

    if not hasattr(otel_assistants, "AssistantsInstrumentor"):
        support.missing("otel_assistants does not export AssistantsInstrumentor yet")
    support.require_module("otel_assistants.emulator")

    app_port, prom_port, am_port = support.free_port(), support.free_port(), support.free_port()
    rules = tmp_path / "rules.yml"
    _shortened_rules(rules)

    with contextlib.ExitStack() as stack:
        webhook = stack.enter_context(Webhook())
        (tmp_path / "alertmanager.yml").write_text(
            json.dumps(
                {
                    "route": {
                        "receiver": "drill",
                        "group_by": ["alertname", "job"],
                        "group_wait": "1s",
                        "group_interval": "1s",
                        "repeat_interval": "1h",
                    },
                    "receivers": [{"name": "drill", "webhook_configs": [{"url": f"http://127.0.0.1:{webhook.port}/"}]}],
                }
            )
        )
        am_log = tmp_path / "alertmanager.log"
        alertmanager = stack.enter_context(
            _process(
                [
                    alertmanager_bin,
                    f"--config.file={tmp_path / 'alertmanager.yml'}",
                    f"--storage.path={tmp_path / 'am-data'}",
                    f"--web.listen-address=127.0.0.1:{am_port}",
                    "--cluster.listen-address=",  # no gossip: a single local instance
                ],
                am_log,
            )
        )
        (tmp_path / "prometheus.yml").write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(rules)],
                    "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
                    "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{app_port}"]}]}],
                }
            )
        )
        prom_log = tmp_path / "prometheus.log"
        prometheus_process = stack.enter_context(
            _process(
                [
                    prometheus_bin,
                    f"--config.file={tmp_path / 'prometheus.yml'}",
                    f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                    f"--web.listen-address=127.0.0.1:{prom_port}",
                ],
                prom_log,
            )
        )
        _wait_ready(f"http://127.0.0.1:{am_port}/-/ready", alertmanager, am_log)
        _wait_ready(f"http://127.0.0.1:{prom_port}/-/ready", prometheus_process, prom_log)
        prometheus = Prometheus(prom_port)

        # The app: its workload takes about CYCLES seconds, then it keeps serving its metrics.
        app_log = tmp_path / "app.log"
        app = stack.enter_context(
            _process(
                [sys.executable, "-m", "tests.dashboards.drill_app", f"--port={app_port}", f"--cycles={CYCLES}"],
                app_log,
                stdin=subprocess.PIPE,
                cwd=support.REPO,
            )
        )
        deadline = time.monotonic() + 90
        while "done " not in app_log.read_text():
            if app.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the drill app did not finish its workload:\n{app_log.read_text()[-5000:]}")
            time.sleep(0.2)
        done = json.loads(app_log.read_text().split("done ", 1)[1].splitlines()[0])
        counts, calls = done["runs"], done["responses"]
        assert counts["failed"] == 2 * CYCLES and counts["expired"] == CYCLES, counts
        assert calls["calls"] == 15 * CYCLES and calls["errors"] == 3 * CYCLES, calls
        assert done["files"] == {"completed": 3 * CYCLES, "failed": 2 * CYCLES}, done["files"]

        # Prometheus has what the app counted once it has scraped after the workload.
        total = sum(v for k, v in counts.items() if k != "not_found")
        deadline = time.monotonic() + 15
        while True:
            result = prometheus.query(f'sum(openai_assistants_runs_total{{job="{JOB}"}})', time.time())
            answered = prometheus.query(
                f'sum(gen_ai_client_operation_duration_seconds_count{{job="{JOB}", gen_ai_operation_name="chat"}})',
                time.time(),
            )
            if result and answered and float(result[0]["value"][1]) >= total and (
                float(answered[0]["value"][1]) >= calls["calls"]
            ):
                break
            assert time.monotonic() < deadline, f"Prometheus saw {result}, the app ended {total} runs"
            time.sleep(0.5)

        # What the instrumented app itself exposes: every contract instrument, each with exactly
        # the contract's attributes as labels (the mix records each of them at least once). The
        # official instrumentation's points in the shared gen_ai.client.* instruments are its own.
        from . import drill_app, promnames  # need the Prometheus exporter, required above

        with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/metrics", timeout=10) as response:
            families = promnames.families(response.read().decode(), scope=OURS)
        for instrument in contract.instruments():
            base = instrument.name.replace(".", "_")
            kind = support.PROMETHEUS_KINDS[instrument.kind]
            [samples] = [found for name, (exposed, found) in families.items()
                         if name.startswith(base) and exposed == kind]
            labels = set().union(*(names for _, names in samples)) - support.ADDED_LABELS
            names = (*instrument.attributes, *instrument.failure_attributes)
            assert labels == {name.replace(".", "_") for name in names}, instrument.name

        # Every query of every panel returns a number (NaN, as a quantile of nothing gives, is no
        # data), with the variables at "All"; panels of what the mix produces show more than zero.
        now = time.time()
        empty = []
        values: dict[tuple[str, str], float] = {}
        for name, board in support.dashboards().items():
            for title, ref, expr in support.panel_queries(board):
                result = prometheus.query(support.substitute(expr), now)
                numbers = [float(series["value"][1]) for series in result]
                if not any(math.isfinite(number) for number in numbers):
                    empty.append(f"{name}: {title} ({ref}): {expr} gave {numbers}")
                elif title in SEEN_IN_THE_MIX and not max(n for n in numbers if math.isfinite(n)) > 0:
                    empty.append(f"{name}: {title} ({ref}) shows only zeros: {expr}")
                if len(result) == 1:
                    values[(title, ref)] = numbers[0]
            for variable in board["templating"]["list"]:
                if variable["type"] != "query":
                    continue
                selector, label = variable["query"].removeprefix("label_values(").removesuffix(")").rsplit(", ", 1)
                found = prometheus.get(f"/api/v1/label/{label}/values", **{"match[]": support.substitute(selector)})
                if not found:
                    empty.append(f"{name}: variable {variable['name']} has no values")
        assert not empty, "panels without data:\n" + "\n".join(empty)

        # The ratio panels show the mix.
        for title, ref, share in (
            ("Failure ratio", "A", FAILED_SHARE),
            ("Expiry ratio", "A", EXPIRED_SHARE),
            ("Failure and expiry ratio", "A", FAILED_SHARE),
            ("Failure and expiry ratio", "B", EXPIRED_SHARE),
            ("Failed-file ratio", "A", FAILED_FILES_SHARE),
        ):
            assert abs(values[(title, ref)] - share) <= TOLERANCE, (title, ref, values[(title, ref)], share)

        # The migration dashboard shows the mix of runs and Responses calls.
        ended = sum(counts.values()) - counts["not_found"]
        run_usage = done["run_usage"]
        for title, ref, expected in (
            ("Responses share", "A", calls["calls"] / (calls["calls"] + ended)),
            ("Responses share by model", "A", calls["calls"] / (calls["calls"] + ended)),
            ("Run error ratio", "A", RUN_ERROR_SHARE),
            ("Responses error ratio", "A", RESPONSES_ERROR_SHARE),
            ("Error ratio by model", "A", RUN_ERROR_SHARE),
            ("Error ratio by model", "B", RESPONSES_ERROR_SHARE),
        ):
            assert abs(values[(title, ref)] - expected) <= TOLERANCE, (title, ref, values[(title, ref)], expected)
        for title, expected in (
            ("Tokens per run", run_usage["tokens"] / run_usage["with_usage"]),
            ("Tokens per Responses call", calls["tokens"] / calls["with_usage"]),
        ):
            assert abs(values[(title, "A")] - expected) <= TOLERANCE * expected, (title, values[(title, "A")], expected)
        assert values[("Assistants still on runs", "A")] == 1

        # API errors by reason: the drill's known errors, and its two 404s per cycle, in their mix.
        board = support.dashboards()["assistants-tools-streams.json"]
        [reasons] = [expr for title, _, expr in support.panel_queries(board) if title == "API errors by reason"]
        by_reason: dict[str, float] = {}
        for series in prometheus.query(support.substitute(reasons), now):
            reason = series["metric"].get("openai_assistants_error_reason", "")
            by_reason[reason] = by_reason.get(reason, 0.0) + float(series["value"][1])
        assert done["errors"] == {"bad_request": sum(drill_app.ERROR_MIX.values()) * CYCLES}, done["errors"]
        mix = {**drill_app.ERROR_MIX, "not_found": 2}
        unit = by_reason["not_found"] / 2
        for reason, per_cycle in mix.items():
            assert abs(by_reason.get(reason, 0.0) / unit - per_cycle) <= TOLERANCE * 10, (reason, by_reason)

        # Prometheus fires what the mix calls for, and nothing it does not.
        deadline = time.monotonic() + 30
        while True:
            alerts = prometheus.get("/api/v1/alerts")["alerts"]
            firing = {(a["labels"]["alertname"], a["labels"]["severity"]) for a in alerts if a["state"] == "firing"}
            if firing >= EXPECTED_FIRING or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert firing >= EXPECTED_FIRING, firing
        assert not (EXPECTED_SILENT & firing), firing

        # The Grafana-managed rules select exactly what the Prometheus rules select.
        at = time.time()
        prometheus_rules = {(r["alert"], r["labels"]["severity"]): r for r in support.prometheus_rules()}
        for rule in support.grafana_rules():
            key = (rule["title"].split(" (")[0], rule["labels"]["severity"])
            expected = {
                json.dumps(s["metric"], sort_keys=True) for s in prometheus.query(prometheus_rules[key]["expr"], at)
            }
            assert _grafana_selects(prometheus, rule, at) == expected, key

        # The dashboards' alert annotation finds the firing alerts.
        annotation = support.dashboards()["assistants-runs.json"]["annotations"]["list"][0]["expr"]
        assert prometheus.query(annotation, time.time())

        # And Alertmanager delivered the failure-rate alert to the webhook.
        deadline = time.monotonic() + 30
        delivered: dict[str, Any] | None = None
        while delivered is None and time.monotonic() < deadline:
            try:
                notification = webhook.notifications.get(timeout=1)
            except queue.Empty:
                continue
            for alert in notification["alerts"]:
                labels = alert["labels"]
                if labels["alertname"] == "AssistantsRunFailureRateHigh" and alert["status"] == "firing":
                    delivered = alert
        assert delivered is not None, f"no failure-rate alert reached the webhook:\n{am_log.read_text()[-3000:]}"
        assert delivered["labels"]["severity"] == "warning"
        assert delivered["labels"]["job"] == JOB
        assert delivered["annotations"]["runbook_url"].endswith("/AssistantsRunFailureRateHigh.md")
        assert "of the runs that ended in assistants-drill" in delivered["annotations"]["description"]

        assert app.stdin is not None
        app.stdin.close()  # lets the app shut down cleanly
        app.wait(timeout=10)
