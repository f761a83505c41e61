"""Fault injection: rewrite what the emulator sends, to test clients against a misbehaving server.

Set ``Emulator.mutate`` to a callable ``mutate(exchange, data)``. It is offered every API
request (control endpoints excepted) at up to three stages, described by ``exchange.stage``:

``"request"``
    Before the request reaches the API. ``data`` is the request's body, parsed when it is JSON
    (``{}`` when it is empty), for inspection only. Return a :class:`Reply` to answer without
    touching the API (its state is unchanged), :data:`DROP` to close the connection without an
    answer, anything else to let the request through.
``"response"``
    A JSON answer (success or error) is about to be sent; ``data`` is its parsed body and
    ``exchange.status`` its status. Return the body to send (any JSON value), :class:`Raw` bytes
    to send as the body instead, a :class:`Reply` to change the status, headers or body too, or
    :data:`DROP`. Non-JSON answers (file content) and streams skip this stage.
``"event"``
    One server-sent event of a streamed answer; ``exchange.event`` is its name,
    ``exchange.index`` its position in the stream and ``data`` its parsed data. Return the data
    to send under the same name (any JSON value), :class:`Sse` to rename it or send non-JSON
    data, :class:`Raw` bytes written into the body as they are (a broken frame, say; empty
    bytes send nothing, since an empty chunk would end the body),
    :data:`SKIP` to leave the event out, :data:`DROP` to drop the connection here (the body ends
    mid-stream), or :class:`Frames` to send several of these in its place. The closing
    ``done`` event is not offered. After a drop the run still advances to where it would have.

The hook in force when a request arrives applies to its whole answer, so a stream that outlives a
test keeps the hook it started with. An exception raised by the hook is printed and the request
answered 500 (or its stream dropped), so a broken hook shows up instead of passing silently.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .runs import Event, Pause


@dataclass(frozen=True)
class Exchange:
    """Where an answer stands when it is offered to the hook."""

    stage: str  # "request", "response" or "event"
    method: str
    path: str  # the API path without its /v1 or /openai prefix, e.g. /threads/thread_abc/runs
    query: str = ""  # the raw query string, e.g. limit=100&order=asc
    status: int = 0  # response stage: the status about to be sent
    event: str | None = None  # event stage: the event's name
    index: int = 0  # event stage: the event's position in its stream


@dataclass(frozen=True)
class Reply:
    """An answer chosen by the hook: ``body`` is a JSON value, or bytes sent as they are."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        if isinstance(self.body, (bytes, bytearray)):
            return bytes(self.body)
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Raw:
    """Bytes sent exactly as given: a whole response body, or part of a stream's body."""

    content: bytes


@dataclass(frozen=True)
class Sse:
    """A server-sent event: ``data`` is a JSON value, or a str sent as the data line(s) as it is."""

    name: str
    data: Any


class Signal:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


DROP = Signal("DROP")
SKIP = Signal("SKIP")


class Frames:
    """Several event-stage answers sent in place of one event, in order."""

    __slots__ = ("items",)

    def __init__(self, *items: Any) -> None:
        self.items = items


Mutator = Callable[[Exchange, Any], Any]


def encode_sse(name: str, data: Any) -> bytes:
    """One SSE frame; a str is split into data lines the way the SSE format joins them back."""
    text = data if isinstance(data, str) else json.dumps(data)
    lines = "".join(f"data: {line}\n" for line in text.split("\n"))
    return f"event: {name}\n{lines}\n".encode()


def decode(text: str | bytes) -> Any:
    """Data as offered to the hook: parsed JSON, or the text itself when it is not JSON."""
    try:
        return json.loads(text)
    except ValueError:
        return text if isinstance(text, str) else text.decode("utf-8", "replace")


def mutate_events(mutate: Mutator, exchange: Exchange, items: Iterable[Event | Pause]) -> Iterator[Any]:
    """A stream's items with each event offered to the hook; yields Events, Pauses, Raw frames and DROP."""
    dropped = False
    index = 0
    for item in items:
        if dropped or not isinstance(item, Event):
            yield item  # after a drop the run advances unseen, so the hook is not asked again
            continue
        answer = mutate(replace(exchange, event=item.name, index=index), decode(item.data))
        index += 1
        for frame in answer.items if isinstance(answer, Frames) else (answer,):
            if frame is SKIP:
                continue
            if frame is DROP:
                dropped = True
                yield DROP
                break
            if isinstance(frame, Raw):
                yield frame
            elif isinstance(frame, Sse):
                yield Raw(encode_sse(frame.name, frame.data))
            else:
                yield Raw(encode_sse(item.name, frame))
