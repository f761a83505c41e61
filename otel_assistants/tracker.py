"""The run tracker: the one owner of every in-flight run and of the spans and metrics it ends with.

A run is a server-side job. The client learns about it only through responses (create, retrieve,
submit, cancel, list, stream events); every such observation comes here, keyed by run id. The
tracker opens the run span when the run is created, keeps it open across ``requires_action``,
opens and closes function-tool spans, and ends the run exactly once: at the first terminal status
seen, on a failed create, or as ``abandoned`` when nobody is left to see it end.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import OrderedDict
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind, Status, StatusCode

from . import attributes as a
from . import fields as f
from . import steps as step_spans
from .config import Settings
from .content import Capture
from .outcomes import drop_none, end_tool_call, record_run
from .runstate import ClientInfo, EndedRun, OpenStep, RunState, ToolCall
from .spans import mark_exception, now_ns, set_present
from .telemetry import Telemetry

# A run that never reports an expiry gets the API's own 10-minute limit.
DEFAULT_RUN_LIFETIME_S = 600
# Grace after expires_at before a silent run is declared abandoned.
ABANDON_GRACE_S = 60
# How often deadlines are checked on the request path.
SWEEP_INTERVAL_S = 1.0
# Assistant id -> name memory, so run spans can be named without an extra request.
AGENT_NAME_MEMORY = 10000

TOOL_TYPES = {"function": "function", "code_interpreter": "extension", "file_search": "datastore"}


class RunTracker:
    def __init__(self, telemetry: Telemetry, settings: Settings) -> None:
        self._telemetry = telemetry
        self._cap = settings.max_tracked_runs
        self._fetch_steps = settings.run_steps == "fetch"
        self._steps_enabled = settings.run_steps != "off"
        self.capture = Capture(settings.capture_content, settings.max_content_length, telemetry.content)
        self._lock = threading.RLock()
        self._runs: OrderedDict[Any, RunState] = OrderedDict()  # oldest first, for eviction
        # Runs that ended recently: a late retrieve makes no new span, late step listings find their parent.
        self._ended: OrderedDict[str, EndedRun] = OrderedDict()
        self._agent_names: OrderedDict[str, str] = OrderedDict()
        self._deadlines: list[tuple[float, int, Any]] = []  # (deadline, tiebreak, run key)
        self._sequence = itertools.count()
        self._next_sweep = 0.0

    # ----- what the request path tells us -------------------------------------------------

    def start(self, client: ClientInfo, thread_id: str | None, body: dict[str, Any]) -> RunState:
        """The request that creates a run is about to be sent: open its span now."""
        assistant_id = _str(body.get("assistant_id"))
        name = self.agent_name(assistant_id)
        request_model = _str(body.get("model"))
        stream = body.get("stream") is True
        start = now_ns()
        # Only what the request set: the SDK leaves unset arguments out of the body.
        requested: dict[str, Any] = {}
        if thread_id is not None:
            requested[a.CONVERSATION_ID] = thread_id
        if request_model is not None:
            requested[a.REQUEST_MODEL] = request_model
        if stream:
            requested[a.REQUEST_STREAM] = True
        for key, attribute, read in _REQUEST_SETTINGS:
            value = body.get(key)
            if value is not None and (value := read(value)) is not None:
                requested[attribute] = value
        span = self._open_run_span(client, start, assistant_id, name, requested)
        if self.capture.enabled and span.is_recording():
            thread = body.get("thread")
            messages = list(body.get("additional_messages") or []) + list(f.items(thread, "messages"))
            self.capture.record(span, {
                a.SYSTEM_INSTRUCTIONS: self.capture.system_instructions(body.get("instructions"),
                                                                        body.get("additional_instructions")),
                a.INPUT_MESSAGES: self.capture.input_messages(messages),
            })
        state = RunState(
            span=span, context=trace.set_span_in_context(span), start_ns=start, client=client,
            deadline=start / 1e9 + DEFAULT_RUN_LIFETIME_S + ABANDON_GRACE_S, seen_at=start / 1e9, thread_id=thread_id,
            assistant_id=assistant_id, agent_name=name, request_model=request_model, streamed=stream,
        )
        self._register(object(), state)
        return state

    def created(self, state: RunState, run: Any, *, fetch_after: bool = False) -> RunState | None:
        """The create request answered with the run: from now on it is known by its id."""
        run_id = f.text(run, "id")
        if run_id is None:
            return None
        with self._lock:
            if state.ended or state.run_id is not None:
                return None
            if run_id in self._runs:  # the same run reported twice: keep the first span
                return None
            self._runs.pop(state.key, None)
            state.run_id = state.key = run_id
            self._runs[run_id] = state
            self._schedule(state)  # its deadline entry was filed under the placeholder key
        return self.observe(run, state=state, fetch_after=fetch_after)

    def fail(self, state: RunState, error: BaseException) -> None:
        """The SDK raised for this run's own request or stream: the run span ends with the exception."""
        self._end(state, error=error)

    def state_for(self, run_id: str | None) -> RunState | None:
        with self._lock:
            return self._lookup(run_id)

    def stream_event(self, state: RunState, name: Any, data: Any, request_start_ns: int) -> None:
        """One event of a run's stream, as the app receives it."""
        if not isinstance(name, str) or state.ended:
            return
        if name.startswith("thread.run.step."):
            self._stream_step(state, name, data)
        elif name.startswith("thread.run."):
            if state.run_id is None:
                self.created(state, data)
            else:
                self.observe(data, state=state)
        elif name == "thread.message.completed":
            self.message_completed(state, data)
        elif name == "thread.message.delta" and not state.first_chunk_seen:
            state.first_chunk_seen = True
            self._telemetry.time_to_first_chunk.record(
                max(now_ns() - request_start_ns, 0) / 1e9,
                self._telemetry.capped(drop_none({a.OPERATION_NAME: a.INVOKE_AGENT,
                                                  a.RESPONSE_MODEL: state.response_model})),
            )

    def _stream_step(self, state: RunState, name: str, step: Any) -> None:
        """Steps seen live: spans with the times the client saw them start and end."""
        step_id = f.text(step, "id")
        if step_id is None or not self._steps_enabled:
            return
        if name == "thread.run.step.created":
            with self._lock:
                if state.ended or step_id in state.open_steps or step_id in state.done_steps:
                    return
                start = now_ns()
                span = step_spans.start_step_span(self._telemetry, state.context, step, start)
                state.open_steps[step_id] = OpenStep(span, start, step)
            return
        if f.text(step, "status") not in step_spans.TERMINAL_STEP_STATUSES:
            open_step = state.open_steps.get(step_id)
            if open_step is not None:
                open_step.step = step
            return
        with self._lock:
            open_step = state.open_steps.pop(step_id, None)
            if open_step is None or step_id in state.done_steps:
                return
            state.done_steps.add(step_id)
        step_spans.end_step_span(self._telemetry, self.capture, open_step.span, step, open_step.start_ns, now_ns())

    def message_completed(self, state: RunState, message: Any) -> None:
        if self.capture.enabled and not state.ended and f.text(message, "role") == "assistant":
            state.outputs.append(message)

    def steps_seen(self, run_id: str | None, steps: list[Any], state: RunState | None = None) -> None:
        """Steps from a listing, a retrieve or the step fetch: finished ones not yet described get
        spans with the server's times, under their run's span (even when the run already ended)."""
        if not self._steps_enabled or not steps:
            return
        with self._lock:
            if state is None:
                state = self._runs.get(run_id) if run_id else None
            if state is not None:
                parent, done, run_start = state.context, state.done_steps, state.start_ns
            else:
                ended = self._ended.get(run_id) if run_id else None
                if ended is None:
                    return  # a run this process never tracked: no parent to put the steps under
                parent, done, run_start = self.context_for(run_id), ended.steps, ended.start_ns
            fresh = []
            for step in steps:
                step_id = f.text(step, "id")
                finished = f.text(step, "status") in step_spans.TERMINAL_STEP_STATUSES
                if step_id is None or step_id in done or not finished:
                    continue
                if state is not None and step_id in state.open_steps:
                    continue  # a stream is describing it live
                done.add(step_id)
                fresh.append(step)
        now = now_ns()
        for step in sorted(fresh, key=lambda s: f.integer(s, "created_at") or 0):
            times = step_spans.server_times(step, now)
            if times is None:
                continue
            # Server times have whole seconds: keep the step inside its run's span.
            start = max(times[0], run_start)
            end = max(times[1], start)
            span = step_spans.start_step_span(self._telemetry, parent, step, start)
            step_spans.end_step_span(self._telemetry, self.capture, span, step, start, end)

    def stream_stopped(self, state: RunState, *, error: BaseException | None) -> None:
        """A run's stream stopped. A run waiting for tool outputs stays open; any other run that
        has not reached a terminal status ends here, since nobody is left watching it."""
        if state.ended:
            return
        with self._lock:
            waiting = state.status == "requires_action"
        if waiting:  # the server waits for the app's tool outputs, however this stream stopped
            if error is not None and state.span.is_recording():
                state.span.record_exception(error)
            return
        if error is not None:
            self._end(state, error=error)
            return
        with self._lock:
            if state.ended or state.status == "requires_action":
                return
            self._claim(state)
        self._finish(state, error_type=a.ERROR_ABANDONED)

    def mark_streamed(self, state: RunState) -> None:
        state.streamed = True
        if state.span.is_recording():
            state.span.set_attribute(a.REQUEST_STREAM, True)

    def observe(self, run: Any, *, state: RunState | None = None, poll: bool = False,
                discover: bool = False, client: ClientInfo | None = None,
                fetch_after: bool = False) -> RunState | None:
        """Any Run object the client received. ``discover`` lets a retrieve start tracking a
        run created elsewhere; list results only update runs already tracked. With
        ``fetch_after`` (a response the caller can follow with the step fetch, not a stream
        event or a listing), returns the run when this observation ended it and its steps are
        to be fetched; steps a stream left open then wait for ``steps_fetched``."""
        run_id = f.text(run, "id")
        if run_id is None:
            return None
        with self._lock:
            if state is None:
                state = self._runs.get(run_id)
            if state is None:
                if not discover or client is None or run_id in self._ended:
                    return None
                state = self._discover(run, run_id, client)
            if state.ended:
                return None
            if poll:
                state.poll_count += 1
            status = self._update(state, run)
            if status == "requires_action":
                self._open_tool_calls(state, run)
            terminal = status in a.TERMINAL_STATUSES
            if terminal:
                self._claim(state)
        if not terminal:
            return None
        fetch = fetch_after and self._fetch_steps
        self._finish(state, defer_steps=fetch)
        return state if fetch else None

    def steps_fetched(self, state: RunState, steps: list[Any]) -> None:
        """The step fetch's answer for a run that ended (partial if the fetch failed): steps a
        stream left open end with the server's view of them, the others are described anew."""
        finished = {f.text(step, "id"): step for step in steps
                    if f.text(step, "status") in step_spans.TERMINAL_STEP_STATUSES}
        self._end_open_steps(state, now_ns(), finished)
        self.steps_seen(state.run_id, steps, state=state)

    def poll_failed(self, run_id: str | None, error: BaseException) -> None:
        """A retrieve raised: the run goes on server-side, so the span records it and stays open."""
        state = self._lookup(run_id)
        if state is not None and state.span.is_recording():
            state.span.record_exception(error)

    def tool_outputs_submitted(self, run_id: str | None, outputs: dict[str, Any]) -> None:
        """submit_tool_outputs is being sent: the app's work on these calls (id -> output) is done."""
        end = now_ns()
        closed: list[tuple[ToolCall, Any]] = []
        with self._lock:
            state = self._runs.get(run_id) if run_id else None
            if state is None or state.ended:
                return
            for call_id, output in outputs.items():
                call = state.tools.pop(call_id, None)
                if call is not None:
                    closed.append((call, output))
        for call, output in closed:
            result = self.capture.text(output)
            self.capture.record(call.span, {a.TOOL_CALL_RESULT: result})
            end_tool_call(self._telemetry, call, end, None)

    def context_for(self, run_id: str | None) -> Any:
        """The context whose current span is the run's, for spans made on its behalf anywhere,
        also after the run ended."""
        state = self._lookup(run_id)
        if state is not None:
            return state.context
        ended = self._ended.get(run_id) if run_id is not None else None
        return trace.set_span_in_context(NonRecordingSpan(ended.span_context)) if ended is not None else None

    def learn_agent(self, assistant_id: str | None, name: str | None) -> None:
        if assistant_id is None or name is None:
            return
        with self._lock:
            self._agent_names[assistant_id] = name
            self._agent_names.move_to_end(assistant_id)
            while len(self._agent_names) > AGENT_NAME_MEMORY:
                self._agent_names.popitem(last=False)

    def agent_name(self, assistant_id: str | None) -> str | None:
        if assistant_id is None:
            return None
        return self._agent_names.get(assistant_id)

    # ----- runs nobody sees end ----------------------------------------------------------

    def sweep(self, now: float | None = None) -> None:
        """End as abandoned every run past its expiry plus grace. Cheap when nothing is due."""
        now = time.time() if now is None else now
        if now < self._next_sweep:
            return
        due: list[RunState] = []
        with self._lock:
            self._next_sweep = now + SWEEP_INTERVAL_S
            while self._deadlines and self._deadlines[0][0] <= now:
                deadline, _, key = heapq.heappop(self._deadlines)
                state = self._runs.get(key)
                if state is not None and not state.ended and state.deadline == deadline:
                    self._claim(state)
                    due.append(state)
        for state in due:
            self._finish(state, error_type=a.ERROR_ABANDONED)

    def abandon_all(self) -> None:
        """Shutdown: every run still open ends now, while exporters can still take the spans."""
        with self._lock:
            states = list(self._runs.values())
            for state in states:
                self._claim(state)
            self._deadlines.clear()
        for state in states:
            self._finish(state, error_type=a.ERROR_ABANDONED)

    @property
    def tracked(self) -> int:
        return len(self._runs)

    # ----- internals (callers hold the lock unless said otherwise) -----------------------

    def _lookup(self, run_id: str | None) -> RunState | None:
        if run_id is None:
            return None
        state = self._runs.get(run_id)
        return state if state is not None and not state.ended else None

    def _register(self, key: Any, state: RunState) -> None:
        evicted: list[RunState] = []
        with self._lock:
            state.key = key
            self._runs[key] = state
            self._schedule(state)
            while len(self._runs) > self._cap:
                _, oldest = self._runs.popitem(last=False)
                self._claim(oldest)
                evicted.append(oldest)
        self._telemetry.totals.started(state.client.provider)
        for old in evicted:
            self._finish(old, error_type=a.ERROR_ABANDONED)

    def _schedule(self, state: RunState) -> None:
        heapq.heappush(self._deadlines, (state.deadline, next(self._sequence), state.key))
        # Entries of ended runs stay until popped (they hold only a key); rebuild before they
        # outnumber live runs.
        if len(self._deadlines) > 2 * len(self._runs) + 64:
            live = [(s.deadline, next(self._sequence), s.key) for s in self._runs.values() if not s.ended]
            heapq.heapify(live)
            self._deadlines = live

    def _discover(self, run: Any, run_id: str, client: ClientInfo) -> RunState:
        """A run created by another process, first seen now: its span starts at its server time."""
        now = now_ns()
        created = f.integer(run, "created_at")
        start = min(created * 1_000_000_000, now) if created is not None else now
        assistant_id = f.text(run, "assistant_id")
        name = self.agent_name(assistant_id)
        span = self._open_run_span(client, start, assistant_id, name, {})
        seen_at = now / 1e9
        state = RunState(
            span=span, context=trace.set_span_in_context(span), start_ns=start, client=client,
            deadline=seen_at + DEFAULT_RUN_LIFETIME_S + ABANDON_GRACE_S, seen_at=seen_at, run_id=run_id,
            assistant_id=assistant_id, agent_name=name,
        )
        self._register(run_id, state)
        return state

    def _open_run_span(self, client: ClientInfo, start: int, assistant_id: str | None, name: str | None,
                       attributes: dict[str, Any]) -> Span:
        attributes.update(client.run_attributes)
        if assistant_id is not None:
            attributes[a.AGENT_ID] = assistant_id
        if name is not None:
            attributes[a.AGENT_NAME] = name
        return self._telemetry.tracer.start_span(_run_span_name(name), kind=SpanKind.CLIENT, start_time=start,
                                                 attributes=attributes)

    def _update(self, state: RunState, run: Any) -> str | None:
        span = state.span
        fields = f.view(run)  # read once per observation: this runs on every poll
        state.thread_id = state.thread_id or f.as_text(fields.get("thread_id"))
        state.assistant_id = state.assistant_id or f.as_text(fields.get("assistant_id"))
        state.response_model = f.as_text(fields.get("model")) or state.response_model
        state.created_at = f.as_int(fields.get("created_at")) or state.created_at
        state.started_at = f.as_int(fields.get("started_at")) or state.started_at
        expires_at = f.as_int(fields.get("expires_at"))
        if expires_at is not None and state.created_at is not None:
            # The server's lifetime for the run, counted on the client's clock: skew-proof.
            deadline = state.seen_at + max(expires_at - state.created_at, 0) + ABANDON_GRACE_S
            if deadline != state.deadline:
                state.deadline = deadline
                self._schedule(state)
        usage = fields.get("usage")
        if usage is not None:
            prompt, completion = f.integer(usage, "prompt_tokens"), f.integer(usage, "completion_tokens")
            if prompt is not None or completion is not None:
                state.usage = (prompt or 0, completion or 0)
        details = fields.get("incomplete_details")
        if details is not None:
            state.incomplete_reason = f.text(details, "reason") or state.incomplete_reason
        last_error = fields.get("last_error")
        if last_error is not None:
            state.last_error_code = f.text(last_error, "code") or state.last_error_code
        status = f.as_text(fields.get("status"))
        if status is not None and status != state.status:
            state.status = status
            if span.is_recording():
                span.add_event(a.RUN_STATUS_EVENT, {a.RUN_STATUS: status})
        return status

    def _open_tool_calls(self, state: RunState, run: Any) -> None:
        action = f.get(run, "required_action")
        calls = f.items(f.get(action, "submit_tool_outputs"), "tool_calls")
        start = now_ns()
        for call in calls:
            call_id = f.text(call, "id")
            if call_id is None or call_id in state.tools:
                continue
            kind = f.text(call, "type") or "function"
            name = f.text(f.get(call, "function"), "name") or kind
            tool_type = TOOL_TYPES.get(kind, kind)
            attributes = {
                a.OPERATION_NAME: a.EXECUTE_TOOL,
                a.TOOL_CALL_ID: call_id,
                a.TOOL_NAME: name,
                a.TOOL_TYPE: tool_type,
            }
            span = self._telemetry.tracer.start_span(
                f"{a.EXECUTE_TOOL} {name}", context=state.context, kind=SpanKind.INTERNAL, start_time=start,
                attributes=attributes,
            )
            arguments = self.capture.text(f.get(f.get(call, "function"), "arguments"))
            self.capture.record(span, {a.TOOL_CALL_ARGUMENTS: arguments})
            state.tools[call_id] = ToolCall(span, start, name, tool_type)

    def _claim(self, state: RunState) -> None:
        """Mark a run ended (under the lock) so that exactly one caller finishes it."""
        state.ended = True
        if self._runs.get(state.key) is state:
            del self._runs[state.key]
        if state.run_id is not None:
            self._ended[state.run_id] = EndedRun(state.span.get_span_context(), state.start_ns, state.done_steps)
            while len(self._ended) > self._cap:
                self._ended.popitem(last=False)

    def _end(self, state: RunState, error: BaseException) -> None:
        with self._lock:
            if state.ended:
                return
            self._claim(state)
        self._finish(state, error=error)

    def _end_open_steps(self, state: RunState, end: int, fetched: dict[Any, Any] | None = None) -> None:
        """End the steps a stream saw start and not finish: with the fetched step when there is
        one (the server's status and end), else as last seen, at ``end``."""
        with self._lock:
            left = list(state.open_steps.items())
            state.open_steps.clear()
            state.done_steps.update(step_id for step_id, _ in left)
        for step_id, open_step in left:
            step = fetched.get(step_id) if fetched else None
            step_end = end
            if step is None:
                step = open_step.step
            else:
                times = step_spans.server_times(step, end)
                step_end = max(times[1], open_step.start_ns) if times is not None else end
            step_spans.end_step_span(self._telemetry, self.capture, open_step.span, step, open_step.start_ns,
                                     step_end)

    def _finish(self, state: RunState, *, error_type: str | None = None,
                error: BaseException | None = None, defer_steps: bool = False) -> None:
        """Close the run's span and record its metrics. Called once per run, without the lock.
        ``defer_steps``: steps left open wait for the step fetch (``steps_fetched``)."""
        end = now_ns()
        for call in state.tools.values():
            end_tool_call(self._telemetry, call, end, a.ERROR_TOOL_OUTPUT_NOT_SUBMITTED)
        state.tools.clear()
        if state.open_steps and not defer_steps:  # a stream that stopped mid-step
            self._end_open_steps(state, end)

        span = state.span
        status = state.status
        if error is not None:
            error_type = mark_exception(span, error)
        elif error_type is None:
            if status == "failed":
                error_type = state.last_error_code or a.OTHER_VALUE
            elif status == "expired":
                error_type = a.ERROR_EXPIRED
        if state.agent_name is None:
            state.agent_name = self.agent_name(state.assistant_id)
            if state.agent_name is not None and span.is_recording():
                span.update_name(_run_span_name(state.agent_name))
                span.set_attribute(a.AGENT_NAME, state.agent_name)
        usage = state.usage
        if state.outputs:
            self.capture.record(span, {a.OUTPUT_MESSAGES: self.capture.output_messages(state.outputs)})
            state.outputs.clear()
        if span.is_recording():  # an unsampled run needs none of these built
            set_present(span, {
                a.RUN_ID: state.run_id,
                a.RUN_STATUS: status,
                a.RUN_POLL_COUNT: state.poll_count,
                a.CONVERSATION_ID: state.thread_id,
                a.AGENT_ID: state.assistant_id,
                a.RESPONSE_MODEL: state.response_model,
                a.USAGE_INPUT_TOKENS: usage[0] if usage else None,
                a.USAGE_OUTPUT_TOKENS: usage[1] if usage else None,
                a.RUN_INCOMPLETE_REASON: state.incomplete_reason,
            })
        if error_type is not None and error is None:
            span.set_attribute(a.ERROR_TYPE, error_type)
            span.set_status(Status(StatusCode.ERROR, error_type))
        self._telemetry.content.flush(span, end)
        span.end(end_time=end)
        record_run(self._telemetry, state, error_type, max(end - state.start_ns, 0) / 1e9)

def _run_span_name(agent_name: str | None) -> str:
    return f"{a.INVOKE_AGENT} {agent_name}" if agent_name else a.INVOKE_AGENT


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# Request body key -> run span attribute, with the reader that keeps only a value of the right type.
_REQUEST_SETTINGS = (
    ("temperature", a.REQUEST_TEMPERATURE, _num),
    ("top_p", a.REQUEST_TOP_P, _num),
    ("max_completion_tokens", a.REQUEST_MAX_TOKENS, _int),
)
