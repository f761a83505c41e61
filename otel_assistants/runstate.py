"""What is known about a run while it is tracked, and what is kept once it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from opentelemetry.trace import Span, SpanContext

from . import attributes as a


@dataclass(frozen=True)
class ClientInfo:
    provider: str
    address: str | None
    port: int | None

    @cached_property
    def run_attributes(self) -> dict[str, Any]:
        """The attributes every run span of this client starts with."""
        attributes: dict[str, Any] = {a.OPERATION_NAME: a.INVOKE_AGENT, a.PROVIDER_NAME: self.provider}
        if self.address is not None:
            attributes[a.SERVER_ADDRESS] = self.address
        if self.port is not None:
            attributes[a.SERVER_PORT] = self.port
        return attributes


@dataclass(eq=False, slots=True)
class ToolCall:
    span: Span
    start_ns: int
    name: str
    tool_type: str


@dataclass(eq=False, slots=True)
class OpenStep:
    span: Span
    start_ns: int
    step: Any  # the step as last seen in its stream, to describe it if no later view arrives


class EndedRun:
    """What is kept of a run after it ended: enough to place steps the app lists later, and no
    more (the span's context, not the span)."""

    __slots__ = ("span_context", "start_ns", "steps")

    def __init__(self, span_context: SpanContext, start_ns: int, steps: set[str]) -> None:
        self.span_context = span_context
        self.start_ns = start_ns
        self.steps = steps


@dataclass(eq=False, slots=True)
class RunState:
    span: Span
    context: Any
    start_ns: int
    client: ClientInfo
    deadline: float  # client clock: when a run nobody sees end counts as abandoned
    seen_at: float  # client clock: when tracking began
    run_id: str | None = None
    thread_id: str | None = None
    assistant_id: str | None = None
    agent_name: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    status: str | None = None
    poll_count: int = 0
    created_at: int | None = None
    started_at: int | None = None
    usage: tuple[int, int] | None = None
    incomplete_reason: str | None = None
    last_error_code: str | None = None
    tools: dict[str, ToolCall] = field(default_factory=dict)
    ended: bool = False
    streamed: bool = False
    first_chunk_seen: bool = False
    open_steps: dict[str, OpenStep] = field(default_factory=dict)
    done_steps: set[str] = field(default_factory=set)
    outputs: list[Any] = field(default_factory=list)  # the assistant's messages, kept only with capture on
    key: Any = None  # run id once known; a placeholder until the create answers
