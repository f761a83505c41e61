"""Malformed server answers as hypothesis strategies, and the emulator hook that serves them.

A ``Plan`` says which answers of one app flow go wrong and how: "the 2nd JSON answer loses its
``status``", "the 7th stream event is renamed", "the stream is cut inside the 3rd event". Each
``Plan.mutator()`` is a fresh, deterministic ``Emulator.mutate`` hook, so two runs of the same flow
(uninstrumented, then instrumented) are served the same broken answers.
"""

from __future__ import annotations

import copy
import json
from collections import Counter
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from otel_assistants.emulator import DROP, SKIP, Exchange, Frames, Raw, Reply, Sse
from otel_assistants.emulator.faults import encode_sse

# After this many app requests in one flow every request is dropped: a plan can never make an
# app poll forever (an SDK poll helper loops until it sees a status it knows).
REQUEST_BUDGET = 12

RUN_STATUSES = ("queued", "in_progress", "requires_action", "cancelling", "cancelled", "failed", "completed",
                "incomplete", "expired")
EVENT_NAMES = (
    "thread.created", "thread.run.created", "thread.run.queued", "thread.run.in_progress",
    "thread.run.requires_action", "thread.run.completed", "thread.run.incomplete", "thread.run.failed",
    "thread.run.cancelling", "thread.run.cancelled", "thread.run.expired", "thread.run.step.created",
    "thread.run.step.in_progress", "thread.run.step.delta", "thread.run.step.completed", "thread.run.step.failed",
    "thread.run.step.cancelled", "thread.run.step.expired", "thread.message.created", "thread.message.in_progress",
    "thread.message.delta", "thread.message.completed", "thread.message.incomplete", "error", "done",
)
# The fields the SDK and the instrumentation read; a fault aimed at a key hits every occurrence.
KEYS = (
    "id", "object", "status", "thread_id", "assistant_id", "run_id", "required_action", "submit_tool_outputs",
    "tool_calls", "function", "name", "arguments", "output", "type", "usage", "prompt_tokens", "completion_tokens",
    "last_error", "code", "message", "incomplete_details", "reason", "model", "created_at", "started_at",
    "expires_at", "completed_at", "failed_at", "step_details", "delta", "content", "text", "value", "data",
    "error", "metadata", "temperature", "top_p", "max_completion_tokens", "tools", "results",
    "file_counts", "usage_bytes", "vector_store_id", "failed", "total", "tool_resources", "vector_store_ids",
)
HTTP_STATUSES = (200, 201, 400, 401, 404, 409, 422, 429, 500, 502, 503)


class Missing:
    """Stands for "remove the field" where a value would go."""

    def __repr__(self) -> str:
        return "MISSING"

    def __deepcopy__(self, memo: dict[int, Any]) -> Missing:
        return self  # one marker, compared by identity


MISSING = Missing()


# ---- values ---------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
)
# One level of nesting (drawing deeper values costs more than the rare case is worth), plus
# deeper shapes that look like the API's own objects.
json_values = st.one_of(
    scalars,
    st.lists(scalars, max_size=3),
    st.dictionaries(st.text(max_size=6), scalars, max_size=3),
    st.sampled_from([{"id": None}, {"status": "completed", "id": 7}, [{"id": "call_x", "type": "function"}],
                     {"submit_tool_outputs": {"tool_calls": [{"id": "c", "function": {"name": None}}]}},
                     {"content": [{"type": "text", "text": None}]}, {"error": {"message": None}}]),
)
# Long enough to matter to anything that copies or measures it, short enough to stay cheap.
huge_strings = st.sampled_from([20_000, 100_000]).map(lambda n: "Ω" + "h" * n)
odd_statuses = st.one_of(st.sampled_from(RUN_STATUSES), st.sampled_from(("", "COMPLETED", "paused", "done")),
                         st.text(max_size=8))
odd_values = st.one_of(json_values, huge_strings, odd_statuses, st.just(MISSING))
event_names = st.one_of(st.sampled_from(EVENT_NAMES), st.sampled_from(("thread.run.paused", "thread.run.step.x",
                                                                       "thread.message.x", "ping", "thread.", "")),
                        st.text(alphabet="abcdefghijklmnopqrstuvwxyz._ -:", max_size=16))
bodies = st.one_of(st.sampled_from([b"", b"<html>Bad gateway</html>", b"{", b"null", b"[]", b"\xff\xfe\x00",
                                    b'{"id": 1', b"not json", b'{"status": "completed"}']),
                   st.binary(max_size=24))
content_types = st.sampled_from(("application/json", "text/html", "text/plain", "application/octet-stream"))
sse_frames = st.one_of(
    st.sampled_from([b"data: {bad json\n\n", b"event: thread.run.completed\ndata: {\n\n",
                     b": keep-alive comment\n\n", b"event: thread.run.created\n\n", b"retry: 10\n\n",
                     b"data: [DONE]\n\n", b"event: done\ndata: [DONE]\n\n", b"data: {}\n\n", b"\n\n\n",
                     b'event: thread.run.completed\ndata: {"id": null}\n\n', b"data:\xff\n\n"]),
    st.binary(max_size=24),
)


# ---- actions: what happens to one answer ------------------------------------------------------

def _locations(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place inside a JSON value, in a fixed order."""
    found: list[tuple[Any, ...]] = []
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        found.append((*prefix, key))
        found.extend(_locations(child, (*prefix, key)))
    return found


def _put(container: Any, key: Any, value: Any) -> None:
    if value is MISSING:
        del container[key]
    else:
        container[key] = value


def _set_everywhere(value: Any, key: str, replacement: Any) -> None:
    if isinstance(value, dict):
        for child in list(value.values()):
            _set_everywhere(child, key, replacement)
        if key in value:
            _put(value, key, copy.deepcopy(replacement))
    elif isinstance(value, list):
        for child in value:
            _set_everywhere(child, key, replacement)


@dataclass(frozen=True)
class SetKey:
    """Every field named ``key`` gets ``value`` (or disappears)."""

    key: str
    value: Any

    def apply(self, exchange: Exchange, data: Any) -> Any:
        data = copy.deepcopy(data)
        _set_everywhere(data, self.key, self.value)
        return data


@dataclass(frozen=True)
class SetPlace:
    """One place (the ``pick``-th, wrapping around) gets ``value`` (or disappears)."""

    pick: int
    value: Any

    def apply(self, exchange: Exchange, data: Any) -> Any:
        data = copy.deepcopy(data)
        places = _locations(data)
        if not places:
            return data
        *path, last = places[self.pick % len(places)]
        container = data
        for key in path:
            container = container[key]
        _put(container, last, self.value)
        return data


@dataclass(frozen=True)
class ReplaceAll:
    """The whole body or event data becomes another JSON value."""

    value: Any

    def apply(self, exchange: Exchange, data: Any) -> Any:
        return self.value


@dataclass(frozen=True)
class RawBytes:
    """A body that is not what it claims (response), or a broken frame (event)."""

    content: bytes
    content_type: str = "application/json"

    def apply(self, exchange: Exchange, data: Any) -> Any:
        if exchange.stage == "event":
            return Raw(self.content)
        return Reply(exchange.status, self.content, content_type=self.content_type)


@dataclass(frozen=True)
class Truncate:
    """The JSON body ends early (response), or the stream is cut inside this event (event)."""

    fraction: float

    def apply(self, exchange: Exchange, data: Any) -> Any:
        if exchange.stage == "event":
            frame = encode_sse(exchange.event or "", data)
            return Frames(Raw(frame[: int(len(frame) * self.fraction)]), DROP)
        body = json.dumps(data).encode()
        return Raw(body[: int(len(body) * self.fraction)])


@dataclass(frozen=True)
class Status:
    """The same body under another HTTP status."""

    status: int

    def apply(self, exchange: Exchange, data: Any) -> Any:
        return Reply(self.status, data)


@dataclass(frozen=True)
class Drop:
    """The connection closes here: no answer, or a stream cut between two events."""

    def apply(self, exchange: Exchange, data: Any) -> Any:
        return DROP


@dataclass(frozen=True)
class Rename:
    """The event arrives under another (possibly unknown) name."""

    name: str

    def apply(self, exchange: Exchange, data: Any) -> Any:
        return Sse(self.name, data)


@dataclass(frozen=True)
class Skip:
    """The event never arrives."""

    def apply(self, exchange: Exchange, data: Any) -> Any:
        return SKIP


@dataclass(frozen=True)
class Repeat:
    """The event arrives ``times`` times."""

    times: int

    def apply(self, exchange: Exchange, data: Any) -> Any:
        return Frames(*([data] * self.times))


Action = SetKey | SetPlace | ReplaceAll | RawBytes | Truncate | Status | Drop | Rename | Skip | Repeat

field_actions = st.one_of(
    st.builds(SetKey, st.sampled_from(KEYS), odd_values),
    st.builds(SetPlace, st.integers(min_value=0, max_value=400), odd_values),
)
response_actions = st.one_of(
    field_actions,
    field_actions,  # twice as likely: most real breakage is one bad field
    st.builds(ReplaceAll, json_values),
    st.builds(RawBytes, bodies, content_types),
    st.builds(Truncate, st.floats(min_value=0.0, max_value=0.99)),
    st.builds(Status, st.sampled_from(HTTP_STATUSES)),
    st.just(Drop()),
)
event_actions = st.one_of(
    field_actions,
    field_actions,
    st.builds(ReplaceAll, json_values),
    st.builds(RawBytes, sse_frames),
    st.builds(Truncate, st.floats(min_value=0.0, max_value=0.99)),
    st.just(Drop()),
    st.builds(Rename, event_names),
    st.just(Skip()),
    st.builds(Repeat, st.integers(min_value=2, max_value=3)),
)


# ---- plans ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Fault:
    stage: str  # "response" or "event"
    at: int  # which answer of that stage in the flow (counted from 0, across requests and streams)
    action: Action


@dataclass(frozen=True)
class Plan:
    faults: tuple[Fault, ...]
    on_steps: Action | None = None  # for the instrumentation's own step listing, which the app never sees

    def mutator(self) -> PlanMutator:
        return PlanMutator(self)


class PlanMutator:
    """One flow's ``Emulator.mutate`` hook. The instrumentation's step listing is told apart (the
    apps never list steps or send a ``limit``) and kept out of the counts, so the app's requests
    are numbered the same with and without the instrumentation."""

    def __init__(self, plan: Plan) -> None:
        self._faults = {(fault.stage, fault.at): fault.action for fault in plan.faults}
        self._on_steps = plan.on_steps
        self._counts: Counter[str] = Counter()

    def __call__(self, exchange: Exchange, data: Any) -> Any:
        if "limit=" in exchange.query:  # the instrumentation's step fetch
            action = self._on_steps if exchange.stage == "response" else None
            return data if action is None else action.apply(exchange, data)
        index = self._counts[exchange.stage]
        self._counts[exchange.stage] += 1
        if exchange.stage == "request":
            return DROP if index >= REQUEST_BUDGET else data
        action = self._faults.get((exchange.stage, index))
        return data if action is None else action.apply(exchange, data)


def plans(*, responses: int, events: int = 0, steps: bool = True) -> st.SearchStrategy[Plan]:
    """Plans of one or two faults among the first ``responses`` JSON answers and ``events`` stream
    events of a flow, plus (with ``steps``) maybe one for the instrumentation's step listing."""
    faults = [st.builds(Fault, st.just("response"), st.integers(0, responses - 1), response_actions)]
    if events:
        faults.append(st.builds(Fault, st.just("event"), st.integers(0, events - 1), event_actions))
    return st.builds(
        Plan,
        st.lists(st.one_of(*faults), min_size=1, max_size=2).map(tuple),
        st.none() | response_actions if steps else st.none(),
    )
