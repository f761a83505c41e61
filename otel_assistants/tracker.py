"""The run tracker: the one owner of every run this process follows, and of the spans and metrics
it ends with.

A run is a server-side job, and an app's processes share it: one creates it, others poll it,
submit its tool outputs or look it up later. The process that sent the create request owns the
run: it alone records the run span and the per-run metrics, so that summed over a fleet each run
is counted once. A process that meets a run it did not create, before the run ended, records an
``await_run`` span from its first to its last observation instead (or owns it, with
``adopt_runs``); one that first meets a run already ended records nothing for it.

Every observation (create, retrieve, submit, cancel, listing, stream event) comes here, keyed by
run id. An owned run ends exactly once: at the first terminal status the app sees, on a failed
create, or, when the app does not see its end, by asking the API (a look-up, made off the app's
path by ``own_requests``): when it has gone unobserved for a while, at its expiry, and at
shutdown. Only what stays unknown ends as ``abandoned``.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import OrderedDict
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan, Span, SpanKind

from . import attributes as a
from . import fields as f
from . import steps as step_spans
from .config import Settings
from .content import Capture
from .outcomes import end_tool_call, record_run
from .own_requests import OwnRequests
from .propagation import remote_parent
from .runstate import ClientInfo, EndedRun, OpenStep, RunState, ToolCall
from .spans import NS_PER_S, mark_error, mark_exception, now_ns, seconds_between, set_present
from .telemetry import Telemetry

# A run that never reports an expiry gets the API's own 10-minute limit.
DEFAULT_RUN_LIFETIME_S = 600
# Grace after expires_at: by then the API has ended the run, one way or another.
ABANDON_GRACE_S = 60
# Look-ups per owned run the app does not see end, spread evenly over its life with the last one
# at its expiry plus grace: a run handed to another process is reported at most
# (600 + 60) / 5 = 132 s after it ended.
MAX_LOOKUPS = 5
# How often deadlines are checked on the request path (the serving thread keeps time otherwise).
SWEEP_INTERVAL_S = 1.0
# Assistant id -> name memory, so run spans can be named without an extra request.
AGENT_NAME_MEMORY = 10000
# Steps a look-up in flight may wait before the next one is tried.
LOOKUP_RETRY_S = 5.0

# A run's server time (seconds) at which it ended, by terminal status.
END_FIELDS = {"completed": "completed_at", "incomplete": "completed_at", "failed": "failed_at",
              "cancelled": "cancelled_at", "expired": "expires_at"}
# Statuses a run reaches only after the tool outputs it waited for were submitted.
AFTER_SUBMISSION = frozenset({"queued", "in_progress", "completed", "incomplete"})


class RunTracker:
    def __init__(self, telemetry: Telemetry, settings: Settings) -> None:
        self._telemetry = telemetry
        self._cap = settings.max_tracked_runs
        self._fetch_steps = settings.run_steps == "fetch"
        self._steps_enabled = settings.run_steps != "off"
        self._adopt = settings.adopt_runs
        self.capture = Capture(settings.capture_content, settings.max_content_length, telemetry.content)
        self._lock = threading.RLock()
        self._runs: OrderedDict[Any, RunState] = OrderedDict()  # oldest first, for eviction
        # Runs that ended recently: a late retrieve makes no new span, late step listings find their parent.
        self._ended: OrderedDict[str, EndedRun] = OrderedDict()
        self._agent_names: OrderedDict[str, str] = OrderedDict()
        self._deadlines: list[tuple[float, int, Any]] = []  # (due, tiebreak, run key)
        self._sequence = itertools.count()
        self._next_sweep = 0.0
        self._shutting_down = False
        self.own_requests = OwnRequests(telemetry.own_requests, self._tick, self._forked)

    # ----- what the request path tells us -------------------------------------------------

    def start(self, client: ClientInfo, thread_id: str | None, body: dict[str, Any], api: Any = None) -> RunState:
        """The request that creates a run is about to be sent: open its span now."""
        assistant_id = f.as_text(body.get("assistant_id"))
        name = self.agent_name(assistant_id)
        request_model = f.as_text(body.get("model"))
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
        span = self._open_span(client, start, assistant_id, name, requested, owner=True)
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
            deadline=start / NS_PER_S + DEFAULT_RUN_LIFETIME_S + ABANDON_GRACE_S, seen_at=start / NS_PER_S, api=api,
            thread_id=thread_id, assistant_id=assistant_id, agent_name=name, request_model=request_model,
            streamed=stream, seen_ns=start, lookups_left=MAX_LOOKUPS,
        )
        self._finish_evicted(self._register(object(), state))
        return state

    def created(self, state: RunState, run: Any) -> None:
        """The create request answered with the run: from now on it is known by its id."""
        run_id = f.text(run, "id")
        if run_id is None:
            return
        with self._lock:
            if state.ended or state.run_id is not None:
                return
            if run_id in self._runs:  # the same run reported twice: keep the first span
                return
            self._runs.pop(state.key, None)
            state.run_id = state.key = run_id
            self._runs[run_id] = state
            self._schedule(state)  # its deadline entry was filed under the placeholder key
        self.observe(run, state=state)

    def fail(self, state: RunState, error: BaseException) -> None:
        """The SDK raised for this run's own request or stream: the run span ends with the exception."""
        with self._lock:
            if state.ended:
                return
            self._claim(state)
        self._finish(state, error=error)

    def state_for(self, run_id: str | None) -> RunState | None:
        with self._lock:
            return self._lookup(run_id)

    def has_ended(self, run_id: str | None) -> bool:
        """This process saw the run end (or gave up on it): later requests for it are plain operations."""
        return run_id is not None and run_id in self._ended

    def met(self, run: Any, client: ClientInfo, api: Any, start_ns: int, parent: Any) -> bool:
        """A retrieve answered with a run this process was not following. An unended run is
        followed from the request's start (as its observer, or its owner with ``adopt_runs``);
        an ended one is not (False: the request is a plain operation)."""
        run_id = f.text(run, "id")
        if run_id is None or f.text(run, "status") in a.TERMINAL_STATUSES:
            return False
        evicted: list[RunState] = []
        with self._lock:
            state = self._lookup(run_id)
            if state is None:
                if run_id in self._ended:
                    return False
                state, evicted = self._follow(run_id, client, api, start_ns, parent, run)
        self._finish_evicted(evicted)
        self.observe(run, state=state, poll=True)
        return True

    def follow(self, run_id: str, thread_id: str | None, client: ClientInfo, api: Any) -> RunState | None:
        """A request acts on a run this process is not following (a tool-output submission, a
        cancel): follow it from now, so the request and what it returns nest under it. None when
        this process already saw the run end."""
        evicted: list[RunState] = []
        with self._lock:
            state = self._lookup(run_id)
            if state is None and run_id not in self._ended:
                state, evicted = self._follow(run_id, client, api, now_ns(), otel_context.get_current(), None)
                state.thread_id = state.thread_id or thread_id
        self._finish_evicted(evicted)
        return state

    def unfollow(self, state: RunState) -> None:
        """The request that made this process follow a run was refused: the API did not act on
        the run for it, so there is nothing to follow."""
        with self._lock:
            if state.ended or state.owner:
                return
            self._claim(state)
        self._finish(state, end_ns=state.seen_ns)

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
                seconds_between(request_start_ns, now_ns()),
                self._telemetry.capped(f.present({a.OPERATION_NAME: a.INVOKE_AGENT,
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
        """A run's stream stopped before the run's end. The run goes on server-side: an owned run
        is looked up when due; an SDK exception the stream raised ends it with that exception
        (unless it waits for tool outputs, which it still does whatever the stream did). A run
        whose id the stream never told cannot be looked up: it is unknown at once."""
        if state.ended:
            return
        with self._lock:
            waiting = state.status == "requires_action"
            state.seen_ns = now_ns()
            unknown = error is None and state.owner and state.run_id is None and not state.ended
            if unknown:
                self._claim(state)
        if unknown:
            self._finish(state, error_type=a.ERROR_ABANDONED)
            return
        if error is None:
            return
        if waiting or not state.owner:
            if state.span.is_recording():
                state.span.record_exception(error)
            return
        self.fail(state, error)

    def mark_streamed(self, state: RunState) -> None:
        state.streamed = True
        if state.span.is_recording():
            state.span.set_attribute(a.REQUEST_STREAM, True)

    def polled(self, run: Any, state: RunState) -> None:
        """A retrieve of a followed run answered: one more poll, and what it says."""
        self.observe(run, state=state, poll=True)

    def answered(self, run: Any, state: RunState | None) -> None:
        """A request that acts on a run (submit, cancel, update) answered with the run."""
        self.observe(run, state=state)

    def listed(self, runs: list[Any]) -> None:
        """A run listing: the runs this process follows learn what it says of them."""
        for run in runs:
            self.observe(run)

    def observe(self, run: Any, *, state: RunState | None = None, poll: bool = False) -> None:
        """Any Run object the app received: a response, a stream event, a listing's entry.
        Listings and responses for runs not followed change nothing."""
        run_id = f.text(run, "id")
        if run_id is None:
            return
        with self._lock:
            if state is None:
                state = self._runs.get(run_id)
            if state is None or state.ended:
                return
            if poll:
                state.poll_count += 1
            state.seen_ns = now_ns()
            status = self._update(state, run)
            terminal = status in a.TERMINAL_STATUSES
            if terminal:
                self._claim(state)
        if terminal:
            self._finish(state, fetch_steps=True)

    def poll_failed(self, run_id: str | None, error: BaseException) -> None:
        """A retrieve raised: the run goes on server-side, so the span records it and stays open."""
        state = self.state_for(run_id)
        if state is not None and state.span.is_recording():
            state.span.record_exception(error)

    def tool_outputs_submitted(self, run_id: str | None, outputs: dict[str, Any], sent_ns: int) -> None:
        """The API accepted tool outputs this process sent at ``sent_ns`` (call id -> output):
        this process answered these calls, so it records them."""
        closed: list[tuple[ToolCall, Any]] = []
        with self._lock:
            state = self._runs.get(run_id) if run_id else None
            if state is None or state.ended:
                return
            for call_id, output in outputs.items():
                call = state.tools.pop(call_id, None)
                if call is None:  # asked where this process did not see it (a worker handed only the id)
                    call = ToolCall(min(state.seen_ns, sent_ns), None, "function", call_id)
                closed.append((call, output))
        for call, output in closed:
            self._end_tool_call(state, call, sent_ns, None, self.capture.text(output))

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

    # ----- runs the app does not see end ---------------------------------------------------

    def sweep(self, now: float | None = None) -> None:
        """Act on what is due: look up owned runs unseen for a while or past their expiry, close
        the await_run spans of observed runs past theirs. Cheap when nothing is due."""
        current = time.time() if now is None else now
        if now is None and current < self._next_sweep:
            return
        self._next_sweep = current + SWEEP_INTERVAL_S
        self._due(current)

    def _tick(self) -> float | None:
        """The serving thread's clock: act on what is due, say when to come back."""
        self._due(time.time())
        with self._lock:
            return self._deadlines[0][0] if self._deadlines else None

    def _due(self, now: float) -> None:
        lookups: list[_Lookup] = []
        give_up: list[RunState] = []
        close: list[RunState] = []
        with self._lock:
            while self._deadlines and self._deadlines[0][0] <= now:
                due, _, key = heapq.heappop(self._deadlines)
                state = self._runs.get(key)
                if state is None or state.ended or state.due != due:
                    continue
                if not state.owner:
                    self._claim(state)
                    close.append(state)
                    continue
                upcoming = self._next_lookup(state)
                if upcoming > now:  # the app saw it since: not due after all
                    self._reschedule(state, upcoming)
                elif state.lookup_in_flight:
                    self._reschedule(state, now + LOOKUP_RETRY_S)
                elif state.lookups_left <= 0 or state.api is None or state.run_id is None or state.thread_id is None:
                    self._claim(state)  # nothing left to ask, or nobody to ask: unknown
                    give_up.append(state)
                else:
                    lookups.append(self._start_lookup(state, now))
        for state in close:
            self._finish(state, end_ns=state.seen_ns)
        for state in give_up:
            self._finish(state, error_type=a.ERROR_ABANDONED)
        for lookup in lookups:
            if not self.own_requests.submit(lookup):
                lookup.finish(False, False)

    def _next_lookup(self, state: RunState) -> float:
        """When an owned run is next looked up: an interval after the app or a look-up last saw
        it, the last one at its expiry plus grace."""
        if state.lookups_left <= 1:
            return state.deadline
        return min(max(state.seen_ns / NS_PER_S, state.last_lookup) + state.interval, state.deadline)

    def _start_lookup(self, state: RunState, now: float) -> _Lookup:
        state.lookups_left -= 1
        state.last_lookup = now
        state.lookup_in_flight = True
        if state.lookups_left > 0:
            self._reschedule(state, self._next_lookup(state))
        return _Lookup(self, state, now)

    def looked_up(self, state: RunState, run: Any, final: bool, at: float) -> None:
        """The answer to a look-up made at ``at`` (``run`` None when the API did not answer;
        ``final`` when it said it cannot). A run found ended ends with its true status, usage and
        end time; one still active past its expiry plus grace, or at the last chance, is unknown."""
        with self._lock:
            state.lookup_in_flight = False
            if state.ended:
                return
            status = self._update(state, run) if isinstance(run, dict) else None
            if status in a.TERMINAL_STATUSES:
                self._claim(state)
                end = _server_end_ns(run, status, state)
                outcome: str | None = None
            elif final or self._shutting_down or state.lookups_left <= 0 or at >= state.deadline:
                self._claim(state)  # still active at the last chance, or unanswerable
                outcome = a.ERROR_ABANDONED
            else:
                return
        if outcome is None:
            self._finish(state, end_ns=end)
        else:
            self._finish(state, error_type=outcome)

    def end_all(self, budget_s: float) -> None:
        """Shutdown: every run still open ends now, while exporters can still take the spans.
        Owned runs are looked up first, all within ``budget_s``; observed ones end at their last
        observation."""
        lookups: list[_Lookup] = []
        close: list[RunState] = []
        with self._lock:
            self._shutting_down = True
            now = time.time()
            for state in list(self._runs.values()):
                if state.ended:
                    continue
                if not state.owner:
                    self._claim(state)
                    close.append(state)
                elif (state.api is not None and state.run_id is not None and state.thread_id is not None
                      and state.lookups_left > 0 and not state.lookup_in_flight):
                    lookups.append(self._start_lookup(state, now))
        try:
            for state in close:
                self._finish(state, end_ns=state.seen_ns)
            started = time.monotonic()
            if lookups:
                self.own_requests.serve_now(list(lookups), budget_s)
            # The step fetches of runs that just ended, in what is left of the budget.
            self.own_requests.flush(max(budget_s - (time.monotonic() - started), 0.0))
            with self._lock:
                left = [state for state in self._runs.values() if not state.ended]
                for state in left:
                    self._claim(state)
                self._deadlines.clear()
            for state in left:
                self._finish(state, error_type=a.ERROR_ABANDONED)
        finally:
            self._shutting_down = False

    def _forked(self) -> None:
        """In a child process after a fork: the runs open then are the parent's, which goes on
        following and reports them; the child forgets them (and their counts), so that summed over
        both processes nothing is counted twice."""
        self._lock = threading.RLock()  # another thread may have held it at the fork
        self._runs.clear()
        self._deadlines.clear()
        self._telemetry.totals.forked()

    @property
    def tracked(self) -> int:
        return len(self._runs)

    # ----- internals (callers hold the lock unless said otherwise) -----------------------

    def _lookup(self, run_id: str | None) -> RunState | None:
        if run_id is None:
            return None
        state = self._runs.get(run_id)
        return state if state is not None and not state.ended else None

    def _register(self, key: Any, state: RunState) -> list[RunState]:
        """Track a run; returns the oldest runs evicted beyond the cap, for the caller to finish
        once it no longer holds the lock."""
        evicted: list[RunState] = []
        with self._lock:
            state.key = key
            self._runs[key] = state
            self._set_schedule(state)
            while len(self._runs) > self._cap:
                _, oldest = self._runs.popitem(last=False)
                self._claim(oldest)
                evicted.append(oldest)
            if state.owner:
                self._telemetry.totals.started(state.client.provider)
        return evicted

    def _finish_evicted(self, evicted: list[RunState]) -> None:
        """Without the lock: an owned run evicted unseen is unknown; an observed one ends at its last sight."""
        for old in evicted:
            if old.owner:
                self._finish(old, error_type=a.ERROR_ABANDONED)
            else:
                self._finish(old, end_ns=old.seen_ns)

    def _set_schedule(self, state: RunState) -> None:
        """The look-up spacing of an owned run (its life in MAX_LOOKUPS even parts), and its next due time."""
        if state.owner:
            state.interval = max(state.deadline - state.seen_at, 0.0) / MAX_LOOKUPS
            state.last_lookup = state.seen_at
            state.due = self._next_lookup(state)
        else:
            state.due = state.deadline
        self._schedule(state)

    def _reschedule(self, state: RunState, due: float) -> None:
        state.due = due
        self._schedule(state)

    def _schedule(self, state: RunState) -> None:
        heapq.heappush(self._deadlines, (state.due, next(self._sequence), state.key))
        # Entries of ended runs stay until popped (they hold only a key); rebuild before they
        # outnumber live runs.
        if len(self._deadlines) > 2 * len(self._runs) + 64:
            live = [(s.due, next(self._sequence), s.key) for s in self._runs.values() if not s.ended]
            heapq.heapify(live)
            self._deadlines = live
        self.own_requests.wake_at(state.due)

    def _follow(self, run_id: str, client: ClientInfo, api: Any, start_ns: int, parent: Any,
                run: Any) -> tuple[RunState, list[RunState]]:
        """Start following a run another process created, met at ``start_ns``; with the runs
        evicted to make room."""
        assistant_id = f.text(run, "assistant_id")
        name = self.agent_name(assistant_id)
        owner = self._adopt
        if owner:  # adopted: its span starts when the server created it
            created = f.integer(run, "created_at")
            start = min(created * NS_PER_S, start_ns) if created is not None else start_ns
        else:
            start = start_ns
        # An owner that wrote its run span's trace context into the run's metadata: one trace.
        parent = remote_parent(f.get(run, "metadata")) or parent
        span = self._open_span(client, start, assistant_id, name, {a.RUN_ID: run_id}, owner=owner, parent=parent)
        seen_at = start_ns / NS_PER_S
        state = RunState(
            span=span, context=trace.set_span_in_context(span), start_ns=start, client=client,
            deadline=seen_at + DEFAULT_RUN_LIFETIME_S + ABANDON_GRACE_S, seen_at=seen_at, owner=owner,
            api=api if owner else None, run_id=run_id, assistant_id=assistant_id, agent_name=name,
            seen_ns=start_ns, lookups_left=MAX_LOOKUPS if owner else 0,
        )
        return state, self._register(run_id, state)

    def _open_span(self, client: ClientInfo, start: int, assistant_id: str | None, name: str | None,
                   attributes: dict[str, Any], *, owner: bool, parent: Any = None) -> Span:
        attributes.update(client.run_attributes)
        if not owner:
            attributes[a.OPERATION_NAME] = a.AWAIT_RUN
        if assistant_id is not None:
            attributes[a.AGENT_ID] = assistant_id
        if name is not None:
            attributes[a.AGENT_NAME] = name
        operation = a.INVOKE_AGENT if owner else a.AWAIT_RUN
        return self._telemetry.tracer.start_span(
            _span_name(operation, name), context=parent, kind=SpanKind.CLIENT if owner else SpanKind.INTERNAL,
            start_time=start, attributes=attributes)

    def _update(self, state: RunState, run: Any) -> str | None:
        span = state.span
        fields = f.view(run)  # read once per observation: this runs on every poll
        state.thread_id = state.thread_id or f.as_text(fields.get("thread_id"))
        state.assistant_id = state.assistant_id or f.as_text(fields.get("assistant_id"))
        state.response_model = f.as_text(fields.get("model")) or state.response_model
        state.created_at = f.as_int(fields.get("created_at")) or state.created_at
        state.started_at = f.as_int(fields.get("started_at")) or state.started_at
        if state.builtin_tools is None:
            tools = fields.get("tools")
            if isinstance(tools, (list, tuple)):
                state.builtin_tools = any(f.text(tool, "type") in a.BUILTIN_TOOLS for tool in tools)
        expires_at = f.as_int(fields.get("expires_at"))
        if expires_at is not None and state.created_at is not None:
            # The server's lifetime for the run, counted on the client's clock: skew-proof.
            deadline = state.seen_at + max(expires_at - state.created_at, 0) + ABANDON_GRACE_S
            if deadline != state.deadline:
                state.deadline = deadline
                self._set_schedule(state)
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
            if state.tools and status in AFTER_SUBMISSION:
                state.tools.clear()  # answered by another process: that one records them
            state.status = status
            if span.is_recording():
                span.add_event(a.RUN_STATUS_EVENT, {a.RUN_STATUS: status})
        if status == "requires_action":
            self._tool_calls_asked(state, fields.get("required_action"))
        return status

    def _tool_calls_asked(self, state: RunState, action: Any) -> None:
        calls = f.items(f.get(action, "submit_tool_outputs"), "tool_calls")
        asked = {f.text(call, "id") for call in calls}
        for call_id in [known for known in state.tools if known not in asked]:
            del state.tools[call_id]  # an earlier round, answered by another process
        start = now_ns()
        for call in calls:
            call_id = f.text(call, "id")
            if call_id is None or call_id in state.tools:
                continue
            kind = f.text(call, "type") or "function"
            function = f.get(call, "function")
            state.tools[call_id] = ToolCall(start, f.text(function, "name") or kind, a.TOOL_TYPES.get(kind, kind),
                                            call_id, self.capture.text(f.get(function, "arguments")))

    def _end_tool_call(self, state: RunState, call: ToolCall, end: int, error_type: str | None,
                       result: str | None = None) -> None:
        """A function call's span, made now that its end is known, and its duration point."""
        attributes: dict[str, Any] = {a.OPERATION_NAME: a.EXECUTE_TOOL, a.TOOL_CALL_ID: call.call_id,
                                      a.TOOL_TYPE: call.tool_type}
        if call.name is not None:
            attributes[a.TOOL_NAME] = call.name
        span = self._telemetry.tracer.start_span(
            _span_name(a.EXECUTE_TOOL, call.name), context=state.context, kind=SpanKind.INTERNAL,
            start_time=call.start_ns, attributes=attributes)
        self.capture.record(span, {a.TOOL_CALL_ARGUMENTS: call.arguments, a.TOOL_CALL_RESULT: result})
        end_tool_call(self._telemetry, span, call, end, error_type)

    def _claim(self, state: RunState) -> None:
        """Mark a run ended (under the lock) so that exactly one caller finishes it."""
        state.ended = True
        if self._runs.get(state.key) is state:
            del self._runs[state.key]
        if state.run_id is not None:
            self._ended[state.run_id] = EndedRun(state.span.get_span_context(), state.start_ns, state.done_steps)
            while len(self._ended) > self._cap:
                self._ended.popitem(last=False)

    def _end_open_steps(self, state: RunState, end: int) -> None:
        """End the steps a stream saw start and not finish, as last seen."""
        with self._lock:
            left = list(state.open_steps.items())
            state.open_steps.clear()
            state.done_steps.update(step_id for step_id, _ in left)
        for _, open_step in left:
            step_spans.end_step_span(self._telemetry, self.capture, open_step.span, open_step.step,
                                     open_step.start_ns, end)

    def _finish(self, state: RunState, *, error_type: str | None = None, error: BaseException | None = None,
                end_ns: int | None = None, fetch_steps: bool = False) -> None:
        """Close the run's span (at ``end_ns``, else now) and record its metrics. Called once per
        run, without the lock. ``fetch_steps``: the app saw the run end, so its steps may be fetched."""
        end = now_ns() if end_ns is None else max(end_ns, state.start_ns)
        tools = list(state.tools.values())
        state.tools.clear()
        if state.owner:  # the calls nobody answered; an observer leaves them to the owner
            for call in tools:
                self._end_tool_call(state, call, max(end, call.start_ns), a.ERROR_TOOL_OUTPUT_NOT_SUBMITTED)
        if state.open_steps:  # a stream that stopped mid-step
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
                span.update_name(_span_name(a.INVOKE_AGENT if state.owner else a.AWAIT_RUN, state.agent_name))
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
            mark_error(span, error_type)
        self._telemetry.content.flush(span, end)
        span.end(end_time=end)
        if not state.owner:
            return
        record_run(self._telemetry, state, error_type, seconds_between(state.start_ns, end))
        # The step fetch, where the steps can say more than the spans already made: a polled run
        # the app saw end here whose tools include a built-in one.
        if (fetch_steps and self._fetch_steps and not state.streamed and state.builtin_tools
                and state.api is not None and state.thread_id is not None):
            self.own_requests.submit(_StepFetch(self, state))


class _Lookup:
    """One look-up of an owned run: ``runs.retrieve`` through the app's configuration."""

    kind = a.OWN_REQUEST_RUN_LOOKUP

    def __init__(self, tracker: RunTracker, state: RunState, at: float) -> None:
        self.api = state.api
        self._tracker = tracker
        self._state = state
        self._at = at
        self._asked = False
        self._run: Any = None

    def next_request(self, client: Any, timeout: float) -> Any:
        if self._asked:
            return None
        self._asked = True
        state = self._state
        return client.beta.threads.runs.with_raw_response.retrieve(state.run_id, thread_id=state.thread_id,
                                                                   timeout=timeout)

    def answered(self, body: Any) -> None:
        self._run = body

    def finish(self, ok: bool, final: bool) -> None:
        self._tracker.looked_up(self._state, self._run if ok else None, final, self._at)


STEP_PAGE_SIZE = 100
STEP_FETCH_MAX_PAGES = 50  # a run has far fewer steps; this only bounds a misbehaving server


class _StepFetch:
    """``run_steps=fetch``: every page of a run's step listing, read as raw JSON (the SDK's models
    are not built for the few fields read). Pages are followed by hand because early SDK
    releases ask for one more, empty, page."""

    kind = a.OWN_REQUEST_STEP_FETCH

    def __init__(self, tracker: RunTracker, state: RunState) -> None:
        self.api = state.api
        self._tracker = tracker
        self._state = state
        self._steps: list[Any] = []
        self._after: str | None = None
        self._pages = 0
        self._more = True

    def next_request(self, client: Any, timeout: float) -> Any:
        if not self._more or self._pages >= STEP_FETCH_MAX_PAGES:
            return None
        self._pages += 1
        query: dict[str, Any] = {"thread_id": self._state.thread_id, "limit": STEP_PAGE_SIZE, "order": "asc",
                                 "timeout": timeout}
        if self._after is not None:
            query["after"] = self._after
        if self._tracker.capture.enabled:  # file_search result text is only sent when asked for
            query["extra_query"] = {"include[]": a.FILE_SEARCH_CONTENT}
        return client.beta.threads.runs.steps.with_raw_response.list(self._state.run_id, **query)

    def answered(self, body: Any) -> None:
        data = f.items(body, "data")
        self._steps.extend(data)
        more = f.get(body, "has_more")
        if not isinstance(more, bool):  # a server that does not say: a full page may have more
            more = len(data) >= STEP_PAGE_SIZE
        self._after = f.text(data[-1], "id") if more and data else None
        self._more = self._after is not None

    def finish(self, ok: bool, final: bool) -> None:
        # Also after a failed fetch: what the pages that came back say is still true.
        self._tracker.steps_seen(self._state.run_id, self._steps, state=self._state)


def _server_end_ns(run: Any, status: str, state: RunState) -> int:
    """When a run found ended by a look-up ended: the server's time, kept after everything this
    process saw of it and not in the future."""
    ended = f.integer(run, END_FIELDS.get(status, ""))
    now = now_ns()
    if ended is None:
        return now
    return min(max(ended * NS_PER_S, state.seen_ns, state.start_ns), now)


def _span_name(operation: str, name: str | None) -> str:
    return f"{operation} {name}" if name else operation


# Request body key -> run span attribute, with the reader that keeps only a value of the right type.
_REQUEST_SETTINGS = (
    ("temperature", a.REQUEST_TEMPERATURE, f.as_number),
    ("top_p", a.REQUEST_TOP_P, f.as_number),
    ("max_completion_tokens", a.REQUEST_MAX_TOKENS, f.as_int),
)
