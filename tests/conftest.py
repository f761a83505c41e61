from __future__ import annotations

from collections.abc import Iterator

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
def client(emulator: Emulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=emulator.base_url, api_key="sk-test-key", max_retries=0)


@pytest.fixture
def aclient(emulator: Emulator) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=emulator.base_url, api_key="sk-test-key", max_retries=0)
