"""What is known about a run while it is tracked, and what is kept once it ended."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from opentelemetry.trace import Span, SpanContext

from . import attributes as a

NS_PER_S = 1_000_000_000  # the one nanosecond constant (API times are in seconds, span times in ns)


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
    """A function call the run asked for. Its span is made once the process knows how the call
    ended (its output submitted here, or the run ended without it), so that a call another
    process answered leaves no span here."""

    start_ns: int
    name: str | None
    tool_type: str
    call_id: str
    arguments: str | None = None  # captured content, only with capture on


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
    span_context: SpanContext  # what is kept of the span once the run ended
    context: Any
    start_ns: int
    client: ClientInfo
    deadline: float  # client clock (s): the run's expiry plus grace, when it has surely ended
    seen_at: float  # client clock (s): when tracking began
    owner: bool = True  # the run span and per-run metrics are this process's; else an await_run span
    api: Any = None  # owner: the app's client, for look-ups and the step fetch
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
    error_reason: str | None = None  # openai.assistants.error.reason of the SDK error that ended it
    builtin_tools: bool | None = None  # the run's tools include code_interpreter or file_search
    expiry_known: bool = False  # the deadline follows the server's expires_at
    settled: bool = False  # the fields a run never changes (but started_at) are known: no more reading them
    recording: bool = True  # False: the span is not recording (unsampled), so nothing is described on it
    tools: dict[str, ToolCall] = field(default_factory=dict)  # asked, not yet answered here
    ended: bool = False
    streamed: bool = False
    first_chunk_seen: bool = False
    open_steps: dict[str, OpenStep] = field(default_factory=dict)
    done_steps: set[str] = field(default_factory=set)
    outputs: list[Any] = field(default_factory=list)  # the assistant's messages, kept only with capture on
    key: Any = None  # run id once known; a placeholder until the create answers
    # When the app last saw the run (client clock, ns), and the look-up schedule (client clock, s).
    seen_ns: int = 0
    due: float = 0.0
    interval: float = 0.0
    lookups_left: int = 0
    last_lookup: float = 0.0
    lookup_in_flight: bool = False

    @property
    def job_id(self) -> str | None:
        """The id the registry knows the run by (None while its create has not answered)."""
        return self.run_id

    def identify(self, run_id: str) -> None:
        self.run_id = run_id

    def askable(self) -> bool:
        """An owned run the API can be asked about: its client, thread and id are known."""
        return self.api is not None and self.run_id is not None and self.thread_id is not None

    def ended_view(self) -> EndedRun:
        return EndedRun(self.span_context, self.start_ns, self.done_steps)
