"""Scenario strings: `key=value` pairs separated by `;` that script how a run behaves.

A run takes its scenario from the run's ``metadata["scenario"]``, else the assistant's
``metadata["scenario"]``, else the emulator's default. Example:
``"tools=2;rounds=1;outcome=failed;error_code=rate_limit_exceeded"``. Whitespace around keys and
values is ignored, empty entries are skipped, a repeated key keeps its last value, and an unknown
key or bad value makes run creation answer HTTP 400.

=================  ==========================  ================================================
key                default                     effect
=================  ==========================  ================================================
outcome            completed                   completed | failed | expired | cancelled |
                                               incomplete, reached at the run's last stop
error_code         server_error                ``last_error.code`` of a failed run
incomplete_reason  max_completion_tokens       or max_prompt_tokens
polls              1                           non-final answers (create/submit included)
                                               before each stop
tools              0                           function calls per ``requires_action`` round
rounds             1 when tools > 0            number of ``requires_action`` rounds
tool_name          first function tool         name of the called function (else get_weather)
builtin            (none)                      code_interpreter | file_search step first
preamble           (none)                      a message the assistant writes first (cannot
                                               contain ``;``), in a message_creation step of
                                               its own before any tool step
expires_in         600                         seconds from creation to ``expires_at``
hold               0                           1: stays ``in_progress`` until cancelled/expired
usage              100,20                      prompt,completion tokens, split across steps
http_status        (none)                      run creation answers this status (400-599)
http_code          (none)                      the ``code`` of that answer's error body
                                               (429 without it: rate_limit_exceeded)
poll_errors        0                           first K retrieves of the run answer 500
deltas             3                           ``thread.message.delta`` events when streamed
text               Hello from the emulator.    the assistant's reply (cannot contain ``;``)
cut_after          (none)                      a stream stops after K events
cut_mode           close                       close: the body ends cleanly; abort: the
                                               connection drops mid-body (client error)
stream_error       0                           1: an ``error`` event after ``in_progress``
delta_delay_ms     0                           pause between streamed message deltas
=================  ==========================  ================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

OUTCOMES = ("completed", "failed", "expired", "cancelled", "incomplete")
BUILTINS = ("code_interpreter", "file_search")
INCOMPLETE_REASONS = ("max_completion_tokens", "max_prompt_tokens")
CUT_MODES = ("close", "abort")


class ScenarioError(ValueError):
    """The scenario string is malformed; answered as HTTP 400 at run creation."""


@dataclass(frozen=True)
class Scenario:
    outcome: str = "completed"
    error_code: str = "server_error"
    incomplete_reason: str = "max_completion_tokens"
    polls: int = 1
    tools: int = 0
    rounds: int | None = None
    tool_name: str | None = None
    builtin: str | None = None
    preamble: str | None = None
    expires_in: int = 600
    hold: bool = False
    usage: tuple[int, int] = (100, 20)
    http_status: int | None = None
    http_code: str | None = None
    poll_errors: int = 0
    deltas: int = 3
    text: str = "Hello from the emulator."
    cut_after: int | None = None
    cut_mode: str = "close"
    stream_error: bool = False
    delta_delay_ms: int = 0

    @property
    def tool_rounds(self) -> int:
        """Number of `requires_action` stops the run makes."""
        if self.tools == 0:
            return 0
        return 1 if self.rounds is None else self.rounds

    @property
    def step_count(self) -> int:
        """Steps a run that reaches its outcome records; usage is split across them."""
        return self.tool_rounds + (1 if self.builtin else 0) + (1 if self.preamble else 0) + 1


def _int(minimum: int, maximum: int | None = None) -> Callable[[str, str], int]:
    def convert(key: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ScenarioError(f"scenario key '{key}' expects an integer, got '{raw}'") from None
        if value < minimum or (maximum is not None and value > maximum):
            bound = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise ScenarioError(f"scenario key '{key}' must be {bound}, got {value}")
        return value

    return convert


def _choice(options: tuple[str, ...]) -> Callable[[str, str], str]:
    def convert(key: str, raw: str) -> str:
        if raw not in options:
            raise ScenarioError(f"scenario key '{key}' must be one of {', '.join(options)}; got '{raw}'")
        return raw

    return convert


def _flag(key: str, raw: str) -> bool:
    if raw not in ("0", "1"):
        raise ScenarioError(f"scenario key '{key}' must be 0 or 1, got '{raw}'")
    return raw == "1"


def _text(key: str, raw: str) -> str:
    if not raw:
        raise ScenarioError(f"scenario key '{key}' must not be empty")
    return raw


def _usage(key: str, raw: str) -> tuple[int, int]:
    parts = raw.split(",")
    if len(parts) != 2:
        raise ScenarioError(f"scenario key '{key}' expects 'prompt,completion', got '{raw}'")
    convert = _int(0)
    return convert(key, parts[0].strip()), convert(key, parts[1].strip())


_CONVERTERS: dict[str, Callable[[str, str], Any]] = {
    "outcome": _choice(OUTCOMES),
    "error_code": _text,
    "incomplete_reason": _choice(INCOMPLETE_REASONS),
    "polls": _int(1),
    "tools": _int(0, 128),
    "rounds": _int(1),
    "tool_name": _text,
    "builtin": _choice(BUILTINS),
    "preamble": _text,
    "expires_in": _int(0),
    "hold": _flag,
    "usage": _usage,
    "http_status": _int(400, 599),
    "http_code": _text,
    "poll_errors": _int(0),
    "deltas": _int(0),
    "text": _text,
    "cut_after": _int(0),
    "cut_mode": _choice(CUT_MODES),
    "stream_error": _flag,
    "delta_delay_ms": _int(0),
}

# Keep the grammar and the dataclass from drifting apart.
assert set(_CONVERTERS) == {f.name for f in fields(Scenario)}

KEYS = tuple(_CONVERTERS)


def parse_scenario(source: str | None) -> Scenario:
    """Parse a scenario string; empty or None gives the defaults. Raises ScenarioError."""
    values: dict[str, Any] = {}
    for pair in (source or "").split(";"):
        if not pair.strip():
            continue
        key, sep, raw = pair.partition("=")
        key = key.strip()
        if not sep:
            raise ScenarioError(f"scenario entry '{pair.strip()}' is not of the form key=value")
        if key not in _CONVERTERS:
            raise ScenarioError(f"unknown scenario key '{key}' (known keys: {', '.join(KEYS)})")
        values[key] = _CONVERTERS[key](key, raw.strip())
    if values.get("rounds") is not None and not values.get("tools"):
        raise ScenarioError("scenario key 'rounds' needs tools >= 1")
    return Scenario(**values)
