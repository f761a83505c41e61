from __future__ import annotations

from collections.abc import Iterator

import pytest

from ..otlp_receiver import Collector


@pytest.fixture
def collector() -> Iterator[Collector]:
    receiver = Collector()
    try:
        yield receiver
    finally:
        receiver.close()
