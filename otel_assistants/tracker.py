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

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import NonRecordingSpan

from . import attributes as a
from . import fields as f
from . import steps as step_spans
from .config import Settings
from .content import Capture
from .ingestion import IngestionJob, IngestionTracker
from .outcomes import record_first_chunk, record_run
from .own_jobs import IngestionLookup, RunLookup, StepFetch
from .own_requests import OwnRequests
from .propagation import remote_parent
from .registry import RunRegistry
from .run_spans import end_run_span, open_run_span, status_seen, tool_call_span
from .runstate import ClientInfo, OpenStep, RunState, ToolCall
from .spans import NS_PER_S, now_ns, seconds_between
from .telemetry import Telemetry

# A run that never reports an expiry gets the API's own 10-minute limit.
DEFAULT_RUN_LIFETIME_S = 600
# Grace after expires_at: by then the API has ended the run, one way or another.
ABANDON_GRACE_S = 60
# How often deadlines are checked on the request path (the serving thread keeps time otherwise).
SWEEP_INTERVAL_S = 1.0
# Assistant id -> name memory, so run spans can be named without an extra request.
AGENT_NAME_MEMORY = 10000

# Stream events with nothing for a run: neither a status, nor a finished step, nor the first chunk.
QUIET_STREAM_EVENTS = frozenset({"thread.run.step.delta", "thread.message.created", "thread.message.in_progress",
                                 "thread.message.incomplete", "done"})
STEP_EVENTS = frozenset({"thread.run.step.created", "thread.run.step.in_progress", "thread.run.step.completed",
                         "thread.run.step.failed", "thread.run.step.cancelled", "thread.run.step.expired"})
# A run's server time (seconds) at which it ended, by terminal status.
END_FIELDS = {"completed": "completed_at", "incomplete": "completed_at", "failed": "failed_at",
              "cancelled": "cancelled_at", "expired": "expires_at"}
# Statuses a run reaches only after the tool outputs it waited for were submitted.
AFTER_SUBMISSION = frozenset({"queued", "in_progress", "completed", "incomplete"})


class RunTracker:
    """The entry points, named for what the app's requests tell (a run created, polled,
    answered, listed, met, looked up); run state lives in the registry, telemetry is made by
    run_spans.py, steps.py and outcomes.py. The lock rule is the registry's (registry.py)."""

    def __init__(self, telemetry: Telemetry, settings: Settings) -> None:
        self._telemetry = telemetry
        self._fetch_steps = settings.run_steps == "fetch"
        self._steps_enabled = settings.run_steps != "off"
        self.capture = Capture(settings.capture_content, settings.max_content_length, telemetry.content)
        self._agent_names: OrderedDict[str, str] = OrderedDict()
        self.next_sweep = 0.0  # when sweep() next acts (time.time()); read on every request
        self.own_requests = OwnRequests(telemetry.own_requests, self._tick, self._forked)
        self.registry = RunRegistry(settings.max_tracked_runs, settings.adopt_runs, self.own_requests.wake_at)
        # Vector store ingestion jobs, in the same registry (ingestion.py).
        self.ingestion = IngestionTracker(telemetry, self.registry, self._finish_evicted)
        # Stream events that tell this tracker nothing, as configured: a stream's observer passes
        # them by without a call (most of a stream's events, unless steps or content are recorded).
        ignored = set(QUIET_STREAM_EVENTS)
        if not self._steps_enabled:
            ignored.update(STEP_EVENTS)
        if not self.capture.enabled:
            ignored.add("thread.message.completed")
        self.ignored_stream_events = frozenset(ignored)

    # ----- a run this process creates ------------------------------------------------------

    def start(self, client: ClientInfo, thread_id: str | None, body: dict[str, Any], api: Any = None) -> RunState:
        """The request that creates a run is about to be sent: open its span now."""
        assistant_id = f.as_text(body.get("assistant_id"))
        name = self._agent_names.get(assistant_id) if assistant_id is not None else None
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
        if not _SETTING_KEYS.isdisjoint(body):  # most creates set none of them
            for key, attribute, read in _REQUEST_SETTINGS:
                value = body.get(key)
                if value is not None and (value := read(value)) is not None:
                    requested[attribute] = value
        span = open_run_span(self._telemetry, client, start, assistant_id, name, requested, owner=True)
        recording = span.is_recording()
        if self.capture.enabled and recording:
            thread = body.get("thread")
            messages = list(body.get("additional_messages") or []) + list(f.items(thread, "messages"))
            self.capture.record(span, {
                a.SYSTEM_INSTRUCTIONS: self.capture.system_instructions(body.get("instructions"),
                                                                        body.get("additional_instructions")),
                a.INPUT_MESSAGES: self.capture.input_messages(messages),
            })
        state = RunState(
            span=span, span_context=span.get_span_context(), context=trace.set_span_in_context(span),
            start_ns=start, client=client, recording=recording,
            deadline=start / NS_PER_S + DEFAULT_RUN_LIFETIME_S + ABANDON_GRACE_S, seen_at=start / NS_PER_S,
            api=api, thread_id=thread_id, assistant_id=assistant_id, agent_name=name,
            request_model=request_model, streamed=stream, seen_ns=start,
        )
        if self._telemetry.metered:
            self._telemetry.totals.started(client.provider)
        evicted = self.registry.add(object(), state)
        if evicted:
            self._finish_evicted(evicted)
        return state

    def created(self, state: RunState, run: Any) -> None:
        """The create request answered with the run: from now on it is known by its id."""
        field = f.view(run).get
        run_id = f.as_text(field("id"))
        if run_id is None:
            return
        registry = self.registry
        with registry.lock:  # one hold: filed under its id and read, then put on the clock once
            if not registry.rekey(state, run_id):
                return
            state.seen_ns = now_ns()
            terminal = self._update(state, field) in a.TERMINAL_STATUSES and registry.claim(state)
            if not terminal:
                registry.schedule(state)
        if terminal:
            self._finish(state, fetch_steps=True)

    def fail(self, state: RunState, error: BaseException) -> None:
        """The SDK raised for this run's own request or stream: the run span ends with the exception."""
        if self.registry.claim(state):
            self._finish(state, error=error)

    # ----- what the app's requests tell of a run -------------------------------------------

    def state_for(self, run_id: str | None) -> RunState | None:
        with self.registry.lock:
            return self.registry.live(run_id)

    def has_ended(self, run_id: str | None) -> bool:
        """This process saw the run end (or gave up on it): later requests for it are plain operations."""
        return self.registry.has_ended(run_id)

    def polled(self, run: Any, state: RunState) -> None:
        """A retrieve of a followed run answered: one more poll, and what it says."""
        self._seen(run, state, poll=True)

    def answered(self, run: Any, state: RunState | None) -> None:
        """A request that acts on a run (submit, cancel, update) answered with the run."""
        self._seen(run, state)

    def listed(self, runs: list[Any]) -> None:
        """A run listing: the runs this process follows learn what it says of them."""
        for run in runs:
            self._seen(run, None)

    def poll_failed(self, run_id: str | None, error: BaseException) -> None:
        """A retrieve raised: the run goes on server-side, so the span records it and stays open."""
        state = self.state_for(run_id)
        if state is not None and state.recording and state.span.is_recording():
            state.span.record_exception(error)

    def tool_outputs_submitted(self, run_id: str | None, outputs: dict[str, Any], sent_ns: int) -> None:
        """The API accepted tool outputs this process sent at ``sent_ns`` (call id -> output):
        this process answered these calls, so it records them."""
        closed: list[tuple[ToolCall, Any]] = []
        with self.registry.lock:
            state = self.registry.live(run_id)
            if state is None:
                return
            for call_id, output in outputs.items():
                call = state.tools.pop(call_id, None)
                if call is None:  # asked where this process did not see it (a worker handed only the id)
                    call = ToolCall(min(state.seen_ns, sent_ns), None, "function", call_id)
                closed.append((call, output))
        for call, output in closed:
            tool_call_span(self._telemetry, self.capture, state, call, sent_ns, None, self.capture.text(output))

    # ----- a run another process created -------------------------------------------------------

    def met(self, run: Any, client: ClientInfo, api: Any, start_ns: int, parent: Any) -> bool:
        """A retrieve answered with a run this process was not following. An unended run is
        followed from the request's start (as its observer, or its owner with ``adopt_runs``);
        an ended one is not (False: the request is a plain operation)."""
        run_id = f.text(run, "id")
        if run_id is None or f.text(run, "status") in a.TERMINAL_STATUSES:
            return False
        evicted: list[RunState] = []
        registry = self.registry
        with registry.lock:
            state = registry.live(run_id)
            if state is None:
                if registry.has_ended(run_id):
                    return False
                state, evicted = self._follow(run_id, client, api, start_ns, parent, run)
        self._finish_evicted(evicted)
        self._seen(run, state, poll=True)
        return True

    def follow(self, run_id: str, thread_id: str | None, client: ClientInfo, api: Any) -> RunState | None:
        """A request acts on a run this process is not following (a tool-output submission, a
        cancel): follow it from now, so the request and what it returns nest under it. None when
        this process already saw the run end."""
        evicted: list[RunState] = []
        registry = self.registry
        with registry.lock:
            state = registry.live(run_id)
            if state is None and not registry.has_ended(run_id):
                state, evicted = self._follow(run_id, client, api, now_ns(), otel_context.get_current(), None)
                state.thread_id = state.thread_id or thread_id
        self._finish_evicted(evicted)
        return state

    def unfollow(self, state: RunState) -> None:
        """The request that made this process follow a run was refused: the API did not act on
        the run for it, so there is nothing to follow."""
        if not state.owner and self.registry.claim(state):
            self._finish(state, end_ns=state.seen_ns)

    def _follow(self, run_id: str, client: ClientInfo, api: Any, start_ns: int, parent: Any,
                run: Any) -> tuple[RunState, list[RunState]]:
        """Start following a run another process created, met at ``start_ns``; with the runs
        evicted to make room."""
        assistant_id = f.text(run, "assistant_id")
        name = self.agent_name(assistant_id)
        owner = self.registry.adopt
        if owner:  # adopted: its span starts when the server created it
            created = f.integer(run, "created_at")
            start = min(created * NS_PER_S, start_ns) if created is not None else start_ns
        else:
            start = start_ns
        # An owner that wrote its run span's trace context into the run's metadata: one trace.
        parent = remote_parent(f.get(run, "metadata")) or parent
        span = open_run_span(self._telemetry, client, start, assistant_id, name, {a.RUN_ID: run_id},
                             owner=owner, parent=parent)
        seen_at = start_ns / NS_PER_S
        state = RunState(
            span=span, span_context=span.get_span_context(), context=trace.set_span_in_context(span),
            start_ns=start, client=client, recording=span.is_recording(),
            deadline=seen_at + DEFAULT_RUN_LIFETIME_S + ABANDON_GRACE_S, seen_at=seen_at, owner=owner,
            api=api if owner else None, run_id=run_id, assistant_id=assistant_id, agent_name=name,
            seen_ns=start_ns,
        )
        if owner and self._telemetry.metered:
            self._telemetry.totals.started(client.provider)
        return state, self.registry.add(run_id, state)

    # ----- streams -----------------------------------------------------------------------------

    def mark_streamed(self, state: RunState) -> None:
        state.streamed = True
        if state.recording and state.span.is_recording():
            state.span.set_attribute(a.REQUEST_STREAM, True)

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
                self._seen(data, state)
        elif name == "thread.message.completed":
            if self.capture.enabled and f.text(data, "role") == "assistant":
                state.outputs.append(data)
        elif name == "thread.message.delta" and not state.first_chunk_seen:
            state.first_chunk_seen = True
            record_first_chunk(self._telemetry, state, request_start_ns)

    def _stream_step(self, state: RunState, name: str, step: Any) -> None:
        """Steps seen live: spans with the times the client saw them start and end."""
        if not self._steps_enabled:
            return
        step_id = f.text(step, "id")
        if step_id is None:
            return
        registry = self.registry
        if name == "thread.run.step.created":
            with registry.lock:
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
        with registry.lock:
            open_step = state.open_steps.pop(step_id, None)
            if open_step is None or step_id in state.done_steps:
                return
            state.done_steps.add(step_id)
        step_spans.end_step_span(self._telemetry, self.capture, open_step.span, step, open_step.start_ns, now_ns())

    def stream_stopped(self, state: RunState, *, error: BaseException | None) -> None:
        """A run's stream stopped before the run's end. The run goes on server-side: an owned run
        is looked up when due; an SDK exception the stream raised ends it with that exception
        (unless it waits for tool outputs, which it still does whatever the stream did). A run
        whose id the stream never told cannot be looked up: it is unknown at once."""
        if state.ended:
            return
        with self.registry.lock:
            waiting = state.status == "requires_action"
            state.seen_ns = now_ns()
            unknown = error is None and state.owner and state.run_id is None and self.registry.claim(state)
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

    # ----- steps -------------------------------------------------------------------------------

    def steps_seen(self, run_id: str | None, steps: list[Any], state: RunState | None = None) -> None:
        """Steps from a listing, a retrieve or the step fetch: finished ones not yet described get
        spans with the server's times, under their run's span (even when the run already ended)."""
        if not self._steps_enabled or not steps:
            return
        registry = self.registry
        with registry.lock:
            if state is None:
                state = registry.live(run_id)
            if state is not None:
                parent, done, run_start = state.context, state.done_steps, state.start_ns
            else:
                ended = registry.ended(run_id)
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

    # ----- names and parents -------------------------------------------------------------------

    def context_for(self, run_id: str | None) -> Any:
        """The context whose current span is the run's, for spans made on its behalf anywhere,
        also after the run ended."""
        state = self.registry.live(run_id)
        if state is not None:
            return state.context
        ended = self.registry.ended(run_id)
        return trace.set_span_in_context(NonRecordingSpan(ended.span_context)) if ended is not None else None

    def learn_agent(self, assistant_id: str | None, name: str | None) -> None:
        if assistant_id is None or name is None:
            return
        with self.registry.lock:
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
        if now is None and current < self.next_sweep:
            return
        self.next_sweep = current + SWEEP_INTERVAL_S
        self._act_on(self.registry.due(current), current)

    def _tick(self) -> float | None:
        """The serving thread's clock: act on what is due, say when to come back."""
        current = time.time()
        self._act_on(self.registry.due(current), current)
        return self.registry.next_due()

    def _act_on(self, due: Any, now: float) -> None:
        for state in due.unseen:
            self._finish(state, end_ns=state.seen_ns)
        for state in due.unknown:
            self._abandon(state)
        for state in due.look_up:
            lookup = self._lookup(state, now)
            if not self.own_requests.submit(lookup):
                lookup.finish(False, False)

    def _lookup(self, state: Any, now: float) -> RunLookup | IngestionLookup:
        if isinstance(state, IngestionJob):
            return IngestionLookup(self.ingestion, state, now)
        return RunLookup(self, state, now)

    def _abandon(self, state: Any) -> None:
        """An owned run (or ingestion job) whose end stays unknown."""
        if isinstance(state, IngestionJob):
            self.ingestion.finish(state, error_type=a.ERROR_ABANDONED)
        else:
            self._finish(state, error_type=a.ERROR_ABANDONED)

    def looked_up(self, state: RunState, run: Any, final: bool, at: float) -> None:
        """The answer to a look-up made at ``at`` (``run`` None when the API did not answer;
        ``final`` when it said it cannot). A run found ended ends with its true status, usage and
        end time; one still active past its expiry plus grace, or at the last chance, is unknown."""
        registry = self.registry
        with registry.lock:
            state.lookup_in_flight = False
            if state.ended:
                return
            status = self._update(state, run.get) if isinstance(run, dict) else None
            if status in a.TERMINAL_STATUSES:
                registry.claim(state)
                end = _server_end_ns(run, status, state)
                outcome: str | None = None
            elif registry.lookup_was_last(state, at, final):
                registry.claim(state)  # still active at the last chance, or unanswerable
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
        registry = self.registry
        now = time.time()
        try:
            due = registry.at_shutdown(now)
            for state in due.unseen:
                self._finish(state, end_ns=state.seen_ns)
            started = time.monotonic()
            if due.look_up:
                self.own_requests.serve_now([self._lookup(state, now) for state in due.look_up], budget_s)
            # The step fetches of runs that just ended, in what is left of the budget.
            self.own_requests.flush(max(budget_s - (time.monotonic() - started), 0.0))
            for state in registry.claim_all():
                self._abandon(state)
        finally:
            registry.shutting_down = False

    def _forked(self) -> None:
        """In a child process after a fork: the runs open then are the parent's; the child
        forgets them (and their counts), so that summed over both processes nothing is counted twice."""
        self.registry.forked()
        self._telemetry.totals.forked()

    @property
    def tracked(self) -> int:
        return len(self.registry)

    # ----- state from what the API said, and the end of a run -----------------------------------

    def _seen(self, run: Any, state: RunState | None, *, poll: bool = False) -> None:
        """Any Run object the app received: a response, a stream event, a listing's entry.
        Listings and responses for runs not followed change nothing."""
        field = f.view(run).get
        run_id = field("id")
        if not isinstance(run_id, str) or not run_id:
            return
        registry = self.registry
        with registry.lock:
            if state is None:
                state = registry.live(run_id)
            if state is None or state.ended:
                return
            if poll:
                state.poll_count += 1
            state.seen_ns = now_ns()
            terminal = self._update(state, field) in a.TERMINAL_STATUSES and registry.claim(state)
        if terminal:
            self._finish(state, fetch_steps=True)

    def _update(self, state: RunState, field: Callable[[str], Any]) -> str | None:
        """What a Run object says (its fields, read by ``field``: a ``f.view(run).get``), into the
        run's state (the registry's lock is held)."""
        # Runs on every poll and run event: a value of the wrong type (a server that sends one)
        # is passed over with inline type checks rather than calls.
        if not state.settled:
            self._settle(state, field)
        if state.started_at is None:  # the one such field a run's first answer may not have yet
            value = field("started_at")
            if type(value) is int and value:
                state.started_at = value
        status = field("status")
        if type(status) is not str or not status:
            return None
        if status != state.status:
            if state.tools and status in AFTER_SUBMISSION:
                state.tools.clear()  # answered by another process: that one records them
            state.status = status
            if state.recording:
                status_seen(state.span, status)
        if status == "requires_action":
            self._tool_calls_asked(state, field("required_action"))
        elif status in a.TERMINAL_STATUSES:  # the API fills these only in a run's final object
            usage = field("usage")
            if usage is not None:
                counts = f.view(usage).get
                prompt, completion = counts("prompt_tokens"), counts("completion_tokens")
                if type(prompt) is not int:
                    prompt = f.as_int(prompt)
                if type(completion) is not int:
                    completion = f.as_int(completion)
                if prompt is not None or completion is not None:
                    state.usage = (prompt or 0, completion or 0)
            details = field("incomplete_details")
            if details is not None:
                state.incomplete_reason = f.text(details, "reason") or state.incomplete_reason
            last_error = field("last_error")
            if last_error is not None:
                state.last_error_code = f.text(last_error, "code") or state.last_error_code
        return status

    def _settle(self, state: RunState, field: Callable[[str], Any]) -> None:
        """A run's thread, agent, model, creation time, tools and expiry never change: read until
        all are known (from its first answer, as a rule), then no more."""
        if state.thread_id is None:
            state.thread_id = f.as_text(field("thread_id"))
        if state.assistant_id is None:
            state.assistant_id = f.as_text(field("assistant_id"))
        if state.response_model is None:
            value = field("model")
            if type(value) is str and value:
                state.response_model = value
        if state.created_at is None:
            value = field("created_at")
            if type(value) is int and value:
                state.created_at = value
        if state.builtin_tools is None:
            tools = field("tools")
            if isinstance(tools, (list, tuple)):
                state.builtin_tools = any(f.text(tool, "type") in a.BUILTIN_TOOLS for tool in tools)
        if not state.expiry_known and state.created_at is not None:
            expires_at = field("expires_at")
            if type(expires_at) is int:
                # The server's lifetime for the run, counted on the client's clock: skew-proof.
                state.expiry_known = True
                deadline = state.seen_at + max(expires_at - state.created_at, 0) + ABANDON_GRACE_S
                if deadline != state.deadline:
                    state.deadline = deadline
                    if state.due:  # on the clock already (a create's answer is filed after this)
                        self.registry.schedule(state)
        state.settled = (state.expiry_known and state.builtin_tools is not None and state.response_model is not None
                         and state.thread_id is not None and state.assistant_id is not None)

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

    def _finish_evicted(self, evicted: list[RunState]) -> None:
        """An owned run evicted unseen is unknown; an observed one ends at its last sight."""
        for old in evicted:
            if old.owner:
                self._abandon(old)
            else:
                self._finish(old, end_ns=old.seen_ns)

    def _end_open_steps(self, state: RunState, end: int) -> None:
        """End the steps a stream saw start and not finish, as last seen."""
        with self.registry.lock:
            left = list(state.open_steps.items())
            state.open_steps.clear()
            state.done_steps.update(step_id for step_id, _ in left)
        for _, open_step in left:
            step_spans.end_step_span(self._telemetry, self.capture, open_step.span, open_step.step,
                                     open_step.start_ns, end)

    def _finish(self, state: RunState, *, error_type: str | None = None, error: BaseException | None = None,
                end_ns: int | None = None, fetch_steps: bool = False) -> None:
        """Close a claimed run's span (at ``end_ns``, else now) and record its metrics; without
        the lock. ``fetch_steps``: the app saw the run end, so its steps may be fetched."""
        end = now_ns() if end_ns is None else max(end_ns, state.start_ns)
        if state.tools:
            tools = list(state.tools.values())
            state.tools.clear()
            if state.owner:  # the calls nobody answered; an observer leaves them to the owner
                for call in tools:
                    tool_call_span(self._telemetry, self.capture, state, call, max(end, call.start_ns),
                                   a.ERROR_TOOL_OUTPUT_NOT_SUBMITTED)
        if state.open_steps:  # a stream that stopped mid-step
            self._end_open_steps(state, end)
        learned = None
        if state.agent_name is None and state.assistant_id is not None:
            state.agent_name = learned = self._agent_names.get(state.assistant_id)
        error_type = end_run_span(self._telemetry, self.capture, state, end, error_type=error_type, error=error,
                                  learned_name=learned)
        if not state.owner:
            return
        if self._telemetry.metered:
            record_run(self._telemetry, state, error_type, seconds_between(state.start_ns, end))
        # The step fetch, where the steps can say more than the spans already made: a polled run
        # the app saw end here whose tools include a built-in one.
        if (fetch_steps and self._fetch_steps and not state.streamed and state.builtin_tools
                and state.api is not None and state.thread_id is not None):
            self.own_requests.submit(StepFetch(self, state))


def _server_end_ns(run: Any, status: str, state: RunState) -> int:
    """When a run found ended by a look-up ended: the server's time, kept after everything this
    process saw of it and not in the future."""
    ended = f.integer(run, END_FIELDS.get(status, ""))
    now = now_ns()
    if ended is None:
        return now
    return min(max(ended * NS_PER_S, state.seen_ns, state.start_ns), now)


# Request body key -> run span attribute, with the reader that keeps only a value of the right type.
_REQUEST_SETTINGS = (
    ("temperature", a.REQUEST_TEMPERATURE, f.as_number),
    ("top_p", a.REQUEST_TOP_P, f.as_number),
    ("max_completion_tokens", a.REQUEST_MAX_TOKENS, f.as_int),
)
_SETTING_KEYS = frozenset(key for key, _, _ in _REQUEST_SETTINGS)
