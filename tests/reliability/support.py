"""Shared tools: span bookkeeping, log traps, and comparing what an app got with and without
the instrumentation."""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pydantic
from opentelemetry.context import Context
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from ..support.telemetry import Otel


class Ledger(SpanProcessor):
    """Counts, per span, how often it started and ended, to prove "ends exactly once"."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started: dict[int, str] = {}
        self.ends: Counter[int] = Counter()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        with self._lock:
            self.started[span.context.span_id] = span.name

    def on_end(self, span: ReadableSpan) -> None:
        with self._lock:
            self.ends[span.context.span_id] += 1

    def reset(self) -> None:
        with self._lock:
            self.started.clear()
            self.ends.clear()

    def open_spans(self) -> list[str]:
        with self._lock:
            return [name for span_id, name in self.started.items() if self.ends[span_id] == 0]

    def problems(self) -> list[str]:
        """Spans started and not ended exactly once, and spans ended that never started here."""
        with self._lock:
            wrong = [f"{name}: ended {self.ends[span_id]} times" for span_id, name in self.started.items()
                     if self.ends[span_id] != 1]
            strays = [f"span {span_id:x} ended without starting here" for span_id in self.ends
                      if span_id not in self.started]
        return wrong + strays

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class LogTrap(logging.Handler):
    """Collects the instrumentation's internal-error reports and the SDK's span misuse warnings
    ("Calling end() on an ended span", "Setting attribute on ended span")."""

    LOGGERS = ("otel_assistants", "opentelemetry.sdk.trace", "opentelemetry.attributes")

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._lock_records = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock_records:
            self.records.append(record)

    def messages(self) -> list[str]:
        """What went wrong, leaving out what is documented and counted: the instrumentation's own
        requests (step fetch, look-ups) failing because the server broke them."""
        with self._lock_records:
            found = []
            for record in self.records:
                error = record.exc_info[1] if record.exc_info else None
                if record.name == "otel_assistants.own_requests" and record.levelno == logging.DEBUG:
                    continue
                text = record.getMessage()
                if error is not None:
                    text += f" <- {type(error).__name__}: {error} at {_origin(error)}"
                found.append(text)
            return found

    def clear(self) -> None:
        with self._lock_records:
            self.records.clear()

    @contextmanager
    def installed(self) -> Iterator[LogTrap]:
        loggers = [logging.getLogger(name) for name in self.LOGGERS]
        levels = [logger.level for logger in loggers]
        for logger in loggers:
            logger.addHandler(self)
            logger.setLevel(logging.DEBUG)
        try:
            yield self
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.removeHandler(self)
                logger.setLevel(level)


def _origin(error: BaseException) -> str:
    """Where an exception was raised: the innermost frame of its traceback."""
    tb = error.__traceback__
    if tb is None:
        return "?"
    while tb.tb_next is not None:
        tb = tb.tb_next
    return f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"


class Watched(Otel):
    """The test harness's providers and instrumentor, plus a ledger of span starts and ends."""

    def __init__(self, **settings: Any) -> None:
        super().__init__(**settings)
        self.ledger = Ledger()
        self.tracer_provider.add_span_processor(self.ledger)

    @property
    def tracker(self) -> Any:
        return self.instrumentor.tracker

    def end_open_runs(self) -> None:
        """What provider shutdown does: every run still tracked is looked up, and ends."""
        self.tracker.end_all(2.0)


# ---- comparing outcomes -----------------------------------------------------------------

# Fresh per run of a flow: server ids (possibly cut short by a fault), timestamps, addresses.
_IDS = re.compile(r"(asst|thread|run|step|msg|call|vsfb|vs|req|file)[_-][A-Za-z0-9]*")
_LONG_NUMBERS = re.compile(r"\d{5,}")
_ADDRESSES = re.compile(r"0x[0-9a-fA-F]+")


def _encode(value: Any) -> Any:
    """json.dumps fallback: an SDK model as its class name and whatever its fields hold."""
    fields = getattr(value, "__dict__", None)
    if isinstance(value, pydantic.BaseModel) and isinstance(fields, dict):
        extra = getattr(value, "__pydantic_extra__", None) or {}
        return {"__class__": type(value).__name__, **fields, **extra}
    return f"<{type(value).__name__}>"


def plain(value: Any) -> Any:
    """An SDK result as plain JSON data (models included, whatever their fields hold)."""
    return json.loads(dumps(value))


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=_encode)


def error_shape(error: BaseException) -> str:
    cls = type(error)
    return f"raised {cls.__module__}.{cls.__qualname__}: {error}"


def normalized(text: str) -> str:
    text = _IDS.sub("<id>", text)
    text = _LONG_NUMBERS.sub("<n>", text)
    return _ADDRESSES.sub("0x?", text)


@dataclass
class Outcome:
    """What one run of a flow gave the app: a value, or the exception it raised."""

    value: Any = None
    error: BaseException | None = None

    def shape(self) -> str:
        if self.error is not None:
            return normalized(error_shape(self.error))
        return normalized(dumps(self.value))


def outcome_of(flow: Callable[[], Any]) -> Outcome:
    try:
        return Outcome(value=flow())
    except Exception as error:
        return Outcome(error=error)


def uninstrumented(flow: Callable[[], Any]) -> Outcome:
    """The flow with the instrumentation switched off the way the contract documents."""
    with suppress_instrumentation():
        return outcome_of(flow)


def run_spans(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    return [s for s in spans if (s.attributes or {}).get("gen_ai.operation.name") == "invoke_agent"]
