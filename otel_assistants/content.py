"""Opt-in content capture, in the GenAI semantic conventions' JSON message shapes.

Every captured value goes through ``Capture``: when capture is off it returns None for
everything, so no prompt, message, instruction, tool argument or output can reach telemetry.
``Capture.record`` hands what was built to the content sink, which puts it where the capture mode
says (span attributes, a log-record event, or both).

Each text is cut to ``limit`` characters and marked. A structured value (a message shape, a list of
file_search results, a tool output that is not a string) is cut inside, text by text, and only then
serialised, so what is recorded is always valid JSON. A value the API carries as one string (a
function's arguments or output, code, logs) is cut as that string, whatever it contains.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.trace import Span

from . import fields as f
from .config import CaptureMode
from .content_sink import ContentSink

TRUNCATION_MARK = "…[truncated]"


class Capture:
    __slots__ = ("enabled", "limit", "sink")

    def __init__(self, mode: CaptureMode | bool, limit: int, sink: ContentSink | None = None) -> None:
        if sink is None:  # no logger to emit events with
            sink = ContentSink(mode if isinstance(mode, CaptureMode) else
                               CaptureMode.SPAN_ONLY if mode else CaptureMode.OFF)
        self.sink = sink
        # Nothing is read when nothing would be recorded (off, or events the logs API cannot carry).
        self.enabled = bool(mode) and sink.active
        self.limit = limit

    def record(self, span: Span, values: dict[str, Any]) -> None:
        """Record captured values (attribute name to value, None for nothing) for the span."""
        self.sink.record(span, values)

    def cut(self, value: str) -> str:
        """At most ``limit`` characters of the value, marked when something was cut."""
        if len(value) <= self.limit:
            return value
        return value[: self.limit] + TRUNCATION_MARK

    def text(self, value: Any) -> str | None:
        """A value recorded as it is: a string cut as one text, anything else as JSON with its strings cut."""
        if not self.enabled or value is None:
            return None
        if isinstance(value, str):
            return self.cut(value)
        return _to_json(self._cut_strings(value))

    def search_results(self, results: list[Any]) -> str | None:
        """file_search results as a JSON list; each result's text is cut, never the list."""
        if not self.enabled or not results:
            return None
        return _to_json([self._search_result(result) for result in results])

    def system_instructions(self, *instructions: Any) -> str | None:
        if not self.enabled:
            return None
        parts = [self._text_part(text) for text in instructions if isinstance(text, str) and text]
        return _to_json(parts) if parts else None

    def input_messages(self, messages: Any) -> str | None:
        """Messages sent to the assistant: dicts from a request body or message objects."""
        if not self.enabled or not isinstance(messages, (list, tuple)):
            return None
        shaped = [self._message(message) for message in messages]
        shaped = [message for message in shaped if message is not None]
        return _to_json(shaped) if shaped else None

    def output_messages(self, messages: list[Any]) -> str | None:
        """The assistant's messages (Message objects or their JSON)."""
        if not self.enabled:
            return None
        shaped = []
        for message in messages:
            one = self._message(message)
            if one is None:
                continue
            status = f.text(message, "status")
            one["finish_reason"] = "stop" if status in (None, "completed") else status
            shaped.append(one)
        return _to_json(shaped) if shaped else None

    def _message(self, message: Any) -> dict[str, Any] | None:
        role = f.text(message, "role")
        if role is None:
            return None
        return {"role": role, "parts": self._parts(f.get(message, "content"))}

    def _parts(self, content: Any) -> list[dict[str, Any]]:
        if isinstance(content, str):
            return [self._text_part(content)]
        parts: list[dict[str, Any]] = []
        for part in content if isinstance(content, (list, tuple)) else []:
            kind = f.text(part, "type")
            if kind == "text":
                body = f.get(part, "text")
                value = body if isinstance(body, str) else f.text(body, "value")
                parts.append(self._text_part(value or ""))
            elif kind in ("image_file", "image_url"):
                detail = f.get(part, kind)
                reference = f.text(detail, "file_id") or f.text(detail, "url")
                parts.append({"type": kind, "content": self.cut(reference or "")})
        return parts

    def _text_part(self, text: str) -> dict[str, Any]:
        return {"type": "text", "content": self.cut(text)}

    def _search_result(self, result: Any) -> dict[str, Any]:
        shaped: dict[str, Any] = {"file_id": f.text(result, "file_id"), "file_name": f.text(result, "file_name"),
                                  "score": f.number(result, "score")}
        texts = [text for text in (f.text(part, "text") for part in f.items(result, "content")) if text]
        if texts:
            shaped["content"] = self.cut("\n".join(texts))
        return shaped

    def _cut_strings(self, value: Any) -> Any:
        """The value with every string in it cut; keys are its structure and are kept whole."""
        if isinstance(value, str):
            return self.cut(value)
        if isinstance(value, dict):
            return {str(key): self._cut_strings(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._cut_strings(item) for item in value]
        if value is None or isinstance(value, (bool, int, float)):
            return value
        return self.cut(str(value))  # what JSON cannot hold is recorded as its text


def _to_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
