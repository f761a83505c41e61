"""``AssistantsInstrumentor``: hooks the choke point in and out, and ends runs at shutdown.

State that outlives a call, and who owns it. Per instrumentation (made by ``instrument()``,
dropped by ``uninstrument()``): the tracker and its registry (runs and ingestion jobs, ended
ones, deadlines, agent names, the stores seen indexing), the capped error codes, the
interceptor's client cache, the own-requests serving threads (stopped by
``uninstrument()``) and the shutdown hook (its atexit handler unregistered).

Module-level, shared by every instrumentation in the process:
- failsafe.py ``_reported``: which internal errors were logged (each is logged once per process);
- fields.py ``_models``, sdk_results.py ``_async_parse``: facts about SDK classes, never stale;
- routes.py ``_RECENT``: the routes of recent request paths, at most 512, a pure function's answers;
- streams.py ``dropped_observers``, ``_watchers``: streams collected inside a garbage collection, open
  streams per run; both empty once every stream the app opened has stopped;
  ``_Collection``: a ``gc.callbacks`` entry, added at the first observed stream and kept;
- totals.py ``_by_provider``, ``_unweakable``, ``_global``: run counts per meter provider,
  whose observable instruments the SDK keeps for the provider's life;
- own_requests.py ``_living`` (weak) and an ``os.register_at_fork`` handler (registered at
  import): child processes forget their parent's runs and threads.

What ``uninstrument()`` leaves behind: the ``gc.callbacks`` entry and the fork handler (both do
nothing without observed streams or instrumentations), the logged-error set and the run counts
of providers still alive, so that an instrument-uninstrument-instrument cycle neither logs an
error twice nor restarts a provider's counts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection
from typing import Any

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor  # type: ignore[attr-defined]
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from .config import Settings
from .failsafe import report
from .interceptor import Interceptor
from .package import _instruments
from .shadowing import hook_shadowing_subclasses
from .shutdown import ShutdownHook
from .streams import drain_dropped
from .telemetry import Telemetry
from .tracker import RunTracker

logger = logging.getLogger(__name__)

ENTRY_POINT_NAME = "openai_assistants"
# At shutdown the open runs are looked up within this many seconds in all, before the exporters close.
SHUTDOWN_BUDGET_S = 2.0
_BASE_CLIENT = "openai._base_client"


class AssistantsInstrumentor(BaseInstrumentor):  # type: ignore[misc]
    """Traces and measures every OpenAI Assistants API run, from creation to its end.

    ``instrument()`` keywords: ``tracer_provider``, ``meter_provider``, ``logger_provider``,
    ``capture_content``, ``max_content_length``, ``run_steps``, ``max_tracked_runs``, ``adopt_runs``,
    ``propagate_context`` (each also an environment variable, but for the providers).
    """

    def __init__(self) -> None:
        super().__init__()
        self._tracker: RunTracker | None = None
        self._settings: Settings | None = None
        self._shutdown_hook: ShutdownHook | None = None
        self._shadowing: list[type] = []  # client classes whose own `request` hides the base one

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
        telemetry = Telemetry(kwargs.get("tracer_provider"), kwargs.get("meter_provider"),
                              kwargs.get("logger_provider"), self._settings.capture_content)
        self._tracker = RunTracker(telemetry, self._settings)
        # Open runs end before the provider shuts down: its processors drop spans ended later.
        self._shutdown_hook = ShutdownHook(self._end_open_runs, kwargs.get("tracer_provider"))
        self._shutdown_hook.follow()
        interceptor = Interceptor(self._tracker, telemetry, (BaseAzureClient,), self._shutdown_hook,
                                  self._settings.propagate_context)
        wrap_function_wrapper(_BASE_CLIENT, "SyncAPIClient.request", interceptor.sync_request)
        wrap_function_wrapper(_BASE_CLIENT, "AsyncAPIClient.request", interceptor.async_request)
        self._shadowing = hook_shadowing_subclasses(interceptor)

    def _uninstrument(self, **kwargs: Any) -> None:
        import openai._base_client as base_client

        unwrap(base_client.SyncAPIClient, "request")
        unwrap(base_client.AsyncAPIClient, "request")
        for cls in self._shadowing:
            unwrap(cls, "request")
        self._shadowing = []
        if self._shutdown_hook is not None:
            self._shutdown_hook.close()
            self._shutdown_hook = None
        self._end_open_runs()
        if self._tracker is not None:
            self._tracker.own_requests.close()
        self._tracker = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Wait until the instrumentation's own pending requests (run look-ups, step fetches) are
        answered and their spans made; False if ``timeout_millis`` passed first."""
        tracker = self._tracker
        if tracker is None:
            return True
        try:
            return tracker.own_requests.flush(timeout_millis / 1000)
        except Exception as error:
            report("force_flush", error)
            return False

    def _end_open_runs(self) -> None:
        tracker = self._tracker
        if tracker is None:
            return
        try:
            drain_dropped()  # streams collected inside a garbage collection: each ends on its own terms
            tracker.end_all(SHUTDOWN_BUDGET_S)
        except Exception as error:
            report("end_all", error)
