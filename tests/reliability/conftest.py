"""Hypothesis profiles, the emulator the reliability tests share within a module, and the watched harness.

Under CI (``CI`` set and not false) every fuzzed surface runs the full ``CI_EXAMPLES`` examples,
derandomized so that a red CI run can be replayed exactly; locally a quicker random profile runs
(``HYPOTHESIS_PROFILE=ci`` forces the full one, ``RELIABILITY_EXAMPLES=N`` sets the local count).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, settings

from otel_assistants.emulator import Emulator

from ..support.fixtures import making
from .support import Watched

CI_EXAMPLES = 2000


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


_common = {
    "deadline": None,  # real HTTP: timings vary with the machine's load, outcomes do not
    "database": None,  # nothing written into the work tree
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
    "print_blob": True,
}
settings.register_profile("ci", max_examples=CI_EXAMPLES, derandomize=True, **_common)
settings.register_profile("dev", max_examples=int(os.environ.get("RELIABILITY_EXAMPLES", "150")), **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _in_ci() else "dev"))


@pytest.fixture(scope="module")
def module_emulator() -> Iterator[Emulator]:
    """A module's own emulator: ``poll_after_ms=0`` so the SDK's poll helpers never sleep."""
    with Emulator(poll_after_ms=0) as emulator:
        yield emulator
        emulator.mutate = None


@pytest.fixture
def make_watched() -> Iterator[Callable[..., Watched]]:
    """The harness plus a ledger of span starts and ends, closed at teardown."""
    yield from making(Watched)
