"""Arize Phoenix, a real OTLP trace backend, run for the tests on loopback and read back through its REST API.

Phoenix is heavy and brings OpenTelemetry instrumentations of its own, so it lives in an environment
of its own: the tests run its ``phoenix`` command, found through ``OTEL_ASSISTANTS_PHOENIX`` or the PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from ..dashboards.support import missing
from ..demo_support import free_port

COMMAND_VARIABLE = "OTEL_ASSISTANTS_PHOENIX"
INSTALL_HINT = "python -m venv phoenix && phoenix/bin/pip install arize-phoenix==20.26.1"
START_TIMEOUT_S = 180  # a first start creates the database (migrations) and imports a great deal

# Every setting of Phoenix 20.26 that could make it reach beyond loopback, turned off (phoenix/config.py).
QUIET = {
    "PHOENIX_TELEMETRY_ENABLED": "false",  # the web UI's analytics pixels
    "PHOENIX_ALLOW_EXTERNAL_RESOURCES": "false",  # web fonts, telemetry, sandbox binary downloads
    "PHOENIX_DISABLE_AGENT_ASSISTANT": "true",  # the built-in LLM assistant
    "PHOENIX_AGENTS_DISABLE_WEB_ACCESS": "true",
    "PHOENIX_AGENTS_DISABLE_GITHUB": "true",
    "PHOENIX_AGENTS_DISABLE_BASH": "true",
    "PHOENIX_ENABLE_MCP_SERVER": "false",
    "PHOENIX_ALLOWED_SANDBOX_PROVIDERS": "NONE",  # code sandboxes (hosted ones, or a downloaded WASM runtime)
    "PHOENIX_ALLOWED_PROVIDERS": "NONE",  # LLM providers of the playground
    "PHOENIX_ENABLE_PROMETHEUS": "false",  # its own metrics server on port 9090
    "PHOENIX_ENABLE_AUTH": "false",  # the REST API open to the tests, as on a developer's machine
    "PHOENIX_LOG_MIGRATIONS": "false",
    "PHOENIX_DB_LOGGING_LEVEL": "warning",
}
# Not set, so not used: PHOENIX_SQL_DATABASE_URL (SQLite in the working directory), PHOENIX_SMTP_*,
# PHOENIX_COLLECTOR_ENDPOINT / OTEL_EXPORTER_OTLP_ENDPOINT, PHOENIX_SERVER_INSTRUMENTATION_* (its own
# telemetry), PHOENIX_AGENTS_COLLECTOR_ENDPOINT, LDAP and OAuth2: Phoenix gets no environment but this one.


def phoenix_command() -> str:
    command = os.environ.get(COMMAND_VARIABLE) or shutil.which("phoenix")
    if not command or not Path(command).exists():
        missing(f"Arize Phoenix's `phoenix` command is not found (set {COMMAND_VARIABLE} to it, or put it on the "
                f"PATH; {INSTALL_HINT})")
    return str(command)


class Phoenix:
    """``phoenix serve`` on 127.0.0.1 with its data in ``directory``: OTLP/HTTP at :port/v1/traces,
    OTLP/gRPC at :grpc_port (Phoenix binds its gRPC port on every interface: it has no setting for that;
    the tests send to it on loopback only)."""

    def __init__(self, command: str, directory: Path) -> None:
        self.port, self.grpc_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "phoenix.log"
        (directory / "home").mkdir()
        environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory / "home"), "LANG": "C.UTF-8",
            "PHOENIX_HOST": "127.0.0.1", "PHOENIX_PORT": str(self.port), "PHOENIX_GRPC_PORT": str(self.grpc_port),
            "PHOENIX_WORKING_DIR": str(directory / "phoenix"), **QUIET,
        }
        with self.log.open("wb") as log:
            self.process = subprocess.Popen([command, "serve"], env=environment, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"phoenix serve exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        self.stop()
        raise AssertionError(f"phoenix serve not ready after {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)

    def get(self, path: str, **query: Any) -> Any:
        url = f"{self.url}{path}?{urllib.parse.urlencode(query)}"
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)

    def spans(self, project: str) -> list[dict[str, Any]]:
        """Every span of ``project``, as Phoenix's REST API gives them (``GET /v1/projects/{project}/spans``)."""
        spans: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            query: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            try:
                page = self.get(f"/v1/projects/{urllib.parse.quote(project)}/spans", **query)
            except urllib.error.HTTPError as error:
                if error.code == 404:  # no span of the project ingested yet
                    return []
                raise
            spans += page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return spans

    def wait_for_spans(self, project: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
        """The project's spans once ``count`` of them are stored (Phoenix inserts what it receives in batches)."""
        deadline = time.monotonic() + timeout
        spans = self.spans(project)
        while len(spans) < count and time.monotonic() < deadline:
            time.sleep(0.5)
            spans = self.spans(project)
        time.sleep(1)  # and nothing more arrives
        return self.spans(project)
