"""Turning the instrumentation on and off, and auto-instrumentation."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import openai._base_client as base_client
from opentelemetry.instrumentation.utils import suppress_instrumentation

from otel_assistants import AssistantsInstrumentor

from .support.telemetry import Otel

ORIGINAL_SYNC = base_client.SyncAPIClient.request
ORIGINAL_ASYNC = base_client.AsyncAPIClient.request


def complete_one_run(client: Any) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create()
    client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=1)


def test_entry_point_is_registered() -> None:
    found = [ep for ep in entry_points(group="opentelemetry_instrumentor") if ep.name == "openai_assistants"]
    assert len(found) == 1
    assert found[0].load() is AssistantsInstrumentor


def test_instruments_extra_names_the_supported_range() -> None:
    assert AssistantsInstrumentor().instrumentation_dependencies() == ("openai >= 1.21.0, < 4",)


def test_instrument_is_idempotent(make_otel: Callable[..., Otel], client: Any) -> None:
    otel = make_otel()
    try:
        otel.instrumentor.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
        complete_one_run(client)
        assert len(otel.run_spans()) == 1
        assert len(otel.spans("create_thread")) == 1
    finally:
        otel.close()


def test_uninstrument_restores_the_sdk_exactly(make_otel: Callable[..., Otel], client: Any) -> None:
    otel = make_otel()
    assert base_client.SyncAPIClient.__dict__["request"].__wrapped__ is ORIGINAL_SYNC
    assert base_client.AsyncAPIClient.__dict__["request"].__wrapped__ is ORIGINAL_ASYNC
    otel.close()
    assert base_client.SyncAPIClient.__dict__["request"] is ORIGINAL_SYNC
    assert base_client.AsyncAPIClient.__dict__["request"] is ORIGINAL_ASYNC
    assert not hasattr(base_client.SyncAPIClient.request, "__wrapped__")
    complete_one_run(client)
    assert otel.spans() == []
    assert "shutdown" not in vars(otel.tracer_provider)


def test_instrument_again_after_uninstrument(make_otel: Callable[..., Otel], client: Any) -> None:
    make_otel().close()
    otel = make_otel()
    try:
        complete_one_run(client)
        assert len(otel.run_spans()) == 1
    finally:
        otel.close()


def test_suppress_instrumentation(otel: Otel, client: Any) -> None:
    with suppress_instrumentation():
        complete_one_run(client)
    assert otel.spans() == []
    assert otel.points("openai.assistants.runs") == []


def test_disabled_by_environment(make_otel: Callable[..., Otel], client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "redis, openai_assistants")
    otel = make_otel()
    try:
        complete_one_run(client)
        assert otel.spans() == []
        assert base_client.SyncAPIClient.__dict__["request"] is ORIGINAL_SYNC
    finally:
        otel.close()


def test_other_openai_requests_are_left_alone(otel: Otel, client: Any) -> None:
    # the emulator serves only the Assistants API; what matters is that no span is made
    with contextlib.suppress(Exception):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert otel.spans() == []


def test_opentelemetry_instrument_picks_the_package_up(emulator: Any, tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(f"""
        import openai
        client = openai.OpenAI(base_url={emulator.base_url!r}, api_key="sk-test")
        assistant = client.beta.assistants.create(model="gpt-4o", name="auto")
        thread = client.beta.threads.create()
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                       poll_interval_ms=1)
        open({str(tmp_path / "status")!r}, "w").write(run.status)
    """))
    env = dict(os.environ, OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="none",
               OTEL_LOGS_EXPORTER="none", OTEL_SERVICE_NAME="auto-app", PYTHONWARNINGS="ignore")
    env.pop("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", None)
    bin_dir = Path(sys.executable).parent
    result = subprocess.run([str(bin_dir / "opentelemetry-instrument"), sys.executable, str(script)],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    # The run's status goes to a file: a print() is several writes, which the exporter's thread could split.
    assert (tmp_path / "status").read_text() == "completed"
    assert '"name": "invoke_agent auto"' in result.stdout
    assert '"openai.assistants.run.status": "completed"' in result.stdout
