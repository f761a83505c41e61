"""The run counts behind ``openai.assistants.runs`` and ``openai.assistants.runs.active``.

Recording both as runs start and end would put three measurements per run through the SDK, each
about as dear as a histogram point. Instead the runs are counted here (a dict update under a lock)
and the two instruments are asynchronous: the SDK reads the counts when it collects, and exports
them exactly as the synchronous counter and up-down counter would be exported.

An SDK meter keeps an instrument's first callbacks when the same name is registered again, so the
counts are kept per meter provider and the instruments registered once for it; they outlive any
one ``instrument()`` call, and counts never go backwards.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from . import attributes as a


class RunTotals:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ended: dict[tuple[Any, ...], list[Any]] = {}  # attribute items -> [attributes, runs]
        self._active: dict[str, int] = {}  # provider -> runs started and not ended

    def started(self, provider: str) -> None:
        with self._lock:
            self._active[provider] = self._active.get(provider, 0) + 1

    def ended(self, key: tuple[Any, ...], attributes: dict[str, Any], provider: str) -> None:
        """One run ended; ``key`` identifies its attribute set (``attributes``, never changed)."""
        with self._lock:
            entry = self._ended.get(key)
            if entry is None:
                self._ended[key] = [attributes, 1]
            else:
                entry[1] += 1
            self._active[provider] = self._active.get(provider, 0) - 1

    def forked(self) -> None:
        """A child process starts from nothing: what the parent counted is the parent's to report."""
        self._lock = threading.Lock()
        self._ended = {}
        self._active = {}

    def observe_ended(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            return [Observation(count, attributes) for attributes, count in self._ended.values()]

    def observe_active(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            return [Observation(count, {a.PROVIDER_NAME: provider}) for provider, count in self._active.items()]


_lock = threading.Lock()
_by_provider: weakref.WeakKeyDictionary[Any, RunTotals] = weakref.WeakKeyDictionary()
_unweakable: dict[int, tuple[Any, RunTotals]] = {}  # providers a weak reference cannot hold
_global: list[RunTotals] = []  # the counts of the global provider, whichever object it is now


def totals_for(meter: metrics.Meter, meter_provider: Any) -> RunTotals:
    """The counts for the meter provider ``meter`` comes from (the global one when None), with
    their instruments registered on ``meter`` the first time."""
    current = metrics.get_meter_provider()
    provider = current if meter_provider is None else meter_provider
    with _lock:
        totals = _known(provider)
        # Instruments made before the global provider was set were made on its proxy and moved
        # to the real provider since: the same counts go on.
        if totals is None and provider is current and _global:
            totals = _global[0]
        if totals is None:
            totals = RunTotals()
            meter.create_observable_counter(a.METRIC_RUNS, callbacks=[totals.observe_ended], unit="{run}",
                                            description="Runs that ended, by outcome")
            meter.create_observable_up_down_counter(a.METRIC_RUNS_ACTIVE, callbacks=[totals.observe_active],
                                                    unit="{run}", description="Runs started and not yet ended")
        _remember(provider, totals)
        if provider is current and not _global:
            _global.append(totals)
        return totals


def _known(provider: Any) -> RunTotals | None:
    try:
        return _by_provider.get(provider)
    except TypeError:
        entry = _unweakable.get(id(provider))
        return entry[1] if entry is not None and entry[0] is provider else None


def _remember(provider: Any, totals: RunTotals) -> None:
    try:
        _by_provider[provider] = totals
    except TypeError:
        _unweakable[id(provider)] = (provider, totals)
