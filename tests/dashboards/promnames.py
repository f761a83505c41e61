"""What Prometheus sees of the contract's instruments, and of the official OpenAI instrumentation's.

Each instrument of the contract table is created with the table's name, kind and unit and recorded
with the table's attributes, then read back through opentelemetry-exporter-prometheus. The result is
kept as ``fixtures/contract_metrics.prom``. The official OpenAI instrumentation
(opentelemetry-instrumentation-genai-openai), whose metrics the migration dashboard reads, is run
against the emulator's Responses API instead, and what it exposes is kept as
``fixtures/official_openai_metrics.prom``. ``python -m tests.dashboards.promnames`` rewrites both.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from . import contract

FIXTURE = Path(__file__).parent / "fixtures" / "contract_metrics.prom"
OFFICIAL_FIXTURE = Path(__file__).parent / "fixtures" / "official_openai_metrics.prom"
OFFICIAL_HEADER = (
    "# What the official OpenAI instrumentation (opentelemetry-instrumentation-genai-openai) exposes through\n"
    "# opentelemetry-exporter-prometheus for Responses API calls (plain, streamed, failed, HTTP 500).\n"
    "# Rewritten by: python -m tests.dashboards.promnames\n"
)

HEADER = (
    "# The contract's instruments (docs/telemetry-contract.md, section 3) as exposed by\n"
    "# opentelemetry-exporter-prometheus. Rewritten by: python -m tests.dashboards.promnames\n"
)

# A plausible value for every attribute the table names; error.type (and the attributes only
# failed requests carry) is left off one point per instrument, as on successful requests.
VALUES = {
    "openai.assistants.run.status": "failed",
    "error.type": "server_error",
    "gen_ai.response.model": "gpt-4o",
    "gen_ai.request.model": "gpt-4o",
    "gen_ai.agent.name": "helpdesk",
    "gen_ai.provider.name": "openai",
    "openai.assistants.run_step.type": "tool_calls",
    "openai.assistants.run_step.status": "completed",
    "gen_ai.tool.name": "get_weather",
    "gen_ai.tool.type": "function",
    "gen_ai.token.type": "input",
    "gen_ai.operation.name": "invoke_agent",
    "server.address": "api.openai.com",
    "openai.assistants.ingestion.status": "failed",
    "openai.assistants.error.reason": "server_error",  # a 5xx whose body says code server_error
}

DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200]


def _histogram_advice(instrument: contract.Instrument) -> list[float] | None:
    if instrument.unit == "s":
        return DURATION_BUCKETS
    if instrument.unit == "{token}":
        return [float(4**i) for i in range(14)]
    return None  # the contract sets none for polls; the SDK default is enough to learn the names


def _reader() -> tuple[PrometheusMetricReader, CollectorRegistry]:
    try:
        registry = CollectorRegistry()
        return PrometheusMetricReader(disable_target_info=True, registry=registry), registry
    except TypeError:  # exporters before the registry keyword (2026) always use the global registry
        return PrometheusMetricReader(disable_target_info=True), REGISTRY


def _own_families(text: str, others: set[str]) -> str:
    # Keep only the reader's families: the global registry also holds process and GC metrics.
    blocks = ["# HELP " + block for block in text.split("# HELP ") if block]
    return "".join(block for block in blocks if block.split(maxsplit=3)[2].removesuffix("_total") not in others)


def exposition(instruments: list[contract.Instrument] | None = None) -> str:
    """Prometheus text exposition of one recording of every contract instrument."""
    others = {family.name for family in REGISTRY.collect()}
    reader, registry = _reader()
    provider = MeterProvider(metric_readers=[reader])
    meter = provider.get_meter("otel_assistants", "0.0.0")
    try:
        for instrument in instruments if instruments is not None else contract.instruments():
            full = {key: VALUES[key] for key in (*instrument.attributes, *instrument.failure_attributes)}
            points = [full]
            if "error.type" in full:
                # The successful point: no error.type, nor what only failed requests carry.
                dropped = {"error.type", *instrument.failure_attributes}
                points.append({k: v for k, v in full.items() if k not in dropped})
            if instrument.kind == "counter":
                counter = meter.create_counter(instrument.name, unit=instrument.unit)
                for attrs in points:
                    counter.add(1, attrs)
            elif instrument.kind == "up-down counter":
                updown = meter.create_up_down_counter(instrument.name, unit=instrument.unit)
                for attrs in points:
                    updown.add(1, attrs)
            elif instrument.kind == "histogram":
                histogram = meter.create_histogram(
                    instrument.name,
                    unit=instrument.unit,
                    explicit_bucket_boundaries_advisory=_histogram_advice(instrument),
                )
                for attrs in points:
                    histogram.record(3, attrs)
            else:
                raise AssertionError(f"unknown instrument kind in the contract: {instrument.kind!r}")
        text = generate_latest(registry).decode()
    finally:
        provider.shutdown()
    return _own_families(text, others)


def official_exposition() -> str:
    """What the official OpenAI instrumentation exposes for Responses API calls against the emulator."""
    import openai
    from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

    from otel_assistants.emulator import Emulator

    others = {family.name for family in REGISTRY.collect()}
    reader, registry = _reader()
    provider = MeterProvider(metric_readers=[reader])
    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(meter_provider=provider)
    try:
        with Emulator(poll_after_ms=1) as emulator, openai.OpenAI(
            base_url=emulator.base_url, api_key="sk-fixture", max_retries=0
        ) as client:
            client.responses.create(model="gpt-4o", input="Hello")
            with client.responses.create(model="gpt-4o", input="Hello", stream=True) as stream:
                for _ in stream:
                    pass
            client.responses.create(model="gpt-4o", input="Hello", metadata={"scenario": "outcome=failed"})
            with contextlib.suppress(openai.InternalServerError):
                client.responses.create(model="gpt-4o", input="Hello", metadata={"scenario": "http_status=500"})
        text = generate_latest(registry).decode()
    finally:
        instrumentor.uninstrument()
        provider.shutdown()
    return _own_families(text, others)


def families(
    text: str, scope: str | None = None
) -> dict[str, tuple[str, frozenset[tuple[str, frozenset[str]]]]]:
    """family -> (type, {(sample name, label names)}), the part of an exposition the tests compare;
    with ``scope``, only the samples of that instrumentation scope. Two instrumentations that describe
    a shared instrument differently are exposed as two families of one name: their samples are merged."""
    found: dict[str, tuple[str, frozenset[tuple[str, frozenset[str]]]]] = {}
    for family in text_string_to_metric_families(text):
        samples = frozenset(
            (s.name, frozenset(s.labels)) for s in family.samples
            if scope is None or s.labels.get("otel_scope_name") == scope
        )
        if not samples:
            continue
        _, known = found.get(family.name, (family.type, frozenset()))
        found[family.name] = (family.type, known | samples)
    return found


def series_labels(text: str) -> dict[str, set[str]]:
    """sample name (e.g. ``openai_assistants_run_duration_seconds_bucket``) -> label names it carries."""
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
    return labels


def main() -> None:
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(HEADER + exposition())
    print(f"wrote {FIXTURE}")
    OFFICIAL_FIXTURE.write_text(OFFICIAL_HEADER + official_exposition())
    print(f"wrote {OFFICIAL_FIXTURE}")


if __name__ == "__main__":
    main()
