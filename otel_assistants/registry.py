"""Which runs this process follows, which it saw end, and when each is next due.

The registry owns the tables (live runs by key, runs that ended recently, the deadline heap),
eviction beyond the cap, the look-up schedule and the claim that ends a run exactly once. It
never makes a span or records a point: the runs it hands back are finished by the tracker.

Other server-side jobs the client creates and then polls (vector store ingestion, ingestion.py)
share these tables, the cap and the schedule: a job's state has the fields the schedule reads
(``key``, ``owner``, ``ended``, ``deadline``, ``seen_at``, ``seen_ns``, the look-up fields) and
says its id (``job_id``, set by ``identify``), whether it can be looked up (``askable()``) and what is kept of it once
ended (``ended_view()``). "Run" below stands for either.

The lock rule. One lock, the registry's, guards its tables and every field of every RunState.
Registry methods take it themselves (it is re-entrant); the tracker takes it, as
``with registry.lock``, only around reading and updating a run's state. Nothing that can export
happens while it is held: no span is ended, no metric point recorded, no own request submitted
(starting a span or adding an event to one exports nothing, and may happen under it).
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, NamedTuple

from .runstate import NS_PER_S, EndedRun, RunState

# Look-ups per owned run the app does not see end, spread evenly over its life with the last one
# at its expiry plus grace: a run handed to another process is reported at most
# (600 + 60) / 5 = 132 s after it ended.
MAX_LOOKUPS = 5
# How long a look-up in flight may keep its run waiting before the next one is tried.
LOOKUP_RETRY_S = 5.0


class Due(NamedTuple):
    """What the clock made due; every run in ``unknown`` and ``unseen`` is already claimed."""

    look_up: list[RunState]  # owned runs to ask the API about now
    unknown: list[RunState]  # owned runs with nothing left to ask, or nobody to ask: abandoned
    unseen: list[RunState]  # observed runs past their deadline: they end at their last sighting


class RunRegistry:
    def __init__(self, cap: int, adopt: bool, wake_at: Callable[[float], None]) -> None:
        self.lock = threading.RLock()
        self._wake_at = wake_at  # the clock's keeper is told of every due time filed
        self.adopt = adopt  # a process that meets a run it did not create owns it (adopt_runs)
        self.shutting_down = False
        self._cap = cap
        self._runs: OrderedDict[Any, RunState] = OrderedDict()  # oldest first, for eviction
        # Runs that ended recently: a late retrieve makes no new span, late step listings find their parent.
        self._ended: OrderedDict[str, EndedRun] = OrderedDict()
        self._deadlines: list[tuple[float, int, Any]] = []  # (due, tiebreak, run key)
        self._sequence = itertools.count()

    def __len__(self) -> int:
        return len(self._runs)

    # ----- reading -------------------------------------------------------------------------

    def live(self, run_id: str | None) -> RunState | None:
        """The run followed under this id, unless it ended."""
        if run_id is None:
            return None
        state = self._runs.get(run_id)
        return state if state is not None and not state.ended else None

    def has_ended(self, run_id: str | None) -> bool:
        return run_id is not None and run_id in self._ended

    def ended(self, run_id: str | None) -> EndedRun | None:
        return self._ended.get(run_id) if run_id is not None else None

    # ----- following and ending -------------------------------------------------------------

    def add(self, key: Any, state: RunState) -> list[RunState]:
        """Follow a run (under ``key``: its id, or a placeholder until the create answers);
        returns the oldest runs evicted beyond the cap, claimed, for the caller to finish."""
        evicted: list[RunState] = []
        with self.lock:
            state.key = key
            self._runs[key] = state
            if state.owner:
                state.lookups_left = MAX_LOOKUPS
            if state.job_id is not None:  # a run known by a placeholder is filed once its id is known
                self._schedule(state)
            while len(self._runs) > self._cap:
                _, oldest = self._runs.popitem(last=False)
                self._claim(oldest)
                evicted.append(oldest)
        return evicted

    def rekey(self, state: RunState, run_id: str) -> bool:
        """The create answered: the run is known by its id from now on. False when it ended
        meanwhile or the id is already followed (the same run reported twice keeps its first span).
        The caller puts it on the clock (``schedule``) once it read the answer, under the same hold."""
        with self.lock:
            if state.ended or state.job_id is not None or run_id in self._runs:
                return False
            self._runs.pop(state.key, None)
            state.identify(run_id)
            state.key = run_id
            self._runs[run_id] = state
            return True

    def claim(self, state: RunState) -> bool:
        """Mark a run ended so that exactly one caller finishes it: True for that caller."""
        with self.lock:
            if state.ended:
                return False
            self._claim(state)
            return True

    def _claim(self, state: RunState) -> None:
        state.ended = True
        if self._runs.get(state.key) is state:
            del self._runs[state.key]
        job_id = state.job_id
        if job_id is not None:
            self._ended[job_id] = state.ended_view()
            while len(self._ended) > self._cap:
                self._ended.popitem(last=False)

    # ----- the clock --------------------------------------------------------------------------

    def schedule(self, state: RunState) -> None:
        """File a run under its next due time: an owned run's look-up spacing is its life in
        MAX_LOOKUPS even parts; an observed run is due at its deadline."""
        with self.lock:
            self._schedule(state)

    def due(self, now: float) -> Due:
        """Pop what is due by ``now``: owned runs to look up (their look-up counted as begun),
        and the runs to finish."""
        found = Due([], [], [])
        with self.lock:
            while self._deadlines and self._deadlines[0][0] <= now:
                due, _, key = heapq.heappop(self._deadlines)
                state = self._runs.get(key)
                if state is None or state.ended or state.due != due:
                    continue
                if not state.owner:
                    self._claim(state)
                    found.unseen.append(state)
                    continue
                upcoming = self._next_lookup(state)
                if upcoming > now:  # the app saw it since: not due after all
                    self._reschedule(state, upcoming)
                elif state.lookup_in_flight:
                    self._reschedule(state, now + LOOKUP_RETRY_S)
                elif state.lookups_left <= 0 or not state.askable():
                    self._claim(state)
                    found.unknown.append(state)
                else:
                    self._begin_lookup(state, now)
                    found.look_up.append(state)
        return found

    def next_due(self) -> float | None:
        with self.lock:
            return self._deadlines[0][0] if self._deadlines else None

    def lookup_was_last(self, state: RunState, at: float, final: bool) -> bool:
        """A look-up made at ``at`` found the run still active (or got no answer; ``final``: the
        API said it cannot answer): whether that was its last chance."""
        return final or self.shutting_down or state.lookups_left <= 0 or at >= state.deadline

    def at_shutdown(self, now: float) -> Due:
        """Every open run at shutdown: observed ones claimed, owned ones looked up once more
        where they can be (those left open are ``claim_all``'s)."""
        found = Due([], [], [])
        with self.lock:
            self.shutting_down = True
            for state in list(self._runs.values()):
                if state.ended:
                    continue
                if not state.owner:
                    self._claim(state)
                    found.unseen.append(state)
                elif state.askable() and state.lookups_left > 0 and not state.lookup_in_flight:
                    self._begin_lookup(state, now)
                    found.look_up.append(state)
        return found

    def claim_all(self) -> list[RunState]:
        """Shutdown's end: every run still open, claimed; the clock stopped."""
        with self.lock:
            left = [state for state in self._runs.values() if not state.ended]
            for state in left:
                self._claim(state)
            self._deadlines.clear()
            return left

    def forked(self) -> None:
        """In a child process after a fork: the runs open then are the parent's, which goes on
        following and reports them; the child forgets them."""
        self.lock = threading.RLock()  # another thread may have held it at the fork
        self._runs.clear()
        self._deadlines.clear()

    # ----- internals (the lock is held) ---------------------------------------------------------

    def _schedule(self, state: RunState) -> None:
        if state.owner:
            state.interval = max(state.deadline - state.seen_at, 0.0) / MAX_LOOKUPS
            state.last_lookup = state.seen_at
            state.due = self._next_lookup(state)
        else:
            state.due = state.deadline
        self._push(state)

    def _next_lookup(self, state: RunState) -> float:
        """When an owned run is next looked up: an interval after the app or a look-up last saw
        it, the last one at its expiry plus grace."""
        if state.lookups_left <= 1:
            return state.deadline
        return min(max(state.seen_ns / NS_PER_S, state.last_lookup) + state.interval, state.deadline)

    def _begin_lookup(self, state: RunState, now: float) -> None:
        state.lookups_left -= 1
        state.last_lookup = now
        state.lookup_in_flight = True
        if state.lookups_left > 0:
            self._reschedule(state, self._next_lookup(state))

    def _reschedule(self, state: RunState, due: float) -> None:
        state.due = due
        self._push(state)

    def _push(self, state: RunState) -> None:
        heapq.heappush(self._deadlines, (state.due, next(self._sequence), state.key))
        # Entries of ended runs stay until popped (they hold only a key); rebuild before they
        # outnumber live runs. Runs still known by a placeholder are not filed (see ``add``).
        if len(self._deadlines) > 2 * len(self._runs) + 64:
            live = [(s.due, next(self._sequence), s.key) for s in self._runs.values()
                    if not s.ended and s.job_id is not None]
            heapq.heapify(live)
            self._deadlines = live
        self._wake_at(state.due)
