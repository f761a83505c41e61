from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator

import openai
import pytest

from otel_assistants.emulator import Emulator

from .harness import Otel


@pytest.fixture(scope="session")
def emulator() -> Iterator[Emulator]:
    with Emulator(poll_after_ms=1) as emu:
        yield emu


@pytest.fixture
def otel() -> Iterator[Otel]:
    instrumented = Otel()
    yield instrumented
    instrumented.close()


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
