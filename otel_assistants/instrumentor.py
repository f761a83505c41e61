"""``AssistantsInstrumentor``: hooks the choke point in and out, and ends runs at shutdown."""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from .config import Settings
from .failsafe import report
from .interceptor import Interceptor
from .package import _instruments
from .streams import drain_dropped
from .telemetry import Telemetry
from .tracker import RunTracker

logger = logging.getLogger(__name__)

ENTRY_POINT_NAME = "openai_assistants"
_BASE_CLIENT = "openai._base_client"


class AssistantsInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures every OpenAI Assistants API run, from creation to its end.

    ``instrument()`` keywords: ``tracer_provider``, ``meter_provider``, ``capture_content``,
    ``max_content_length``, ``run_steps``, ``max_tracked_runs`` (each also an environment variable).
    """

    def __init__(self) -> None:
        super().__init__()
        self._tracker: RunTracker | None = None
        self._settings: Settings | None = None
        self._hooked_provider: Any = None
        self._atexit_registered = False

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    @property
    def settings(self) -> Settings | None:
        return self._settings

    @property
    def tracker(self) -> RunTracker | None:
        return self._tracker

    def _instrument(self, **kwargs: Any) -> None:
        disabled_list = os.environ.get("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", "")
        disabled = {name.strip() for name in disabled_list.split(",")}
        if ENTRY_POINT_NAME in disabled:
            logger.debug("otel_assistants: disabled by OTEL_PYTHON_DISABLED_INSTRUMENTATIONS")
            return
        from openai.lib.azure import BaseAzureClient

        self._settings = Settings.resolve(**kwargs)
        telemetry = Telemetry(kwargs.get("tracer_provider"), kwargs.get("meter_provider"))
        self._tracker = RunTracker(telemetry, self._settings)
        interceptor = Interceptor(self._tracker, telemetry, (BaseAzureClient,))
        wrap_function_wrapper(_BASE_CLIENT, "SyncAPIClient.request", interceptor.sync_request)
        wrap_function_wrapper(_BASE_CLIENT, "AsyncAPIClient.request", interceptor.async_request)
        self._hook_provider_shutdown(kwargs.get("tracer_provider") or trace.get_tracer_provider())
        if not self._atexit_registered:
            atexit.register(self._end_open_runs)
            self._atexit_registered = True

    def _uninstrument(self, **kwargs: Any) -> None:
        import openai._base_client as base_client

        unwrap(base_client.SyncAPIClient, "request")
        unwrap(base_client.AsyncAPIClient, "request")
        self._unhook_provider_shutdown()
        self._end_open_runs()
        self._tracker = None

    # Spans ended after the provider's processors shut down are dropped, so open runs are ended
    # just before the provider shuts down (and at exit, for providers that never do).

    def _hook_provider_shutdown(self, provider: Any) -> None:
        original = getattr(provider, "shutdown", None)
        if original is None or not callable(original):
            return
        instrumentor = self

        def shutdown(*args: Any, **kwargs: Any) -> Any:
            instrumentor._end_open_runs()
            return original(*args, **kwargs)

        try:
            provider.shutdown = shutdown
        except (AttributeError, TypeError):
            return
        self._hooked_provider = provider

    def _unhook_provider_shutdown(self) -> None:
        provider, self._hooked_provider = self._hooked_provider, None
        if provider is not None:
            with contextlib.suppress(AttributeError):
                del provider.shutdown

    def _end_open_runs(self) -> None:
        tracker = self._tracker
        if tracker is None:
            return
        try:
            drain_dropped()  # streams collected inside a garbage collection: each ends on its own terms
            tracker.abandon_all()
        except Exception as error:
            report("abandon_all", error)
