"""Ends the runs still open just before the tracer provider shuts down, and at process exit.

A span ended after its provider's processors shut down is silently dropped, so open runs must end
first. The provider to watch is the one given to ``instrument()``, else the global one, which an
app may set after instrumenting: the hook follows it whenever a run starts.
"""

from __future__ import annotations

import atexit
import contextlib
from collections.abc import Callable
from typing import Any

from opentelemetry import trace

from .failsafe import report


class ShutdownHook:
    def __init__(self, end_open_runs: Callable[[], None], provider: Any = None) -> None:
        self._end_open_runs = end_open_runs
        self._explicit = provider
        self._hooked: Any = None  # the provider whose shutdown is wrapped (or was looked at)
        self._wrapped = False
        self._at_exit_registered = False

    def follow(self) -> None:
        """Hook the provider runs are traced with now, when it is not the one hooked already. Cheap
        when nothing changed: this runs on every run start."""
        provider = self._explicit if self._explicit is not None else trace.get_tracer_provider()
        if provider is self._hooked:
            return
        try:
            self._unhook()
            self._hook(provider)
        except Exception as error:
            report("shutdown_hook", error)

    def close(self) -> None:
        """Unhook everything (``uninstrument()``)."""
        self._unhook()
        if self._at_exit_registered:
            atexit.unregister(self._at_exit)
            self._at_exit_registered = False

    def _hook(self, provider: Any) -> None:
        self._hooked = provider
        original = getattr(provider, "shutdown", None)
        if callable(original):
            end_open_runs = self._end_open_runs

            def shutdown(*args: Any, **kwargs: Any) -> Any:
                end_open_runs()
                return original(*args, **kwargs)

            try:
                provider.shutdown = shutdown
                self._wrapped = True
            except (AttributeError, TypeError):  # a provider with slots or a read-only shutdown
                pass
        # A provider shuts down at exit through a handler it registered when it was made, which
        # holds its own bound method, not the attribute wrapped above. Exit handlers run last
        # registered first, so registering again now puts ours ahead of this provider's.
        if self._at_exit_registered:
            atexit.unregister(self._at_exit)
        atexit.register(self._at_exit)
        self._at_exit_registered = True

    def _unhook(self) -> None:
        provider, self._hooked = self._hooked, None
        if provider is not None and self._wrapped:
            with contextlib.suppress(AttributeError, TypeError):
                del provider.shutdown
        self._wrapped = False

    def _at_exit(self) -> None:
        self._end_open_runs()
