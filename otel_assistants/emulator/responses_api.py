"""The Responses API endpoints (`POST /responses`, `GET /responses/{id}`), for rehearsing a migration.

Apps moving off the Assistants API call ``client.responses.create``; the emulator answers those
calls too, so both kinds of traffic can run side by side against one server. A response reaches its
outcome at once: there is no background mode, no tool calling and no conversation state.

A response follows a scenario (see :mod:`otel_assistants.emulator.scenario`) taken from the
request's ``metadata["scenario"]``, else the emulator's default. Only these keys apply:

=================  ==========================  ================================================
key                default                     effect
=================  ==========================  ================================================
outcome            completed                   completed | failed (``error`` set, HTTP 200) |
                                               incomplete (``max_output_tokens``)
error_code         server_error                ``error.code`` of a failed response
http_status        (none)                      the call answers this status (400-599)
usage              100,20                      input,output tokens
text               Hello from the emulator.    the output text (an incomplete response has
                                               its first half)
deltas             3                           ``response.output_text.delta`` events
delta_delay_ms     0                           pause between streamed text deltas
=================  ==========================  ================================================

Another key in the request's own scenario is answered with HTTP 400; in the emulator's default
scenario (shared with runs) the other keys are ignored.

The shapes follow the SDK's ``openai.types.responses`` models from the first SDK release with the
Responses API (1.66) to the newest: every field a release requires is present, and fields a
release does not know are accepted by its models.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import fields
from typing import Any

from .errors import bad_request, missing, not_found, simulated_status
from .runs import Event, Item, Pause, split_text
from .scenario import Scenario, ScenarioError, parse_scenario
from .store import JsonObject, Store, new_id, now

# Scenario keys that mean something for a response, and the outcomes one can have.
KEYS = frozenset({"outcome", "error_code", "http_status", "usage", "text", "deltas", "delta_delay_ms"})
OUTCOMES = ("completed", "failed", "incomplete")
_DEFAULTS = Scenario()


def _given(scenario: Scenario) -> set[str]:
    """Keys whose value differs from the default: the ones a scenario string set."""
    return {f.name for f in fields(Scenario) if getattr(scenario, f.name) != getattr(_DEFAULTS, f.name)}


def response_scenario(source: str, *, strict: bool) -> Scenario:
    """The scenario of one response; with ``strict`` a key that does not apply is an error."""
    scenario = parse_scenario(source)
    foreign = _given(scenario) - KEYS
    if foreign and strict:
        raise ScenarioError(f"scenario keys {', '.join(sorted(foreign))} do not apply to responses")
    kept = {name: getattr(scenario, name) for name in KEYS}
    if kept["outcome"] not in OUTCOMES:
        if strict:
            raise ScenarioError(f"a response's outcome must be one of {', '.join(OUTCOMES)}; got '{kept['outcome']}'")
        kept["outcome"] = "completed"
    return Scenario(**kept)


def _usage(scenario: Scenario) -> JsonObject:
    input_tokens, output_tokens = scenario.usage
    return {
        "input_tokens": input_tokens,
        # Required by newer SDK releases; older ones accept the extra fields.
        "input_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "output_tokens": output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": input_tokens + output_tokens,
    }


def _text_part(text: str) -> JsonObject:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


class ResponsesApi:
    """Creates responses and keeps them for retrieval. Handlers run with the store lock held."""

    def __init__(self, store: Store, default_scenario: Callable[[], str]) -> None:
        self.store = store
        self._default_scenario = default_scenario

    def _scenario(self, body: JsonObject) -> Scenario:
        metadata = body.get("metadata") or {}
        strict = isinstance(metadata, dict) and "scenario" in metadata
        source = str(metadata["scenario"]) if strict else self._default_scenario()
        try:
            scenario = response_scenario(source, strict=strict)
        except ScenarioError as error:
            raise bad_request(str(error), "metadata.scenario") from None
        if scenario.http_status is not None:
            raise simulated_status(scenario.http_status)
        return scenario

    def create(self, body: JsonObject) -> tuple[JsonObject, Iterator[Item] | None]:
        """The finished response and, for ``stream=True``, the events that lead to it."""
        if not body.get("model"):
            raise missing("model")
        stream = body.get("stream")
        if stream not in (None, True, False):
            raise bad_request("Invalid value for 'stream': expected a boolean.", "stream")
        scenario = self._scenario(body)
        started = self._response(body, "in_progress")
        final = self._finish(started, scenario)
        self.store.responses[final["id"]] = final
        return final, (_events(started, final, scenario) if stream else None)

    def retrieve(self, response_id: str) -> JsonObject:
        response = self.store.responses.get(response_id)
        if response is None:
            raise not_found("response", response_id)
        return response

    @staticmethod
    def _response(body: JsonObject, status: str) -> JsonObject:
        return {
            "id": new_id("resp_", 48),
            "object": "response",
            "created_at": now(),
            "status": status,
            "error": None,
            "incomplete_details": None,
            "instructions": body.get("instructions"),
            "max_output_tokens": body.get("max_output_tokens"),
            "metadata": body.get("metadata") or {},
            "model": body["model"],
            "output": [],
            "parallel_tool_calls": body.get("parallel_tool_calls", True),
            "previous_response_id": body.get("previous_response_id"),
            "reasoning": None,
            "temperature": body.get("temperature", 1.0),
            "text": {"format": {"type": "text"}},
            "tool_choice": body.get("tool_choice", "auto"),
            "tools": body.get("tools") or [],
            "top_p": body.get("top_p", 1.0),
            "truncation": body.get("truncation") or "disabled",
            "usage": None,
            "user": body.get("user"),
        }

    @staticmethod
    def _finish(started: JsonObject, scenario: Scenario) -> JsonObject:
        final = {**started, "status": scenario.outcome}
        if scenario.outcome == "failed":
            final["error"] = {"code": scenario.error_code, "message": "The model failed to generate a response."}
            return final
        text = scenario.text
        status = "completed"
        if scenario.outcome == "incomplete":
            text = text[: max(1, len(text) // 2)]
            status = "incomplete"
            final["incomplete_details"] = {"reason": "max_output_tokens"}
        final["output"] = [
            {
                "id": new_id("msg_", 48),
                "type": "message",
                "role": "assistant",
                "status": status,
                "content": [_text_part(text)],
            }
        ]
        final["usage"] = _usage(scenario)
        return final


def _events(started: JsonObject, final: JsonObject, scenario: Scenario) -> Iterator[Item]:
    """The server-sent events of a streamed response, in the order the API sends them."""
    sequence = iter(range(1_000_000))

    def event(kind: str, **data: Any) -> Event:
        return Event.of(kind, {"type": kind, "sequence_number": next(sequence), **data})

    yield event("response.created", response=started)
    yield event("response.in_progress", response=started)
    if final["status"] == "failed":
        yield event("response.failed", response=final)
        return
    done = final["output"][0]
    text = done["content"][0]["text"]
    at = {"item_id": done["id"], "output_index": 0}
    yield event("response.output_item.added", output_index=0, item={**done, "status": "in_progress", "content": []})
    yield event("response.content_part.added", **at, content_index=0, part=_text_part(""))
    delay = scenario.delta_delay_ms / 1000
    for index, piece in enumerate(split_text(text, scenario.deltas)):
        if index and delay:
            yield Pause(delay)
        yield event("response.output_text.delta", **at, content_index=0, delta=piece, logprobs=[])
    yield event("response.output_text.done", **at, content_index=0, text=text, logprobs=[])
    yield event("response.content_part.done", **at, content_index=0, part=done["content"][0])
    yield event("response.output_item.done", output_index=0, item=done)
    yield event(f"response.{final['status']}", response=final)
