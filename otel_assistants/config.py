"""Settings: each one an environment variable and an ``instrument()`` keyword; the keyword wins."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from enum import Enum
from typing import Any

logger = logging.getLogger(__name__)

ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_MAX_CONTENT_LENGTH = "OTEL_ASSISTANTS_MAX_CONTENT_LENGTH"
ENV_RUN_STEPS = "OTEL_ASSISTANTS_RUN_STEPS"
ENV_MAX_TRACKED_RUNS = "OTEL_ASSISTANTS_MAX_TRACKED_RUNS"
ENV_ADOPT_RUNS = "OTEL_ASSISTANTS_ADOPT_RUNS"
ENV_PROPAGATE_CONTEXT = "OTEL_ASSISTANTS_PROPAGATE_CONTEXT"

RUN_STEP_MODES = ("fetch", "observed", "off")


class CaptureMode(Enum):
    """Where captured content goes; false when it goes nowhere (nothing is then even read).
    The values are those of the OpenTelemetry GenAI instrumentations."""

    OFF = "false"
    SPAN_ONLY = "span_only"
    EVENT_ONLY = "event_only"
    SPAN_AND_EVENT = "span_and_event"

    def __bool__(self) -> bool:
        return self is not CaptureMode.OFF

    @property
    def on_spans(self) -> bool:
        return self in (CaptureMode.SPAN_ONLY, CaptureMode.SPAN_AND_EVENT)

    @property
    def as_events(self) -> bool:
        return self in (CaptureMode.EVENT_ONLY, CaptureMode.SPAN_AND_EVENT)


@dataclass(frozen=True)
class Settings:
    capture_content: CaptureMode = CaptureMode.OFF
    max_content_length: int = 8192
    run_steps: str = "fetch"
    max_tracked_runs: int = 10000
    adopt_runs: bool = False
    propagate_context: bool = False

    @classmethod
    def resolve(cls, **keywords: Any) -> Settings:
        """Keyword, else environment, else default; a bad value falls back to the default with a warning."""
        defaults = cls()
        capture = _pick(keywords, "capture_content", ENV_CAPTURE_CONTENT, _to_capture_mode,
                        defaults.capture_content)
        length = _pick(keywords, "max_content_length", ENV_MAX_CONTENT_LENGTH, _to_positive_int,
                       defaults.max_content_length)
        steps = _pick(keywords, "run_steps", ENV_RUN_STEPS, _to_run_steps, defaults.run_steps)
        cap = _pick(keywords, "max_tracked_runs", ENV_MAX_TRACKED_RUNS, _to_positive_int,
                    defaults.max_tracked_runs)
        adopt = _pick(keywords, "adopt_runs", ENV_ADOPT_RUNS, _to_bool, defaults.adopt_runs)
        propagate = _pick(keywords, "propagate_context", ENV_PROPAGATE_CONTEXT, _to_bool, defaults.propagate_context)
        return cls(capture_content=capture, max_content_length=length, run_steps=steps, max_tracked_runs=cap,
                   adopt_runs=adopt, propagate_context=propagate)


def _pick(keywords: dict[str, Any], key: str, env: str, convert: Any, default: Any) -> Any:
    raw = keywords.get(key)
    source = key
    if raw is None:
        raw = os.environ.get(env)
        source = env
    if raw is None or raw == "":
        return default
    try:
        return convert(raw)
    except (TypeError, ValueError):
        logger.warning("otel_assistants: ignoring invalid %s=%r, using %r", source, raw, default)
        return default


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off"):
        return False
    raise ValueError(value)


def _to_capture_mode(value: Any) -> CaptureMode:
    """A mode by name, or a boolean: true is ``span_only``."""
    if isinstance(value, CaptureMode):
        return value
    if not isinstance(value, bool):
        try:
            return CaptureMode(str(value).strip().lower())
        except ValueError:
            pass
    return CaptureMode.SPAN_ONLY if _to_bool(value) else CaptureMode.OFF


def _to_positive_int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(value)
    number = int(value)
    if number <= 0:
        raise ValueError(value)
    return number


def _to_run_steps(value: Any) -> str:
    text = str(value).strip().lower()
    if text not in RUN_STEP_MODES:
        raise ValueError(value)
    return text
