"""The run state machine: scenario-driven statuses, run steps and the assistant's messages.

A run advances in segments: from creation (or a tool-output submission) to its next stop, which is
either `requires_action` or its outcome. A segment is a generator that mutates the run and yields
the stream events that describe each mutation; it is driven either by a streaming response, which
writes the events, or by polled retrieves, which discard them. Either way the store ends in the
same state, so a streamed run and its later retrieves agree.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field

from ..attributes import FILE_SEARCH_CONTENT
from .errors import bad_request, missing, server_error
from .objects import new_message, text_part
from .scenario import Scenario
from .store import JsonObject, Store, ThreadRecord, new_id, now

TERMINAL = frozenset({"completed", "failed", "cancelled", "expired", "incomplete"})
ACTIVE = frozenset({"queued", "in_progress", "requires_action", "cancelling"})

# How often a held run re-checks for cancellation or expiry while a stream waits on it.
HOLD_TICK_S = 0.02

_ERROR_MESSAGES = {
    "server_error": "Sorry, something went wrong.",
    "rate_limit_exceeded": "Rate limit reached for requests. Please try again later.",
    "invalid_prompt": "Your prompt was flagged as potentially violating our usage policy.",
}
_MESSAGE_REASONS = {"failed": "run_failed", "cancelled": "run_cancelled", "expired": "run_expired"}
_CITIES = ("Paris", "London", "Tokyo", "Berlin", "Madrid", "Rome", "Oslo", "Lima")
_CODE = "print(sum(range(5)))"
_CODE_LOGS = "10\n"


@dataclass(frozen=True)
class Event:
    """A stream event; `data` is the JSON snapshot taken when the event happened."""

    name: str
    data: str

    @classmethod
    def of(cls, name: str, obj: JsonObject) -> Event:
        return cls(name, json.dumps(obj))


@dataclass(frozen=True)
class Pause:
    """Streams sleep here with the store unlocked; `hold` marks a run that waits indefinitely."""

    seconds: float
    hold: bool = False


Item = Event | Pause
Segment = Generator[Item, None, None]


def wants_file_search_content(include: Iterable[str]) -> bool:
    return FILE_SEARCH_CONTENT in include


def step_view(step: JsonObject, include_content: bool) -> JsonObject:
    """A step as answered: file_search result content only when it was asked for via `include`."""
    if include_content or step["type"] != "tool_calls":
        return step
    view = dict(step)
    details = step["step_details"]
    calls = [tool_call_view(call, include_content) for call in details["tool_calls"]]
    view["step_details"] = {**details, "tool_calls": calls}
    return view


def tool_call_view(call: JsonObject, include_content: bool) -> JsonObject:
    """A file_search tool call without result content unless `include` asked for it."""
    view = copy.deepcopy(call)
    if not include_content and view["type"] == "file_search":
        for result in view["file_search"].get("results") or []:
            result.pop("content", None)
    return view


def split_evenly(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if index < extra else 0) for index in range(parts)]


def split_text(text: str, parts: int) -> list[str]:
    return [text[len(text) * index // parts : len(text) * (index + 1) // parts] for index in range(parts)]


def usage_object(prompt: int, completion: int) -> JsonObject:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@dataclass
class RunState:
    run: JsonObject
    scenario: Scenario
    thread: ThreadRecord
    assistant: JsonObject
    include_content: bool = False
    steps: dict[str, JsonObject] = field(default_factory=dict)
    # Non-final answers given in the current segment; the create/submit response is the first.
    answers: int = 1
    rounds_done: int = 0
    poll_errors_left: int = 0
    usage_shares: list[tuple[int, int]] = field(default_factory=list)
    waiting_step: JsonObject | None = None
    message: JsonObject | None = None
    gen: Segment | None = None
    streaming: int = 0
    cancel_requested: bool = False
    error_sent: bool = False

    @property
    def status(self) -> str:
        return str(self.run["status"])

    def next_usage(self) -> JsonObject | None:
        if not self.usage_shares:
            return None
        prompt, completion = self.usage_shares.pop(0)
        return usage_object(prompt, completion)


class RunStream:
    """The events of one streaming response. Reading takes the store lock one event at a time."""

    def __init__(self, engine: RunEngine, state: RunState, prelude: list[Event]) -> None:
        # Called with the lock held: polled retrieves leave a run alone while it streams.
        state.streaming += 1
        self._engine = engine
        self._state = state
        self._prelude = prelude
        self._closed = False
        # The segment this response streams. Once a tool-output submission starts the next segment,
        # that one belongs to the submission's own response, not to this one still being read.
        self._gen = state.gen

    def __iter__(self) -> Iterator[Item]:
        yield from self._prelude
        state = self._state
        gen = self._gen
        while True:
            with self._engine.store.lock:
                if gen is None or state.gen is not gen:
                    return
                item = next(gen, None)
                if item is None:
                    if state.gen is gen:
                        state.gen = None
                    return
            yield item

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with self._engine.store.lock:
                self._state.streaming -= 1


class RunEngine:
    """Creates and advances runs. Every method except RunStream iteration expects the store lock held."""

    def __init__(self, store: Store, stopping: threading.Event) -> None:
        self.store = store
        self.stopping = stopping

    # --- client actions ---------------------------------------------------------------------

    def create(
        self,
        *,
        thread: ThreadRecord,
        assistant: JsonObject,
        body: JsonObject,
        scenario: Scenario,
        include_content: bool,
    ) -> RunState:
        created = now()
        instructions = body.get("instructions")
        if instructions is None:
            instructions = assistant.get("instructions") or ""
        extra = body.get("additional_instructions")
        if extra:
            instructions = f"{instructions}\n\n{extra}" if instructions else extra
        tools = body.get("tools")
        if tools is None:
            tools = assistant.get("tools") or []
        if scenario.builtin and not any(isinstance(t, dict) and t.get("type") == scenario.builtin for t in tools):
            tools = [*tools, {"type": scenario.builtin}]  # a run only uses a built-in tool it has
        run: JsonObject = {
            "id": new_id("run_"),
            "object": "thread.run",
            "created_at": created,
            "assistant_id": assistant["id"],
            "thread_id": thread.thread["id"],
            "status": "queued",
            "started_at": None,
            "expires_at": created + scenario.expires_in,
            "cancelled_at": None,
            "failed_at": None,
            "completed_at": None,
            "required_action": None,
            "last_error": None,
            "model": body.get("model") or assistant["model"],
            "instructions": instructions,
            "tools": tools,
            "metadata": body.get("metadata") or {},
            "incomplete_details": None,
            "usage": None,
            "temperature": _first_set(body.get("temperature"), assistant.get("temperature"), 1.0),
            "top_p": _first_set(body.get("top_p"), assistant.get("top_p"), 1.0),
            "max_prompt_tokens": body.get("max_prompt_tokens"),
            "max_completion_tokens": body.get("max_completion_tokens"),
            "truncation_strategy": body.get("truncation_strategy") or {"type": "auto", "last_messages": None},
            "response_format": _first_set(body.get("response_format"), assistant.get("response_format"), "auto"),
            "tool_choice": _first_set(body.get("tool_choice"), "auto"),
            "parallel_tool_calls": _first_set(body.get("parallel_tool_calls"), True),
        }
        prompt, completion = scenario.usage
        parts = scenario.step_count
        state = RunState(
            run=run,
            scenario=scenario,
            thread=thread,
            assistant=assistant,
            include_content=include_content,
            poll_errors_left=scenario.poll_errors,
            usage_shares=list(zip(split_evenly(prompt, parts), split_evenly(completion, parts), strict=True)),
        )
        thread.runs[run["id"]] = state
        state.gen = self._guarded(state, self._segment(state, first=True))
        return state

    def stream(self, state: RunState, prelude: list[Event] | None = None) -> RunStream:
        return RunStream(self, state, prelude or [])

    def refresh(self, state: RunState) -> None:
        """Expire a run read after its `expires_at` (the real service does this in the background)."""
        if state.streaming or state.status in TERMINAL:
            return
        expires_at = state.run["expires_at"]
        if expires_at is not None and time.time() > expires_at:
            self._close(state)
            self.finish(state, "expired")

    def retrieve(self, state: RunState) -> None:
        if state.poll_errors_left > 0:
            state.poll_errors_left -= 1
            raise server_error()
        self.refresh(state)
        if state.streaming:
            return
        if state.status == "cancelling":
            self._close(state)
            self.finish(state, "cancelled")
            return
        if state.status not in ("queued", "in_progress"):
            return
        if state.scenario.hold:
            self._drain(state)
        elif state.answers < state.scenario.polls:
            state.answers += 1
            if state.status == "queued":
                self._drain(state, until="thread.run.in_progress")
        else:
            self._drain(state)

    def cancel(self, state: RunState) -> None:
        self.refresh(state)
        if state.status in TERMINAL:
            raise bad_request(f"Cannot cancel run with status '{state.status}'.")
        if state.status != "cancelling":
            state.run["status"] = "cancelling"
            state.cancel_requested = True

    def submit_tool_outputs(self, state: RunState, body: JsonObject) -> None:
        self.refresh(state)
        step = state.waiting_step
        if state.status != "requires_action" or step is None:
            raise bad_request(f'Runs in status "{state.status}" do not accept tool outputs.')
        outputs = body.get("tool_outputs")
        if not isinstance(outputs, list):
            raise missing("tool_outputs")
        given: dict[str, str] = {}
        for output in outputs:
            if not isinstance(output, dict) or not isinstance(output.get("tool_call_id"), str):
                raise bad_request("Each tool output needs a 'tool_call_id'.", "tool_outputs")
            given[output["tool_call_id"]] = str(output.get("output") or "")
        calls = step["step_details"]["tool_calls"]
        required = [call["id"] for call in calls]
        if sorted(required) != sorted(given):
            raise bad_request(f"Expected tool outputs for call_ids {required}, got {list(given)}.", "tool_outputs")
        for call in calls:
            call["function"]["output"] = given[call["id"]]
        state.run["status"] = "queued"
        state.run["required_action"] = None
        state.answers = 1
        state.gen = self._guarded(state, self._segment(state, first=False))

    # --- finishing --------------------------------------------------------------------------

    def finish(self, state: RunState, status: str, *, code: str | None = None) -> list[Event]:
        """Put the run in a terminal status, settling whatever step and message were in flight."""
        at = now()
        run = state.run
        events: list[Event] = []
        message = state.message
        if message is not None and message["status"] == "in_progress":
            message["status"] = "incomplete"
            message["incomplete_at"] = at
            message["incomplete_details"] = {"reason": _MESSAGE_REASONS.get(status, "run_failed")}
            events.append(Event.of("thread.message.incomplete", message))
        error = None
        if status == "failed":
            code = code or "server_error"
            error = {"code": code, "message": _ERROR_MESSAGES.get(code, f"The run failed ({code}).")}
        for step in state.steps.values():
            if step["status"] != "in_progress":
                continue
            if step is state.waiting_step and _outputs_submitted(step):
                events.append(self._complete_step(state, step))
                continue
            step["status"] = status if status in _MESSAGE_REASONS else "completed"
            if status == "failed":
                step["failed_at"] = at
                step["last_error"] = error
            elif status == "cancelled":
                step["cancelled_at"] = at
            elif status == "expired":
                step["expired_at"] = at
            events.append(self._step_event(state, f"thread.run.step.{step['status']}", step))
        state.waiting_step = None
        state.message = None
        run["status"] = status
        run["required_action"] = None
        if status == "failed":
            run["failed_at"] = at
            run["last_error"] = error
        elif status == "cancelled":
            run["cancelled_at"] = at
        elif status in ("completed", "incomplete"):
            run["completed_at"] = at
            run["usage"] = usage_object(*state.scenario.usage)
            if status == "incomplete":
                run["incomplete_details"] = {"reason": state.scenario.incomplete_reason}
        events.append(Event.of(f"thread.run.{status}", run))
        return events

    # --- segments ---------------------------------------------------------------------------

    def _guarded(self, state: RunState, inner: Segment) -> Segment:
        """Stop a streaming segment when a cancel request arrives between two of its events."""
        try:
            for item in inner:
                yield item
                if state.cancel_requested and state.status == "cancelling":
                    inner.close()
                    yield Event.of("thread.run.cancelling", state.run)
                    yield from self.finish(state, "cancelled")
                    return
        finally:
            inner.close()

    def _segment(self, state: RunState, *, first: bool) -> Segment:
        scenario = state.scenario
        run = state.run
        if first:
            yield Event.of("thread.run.created", run)
        yield Event.of("thread.run.queued", run)
        run["status"] = "in_progress"
        if run["started_at"] is None:
            run["started_at"] = now()
        # Snapshot before settling the submitted tool step, so the events keep the real order.
        events = [Event.of("thread.run.in_progress", run)]
        if state.waiting_step is not None:
            events.append(self._complete_step(state, state.waiting_step))
            state.waiting_step = None
        yield from events
        if scenario.stream_error and state.streaming and not state.error_sent:
            state.error_sent = True
            error = {"message": _ERROR_MESSAGES["server_error"], "type": "server_error", "param": None}
            yield Event("error", json.dumps({"error": {**error, "code": "server_error"}}))
            # The stream ends at the error; the run is failed for whoever looks next.
            self.finish(state, "failed", code="server_error")
            return
        if scenario.hold:
            yield from self._hold(state)
            return
        if first and scenario.preamble:
            yield from self._preamble(state, scenario.preamble)
        if first and scenario.builtin:
            yield from self._builtin_step(state)
        if state.rounds_done < scenario.tool_rounds:
            yield from self._function_round(state)
        else:
            yield from self._final(state)

    def _hold(self, state: RunState) -> Segment:
        while not self.stopping.is_set():
            expires_at = state.run["expires_at"]
            if state.streaming and expires_at is not None and time.time() > expires_at:
                yield from self.finish(state, "expired")
                return
            yield Pause(HOLD_TICK_S, hold=True)

    def _builtin_step(self, state: RunState) -> Segment:
        step = self._new_step(state, {"type": "tool_calls", "tool_calls": []})
        yield self._step_event(state, "thread.run.step.created", step)
        yield self._step_event(state, "thread.run.step.in_progress", step)
        call_id = new_id("call_")
        if state.scenario.builtin == "code_interpreter":
            outputs = [{"type": "logs", "logs": _CODE_LOGS}]
            call: JsonObject = {
                "id": call_id,
                "type": "code_interpreter",
                "code_interpreter": {"input": _CODE, "outputs": outputs},
            }
            deltas: list[JsonObject] = [
                {
                    "index": 0,
                    "id": call_id,
                    "type": "code_interpreter",
                    "code_interpreter": {"input": _CODE, "outputs": []},
                },
                {"index": 0, "type": "code_interpreter", "code_interpreter": {"outputs": [{"index": 0, **outputs[0]}]}},
            ]
        else:
            call = {
                "id": call_id,
                "type": "file_search",
                "file_search": {
                    "ranking_options": {"ranker": "default_2024_08_21", "score_threshold": 0.0},
                    "results": self._search_results(state),
                },
            }
            # The whole result in one delta, so event handlers' tool call snapshots carry it.
            deltas = [tool_call_view(call, state.include_content) | {"index": 0}]
        step["step_details"]["tool_calls"].append(call)
        for delta in deltas:
            yield self._step_delta(step, delta)
        yield self._complete_step(state, step)

    def _function_round(self, state: RunState) -> Segment:
        scenario = state.scenario
        run = state.run
        step = self._new_step(state, {"type": "tool_calls", "tool_calls": []})
        yield self._step_event(state, "thread.run.step.created", step)
        yield self._step_event(state, "thread.run.step.in_progress", step)
        name = scenario.tool_name or _first_function_name(run["tools"]) or "get_weather"
        required: list[JsonObject] = []
        for index in range(scenario.tools):
            call_id = new_id("call_")
            city = _CITIES[(state.rounds_done * scenario.tools + index) % len(_CITIES)]
            arguments = json.dumps({"city": city})
            step["step_details"]["tool_calls"].append(
                {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments, "output": None}}
            )
            required.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
            yield self._step_delta(
                step,
                {
                    "index": index,
                    "id": call_id,
                    "type": "function",
                    "function": {"name": name, "arguments": "", "output": None},
                },
            )
            yield self._step_delta(step, {"index": index, "type": "function", "function": {"arguments": arguments}})
        state.rounds_done += 1
        state.waiting_step = step
        run["status"] = "requires_action"
        run["required_action"] = {"type": "submit_tool_outputs", "submit_tool_outputs": {"tool_calls": required}}
        yield Event.of("thread.run.requires_action", run)

    def _open_message(self, state: RunState) -> Generator[Item, None, tuple[JsonObject, JsonObject]]:
        """Start an assistant message and the message_creation step that writes it."""
        run = state.run
        message = new_message(
            run["thread_id"],
            role="assistant",
            content=[],
            run_id=run["id"],
            assistant_id=run["assistant_id"],
            status="in_progress",
        )
        state.thread.messages[message["id"]] = message
        state.message = message
        step = self._new_step(state, {"type": "message_creation", "message_creation": {"message_id": message["id"]}})
        yield self._step_event(state, "thread.run.step.created", step)
        yield self._step_event(state, "thread.run.step.in_progress", step)
        yield Event.of("thread.message.created", message)
        yield Event.of("thread.message.in_progress", message)
        return message, step

    def _write(self, state: RunState, message: JsonObject, text: str) -> Segment:
        """Put `text` into the message, streamed as the scenario's message deltas."""
        scenario = state.scenario
        delay = scenario.delta_delay_ms / 1000
        for index, piece in enumerate(split_text(text, scenario.deltas)):
            if index and delay:
                yield Pause(delay)
            _append_text(message, piece)
            delta_text: JsonObject = {"value": piece}
            if index == 0:
                delta_text["annotations"] = []
            yield Event.of(
                "thread.message.delta",
                {
                    "id": message["id"],
                    "object": "thread.message.delta",
                    "delta": {"content": [{"index": 0, "type": "text", "text": delta_text}]},
                },
            )
        if scenario.deltas == 0:
            _append_text(message, text)

    def _preamble(self, state: RunState, text: str) -> Segment:
        """What the assistant says before it calls any tool: a whole message in a step of its own."""
        message, step = yield from self._open_message(state)
        yield from self._write(state, message, text)
        message["status"] = "completed"
        message["completed_at"] = now()
        yield Event.of("thread.message.completed", message)
        state.message = None
        yield self._complete_step(state, step)

    def _final(self, state: RunState) -> Segment:
        scenario = state.scenario
        run = state.run
        message, step = yield from self._open_message(state)
        outcome = scenario.outcome
        if outcome in ("failed", "expired"):
            yield from self.finish(state, outcome, code=scenario.error_code)
            return
        if outcome == "cancelled":
            run["status"] = "cancelling"
            yield Event.of("thread.run.cancelling", run)
            if state.streaming:
                yield from self.finish(state, "cancelled")
            # Otherwise the next retrieve completes the cancellation.
            return
        text = scenario.text if outcome == "completed" else scenario.text[: max(1, len(scenario.text) // 2)]
        yield from self._write(state, message, text)
        at = now()
        if outcome == "completed":
            message["status"] = "completed"
            message["completed_at"] = at
            yield Event.of("thread.message.completed", message)
        else:
            message["status"] = "incomplete"
            message["incomplete_at"] = at
            message["incomplete_details"] = {"reason": "max_tokens"}
            yield Event.of("thread.message.incomplete", message)
        state.message = None
        yield self._complete_step(state, step)
        yield from self.finish(state, outcome)

    # --- helpers ----------------------------------------------------------------------------

    def _drain(self, state: RunState, until: str | None = None) -> None:
        """Advance a polled run, discarding events, up to `until`, a hold, or the segment's end."""
        while state.gen is not None:
            gen = state.gen
            item = next(gen, None)
            if item is None:
                if state.gen is gen:
                    state.gen = None
                return
            if isinstance(item, Pause):
                if item.hold:
                    return
            elif item.name == until:
                return

    def _close(self, state: RunState) -> None:
        gen, state.gen = state.gen, None
        if gen is not None:
            gen.close()

    def _new_step(self, state: RunState, details: JsonObject) -> JsonObject:
        run = state.run
        step: JsonObject = {
            "id": new_id("step_"),
            "object": "thread.run.step",
            "created_at": now(),
            "run_id": run["id"],
            "assistant_id": run["assistant_id"],
            "thread_id": run["thread_id"],
            "type": details["type"],
            "status": "in_progress",
            "cancelled_at": None,
            "completed_at": None,
            "expired_at": None,
            "failed_at": None,
            "last_error": None,
            "step_details": details,
            "usage": None,
            "metadata": {},
        }
        state.steps[step["id"]] = step
        return step

    def _complete_step(self, state: RunState, step: JsonObject) -> Event:
        step["status"] = "completed"
        step["completed_at"] = now()
        step["usage"] = state.next_usage()
        return self._step_event(state, "thread.run.step.completed", step)

    def _step_event(self, state: RunState, name: str, step: JsonObject) -> Event:
        return Event.of(name, step_view(step, state.include_content))

    def _step_delta(self, step: JsonObject, tool_call_delta: JsonObject) -> Event:
        delta = {"step_details": {"type": "tool_calls", "tool_calls": [tool_call_delta]}}
        return Event.of("thread.run.step.delta", {"id": step["id"], "object": "thread.run.step.delta", "delta": delta})

    def _search_results(self, state: RunState) -> list[JsonObject]:
        """Two hits, taken from the files the run can see when there are any."""
        store_ids: list[str] = []
        for owner in (state.thread.thread, state.assistant):
            resources = owner.get("tool_resources") or {}
            store_ids.extend((resources.get("file_search") or {}).get("vector_store_ids") or [])
        file_ids = [
            fid for sid in store_ids if sid in self.store.vector_stores for fid in self.store.vector_stores[sid].files
        ]
        file_ids += [fid for fid in self.store.files if fid not in file_ids]
        results = []
        for index, score in enumerate((0.92, 0.71)):
            file_id = file_ids[index] if index < len(file_ids) else f"file-emulated{index + 1}"
            record = self.store.files.get(file_id)
            name = record.file["filename"] if record else f"emulated-{index + 1}.txt"
            results.append(
                {
                    "file_id": file_id,
                    "file_name": name,
                    "score": score,
                    "content": [{"type": "text", "text": f"Excerpt {index + 1} of {name}."}],
                }
            )
        return results


def _first_set(*values: object) -> object:
    for value in values:
        if value is not None:
            return value
    return None


def _first_function_name(tools: list[JsonObject]) -> str | None:
    for tool in tools:
        if isinstance(tool, dict) and tool.get("type") == "function":
            name = (tool.get("function") or {}).get("name")
            if name:
                return str(name)
    return None


def _outputs_submitted(step: JsonObject) -> bool:
    calls = step["step_details"]["tool_calls"]
    return bool(calls) and all(call.get("function", {}).get("output") is not None for call in calls)


def _append_text(message: JsonObject, piece: str) -> None:
    if not message["content"]:
        message["content"].append(text_part(""))
    message["content"][0]["text"]["value"] += piece
