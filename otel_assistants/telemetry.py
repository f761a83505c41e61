"""The tracer, the contract's instruments and where captured content goes, created once per ``instrument()``."""

from __future__ import annotations

import threading
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.metrics import NoOpMeter

from . import attributes as a
from .config import CaptureMode
from .content_sink import ContentSink, event_logger
from .totals import totals_for
from .version import __version__

SCOPE = "otel_assistants"
SCHEMA_URL = "https://opentelemetry.io/schemas/1.37.0"
AGENT_NAME_CAP = 50


def _histogram(meter: metrics.Meter, name: str, unit: str, description: str,
               buckets: tuple[float, ...]) -> metrics.Histogram:
    try:  # bucket advice arrived in opentelemetry-api 1.23
        return meter.create_histogram(name, unit=unit, description=description,
                                      explicit_bucket_boundaries_advisory=list(buckets))
    except TypeError:
        return meter.create_histogram(name, unit=unit, description=description)


class CappedValues:
    """Caps the distinct values of one metric attribute (50 for ``gen_ai.agent.name`` by contract;
    the same bound keeps server-sent strings such as statuses, error codes and models from
    growing the number of series without limit)."""

    def __init__(self, cap: int = AGENT_NAME_CAP) -> None:
        self._cap = cap
        self._seen: set[str] = set()
        self._lock = threading.Lock()

    def for_metrics(self, name: str | None) -> str | None:
        if name is None or name in self._seen:
            return name
        with self._lock:
            if len(self._seen) < self._cap:
                self._seen.add(name)
                return name
        return a.OTHER_VALUE


class Telemetry:
    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None, logger_provider: Any = None,
                 capture: CaptureMode = CaptureMode.OFF) -> None:
        self.tracer = trace.get_tracer(SCOPE, __version__, tracer_provider, schema_url=SCHEMA_URL)
        events = event_logger(SCOPE, __version__, logger_provider, SCHEMA_URL) if capture.as_events else None
        self.content = ContentSink(capture, events)
        meter = metrics.get_meter(SCOPE, __version__, meter_provider, schema_url=SCHEMA_URL)
        # A no-op meter (a NoOpMeterProvider given) keeps no point: nothing is built to record on it.
        # A proxy meter (the global provider not set yet) is not one: it may become real later.
        self.metered = not isinstance(meter, NoOpMeter)
        self.agent_names = CappedValues()
        self.error_codes = CappedValues()  # API codes given as openai.assistants.error.reason
        self._capped: dict[str, CappedValues] = {}
        self.run_points: dict[tuple[Any, ...], Any] = {}  # outcomes.RunPoints by kind of ended run
        # openai.assistants.runs and openai.assistants.runs.active: counted, read at collection.
        self.totals = totals_for(meter, meter_provider)
        self.run_duration = _histogram(meter, a.METRIC_RUN_DURATION, "s",
                                       "Run duration from creation to its observed end", a.DURATION_BUCKETS)
        self.queue_duration = _histogram(meter, a.METRIC_QUEUE_DURATION, "s",
                                         "Time a run waited before it started", a.DURATION_BUCKETS)
        self.run_polls = _histogram(meter, a.METRIC_RUN_POLLS, "{request}",
                                    "Retrieve requests seen per ended run", a.POLL_BUCKETS)
        self.step_duration = _histogram(meter, a.METRIC_STEP_DURATION, "s", "Run step duration",
                                        a.DURATION_BUCKETS)
        self.tool_duration = _histogram(meter, a.METRIC_TOOL_DURATION, "s", "Tool call duration",
                                        a.DURATION_BUCKETS)
        self.token_usage = _histogram(meter, a.METRIC_TOKEN_USAGE, "{token}", "Tokens used per run",
                                      a.TOKEN_BUCKETS)
        self.operation_duration = _histogram(meter, a.METRIC_OPERATION_DURATION, "s",
                                             "GenAI operation duration", a.DURATION_BUCKETS)
        self.own_requests = meter.create_counter(
            a.METRIC_OWN_REQUESTS, unit="{request}",
            description="The instrumentation's own API requests (run look-ups, step fetches), by outcome")
        self.time_to_first_chunk = _histogram(meter, a.METRIC_TIME_TO_FIRST_CHUNK, "s",
                                              "Time from request to the first message delta",
                                              a.DURATION_BUCKETS)
        self.ingestion_duration = _histogram(meter, a.METRIC_INGESTION_DURATION, "s",
                                             "Vector store ingestion job duration, from its create request to "
                                             "its observed end", a.DURATION_BUCKETS)
        self.ingestion_files = meter.create_counter(
            a.METRIC_INGESTION_FILES, unit="{file}",
            description="Files that reached a terminal ingestion status, by status")

    def capped(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """Metric attributes with every value that came from the server held to its cap."""
        for key, value in attributes.items():
            if isinstance(value, str) and key not in _FIXED:
                values = self._capped.get(key)
                if values is None:
                    values = self._capped.setdefault(key, CappedValues())
                attributes[key] = values.for_metrics(value)
        return attributes


# Attributes whose values come from this package, not from the server: nothing to cap.
# (error.reason: a closed set whose API codes error_reasons.py has already held to their cap.)
_FIXED = frozenset({a.PROVIDER_NAME, a.OPERATION_NAME, a.TOKEN_TYPE, a.TOOL_TYPE, a.SERVER_ADDRESS,
                    a.AGENT_NAME, a.ERROR_REASON})
