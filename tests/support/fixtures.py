"""The fixtures every test folder shares: the emulator and clients, and the telemetry in layers
(span exporter, tracer provider, metric reader, meter provider, log exporter, logger provider, then
``otel``, which instruments on them and uninstruments at teardown)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import openai
import pytest
from opentelemetry.sdk import _logs as sdk_logs
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from otel_assistants.emulator import Emulator

from .telemetry import InMemoryLogExporter, Otel, logged, metered, traced

Made = TypeVar("Made", bound=Otel)


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with Emulator(poll_after_ms=1) as emu:
        yield emu


@pytest.fixture
def client(emulator: Emulator) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=emulator.base_url, api_key="sk-test-key", max_retries=0) as sync_client:
        yield sync_client


@pytest.fixture
async def aclient(emulator: Emulator) -> AsyncIterator[openai.AsyncOpenAI]:
    # Closed inside the test's own event loop: a connection left to the collector warns.
    async with openai.AsyncOpenAI(base_url=emulator.base_url, api_key="sk-test-key", max_retries=0) as async_client:
        yield async_client


@pytest.fixture
def closing() -> Iterator[Callable[[openai.OpenAI], openai.OpenAI]]:
    """Closes the sync clients a test makes for itself when it ends, so no connection is left to warn."""
    made: list[openai.OpenAI] = []

    def keep(client: openai.OpenAI) -> openai.OpenAI:
        made.append(client)
        return client

    yield keep
    for client in made:
        client.close()


@pytest.fixture
def assistant(request: pytest.FixtureRequest, client: openai.OpenAI) -> Any:
    """The assistant the test module describes in ``ASSISTANT`` (the arguments of assistants.create)."""
    return client.beta.assistants.create(**request.module.ASSISTANT)


# ---- telemetry, in layers ---------------------------------------------------------------------

@pytest.fixture
def span_exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer_provider(span_exporter: InMemorySpanExporter) -> TracerProvider:
    return traced(span_exporter)


@pytest.fixture
def metric_reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def meter_provider(metric_reader: InMemoryMetricReader) -> MeterProvider:
    return metered(metric_reader)


@pytest.fixture
def log_exporter() -> Any:
    return InMemoryLogExporter()


@pytest.fixture
def logger_provider(log_exporter: Any) -> sdk_logs.LoggerProvider:
    return logged(log_exporter)


@pytest.fixture
def instrument_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The instrumentor's settings for ``otel``: none, or an indirect parametrisation's."""
    return dict(getattr(request, "param", {}))


@pytest.fixture
def otel(span_exporter: InMemorySpanExporter, tracer_provider: TracerProvider, metric_reader: InMemoryMetricReader,
         meter_provider: MeterProvider, log_exporter: Any, logger_provider: sdk_logs.LoggerProvider,
         instrument_settings: dict[str, Any]) -> Iterator[Otel]:
    """The instrumentation on the layered providers, uninstrumented at teardown."""
    instrumented = Otel(exporter=span_exporter, tracer_provider=tracer_provider, reader=metric_reader,
                        meter_provider=meter_provider, log_exporter=log_exporter, logger_provider=logger_provider,
                        **instrument_settings)
    yield instrumented
    instrumented.close()


def making(kind: type[Made]) -> Iterator[Callable[..., Made]]:
    """A factory fixture's body: ``kind(**settings)`` on fresh providers as often as asked, each
    closed (uninstrumented) at teardown."""
    made: list[Made] = []

    def make(**settings: Any) -> Made:
        made.append(kind(**settings))
        return made[-1]

    yield make
    for instrumented in reversed(made):
        instrumented.close()


@pytest.fixture
def make_otel() -> Iterator[Callable[..., Otel]]:
    """For tests that need their own settings, or more than one instrumentation in turn."""
    yield from making(Otel)
