"""The instrumentation's own API requests (run look-ups, the step fetch), made off the app's path.

Each request is a job on one bounded queue, served by a few daemon threads that belong to this
package; the app's call never waits for one. Every job goes through a private copy of the app's
client (same base URL, credentials, headers and Azure api-version; its own connection pool, so an
app that closes its client does not break a look-up due later) with no retries and a short
timeout, under ``suppress_instrumentation()`` so that neither this package nor any other
instrumentation records it. A breaker per API endpoint stops asking while the API keeps failing
and lets one request through again after a cool-down that doubles while the failures go on.

Asynchronous clients are copied too and driven on an event loop owned by the serving thread, so
the app's event loop never runs (or has to await, or leaks at shutdown) a task of ours.

The same threads keep the time: the tracker says when it next has something due (a look-up, an
observed run to close) and is called back then, even if the app makes no request meanwhile.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import threading
import time
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from typing import Any, Protocol

from opentelemetry import metrics
from opentelemetry.instrumentation.utils import suppress_instrumentation

from . import attributes as a
from . import fields as f
from .failsafe import report

logger = logging.getLogger(__name__)

REQUEST_TIMEOUT_S = 5.0  # per request: connect and read
QUEUE_LIMIT = 1000  # jobs waiting; what does not fit is dropped and counted
MAX_WORKERS = 4  # serving threads, started as the queue needs them
BREAKER_THRESHOLD = 3  # consecutive failures that stop the requests to an endpoint
BREAKER_COOLDOWN_S = 30.0  # first pause; doubles while the endpoint keeps failing
BREAKER_MAX_COOLDOWN_S = 300.0
CLIENT_COPIES = 16  # private client copies kept per serving thread

SENT, FAILED, DROPPED, SKIPPED = "sent", "failed", "dropped", "skipped"


class Job(Protocol):
    """One unit of the instrumentation's own work against the API (possibly several pages)."""

    kind: str  # openai.assistants.instrumentation.request.type
    api: Any  # the app's client, whose configuration the request goes through

    def next_request(self, client: Any, timeout: float) -> Any:
        """The next raw-response request to make (a value, or an awaitable for an async client), or None."""

    def answered(self, body: Any) -> None:
        """The JSON body of the request just made."""

    def finish(self, ok: bool, final: bool) -> None:
        """Called exactly once: ``ok`` when every request was answered; ``final`` when the API
        answered that it cannot help (4xx), so asking again is pointless."""


class Breaker:
    """Stops asking an endpoint that keeps failing; lets a request through again after a pause."""

    __slots__ = ("_cooldown", "_failures", "_open_until")

    def __init__(self) -> None:
        self._failures = 0
        self._open_until = 0.0
        self._cooldown = BREAKER_COOLDOWN_S

    def allows(self, now: float) -> bool:
        return now >= self._open_until

    def succeeded(self) -> None:
        self._failures = 0
        self._open_until = 0.0
        self._cooldown = BREAKER_COOLDOWN_S

    def failed(self, now: float) -> None:
        # Past the threshold a failure re-opens it (the trial request after a pause is one), but
        # the requests that were already under way when it opened do not lengthen the pause.
        self._failures += 1
        if self._failures >= BREAKER_THRESHOLD and now >= self._open_until:
            self._open_until = now + self._cooldown
            self._cooldown = min(self._cooldown * 2, BREAKER_MAX_COOLDOWN_S)


def _endpoint(api: Any) -> str:
    return str(getattr(api, "base_url", ""))


def _api_trouble(error: BaseException) -> bool:
    """A failure that says the API is in trouble (no answer, 429, 5xx), as opposed to an answer."""
    status = getattr(error, "status_code", None)
    return not isinstance(status, int) or status == 429 or status >= 500


class _Served:
    """What one serving thread keeps for asynchronous clients: their copies, bound to the event
    loop this thread owns."""

    def __init__(self) -> None:
        self.copies: OrderedDict[Any, Any] = OrderedDict()
        self.loop: asyncio.AbstractEventLoop | None = None

    def copy_of(self, api: Any) -> Any:
        return _cached_copy(self.copies, api, self._close)

    def wait(self, pending: Any, timeout: float) -> Any:
        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(asyncio.wait_for(pending, timeout))

    def close(self) -> None:
        for copy in self.copies.values():
            self._close(copy)
        self.copies.clear()
        if self.loop is not None:
            try:
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()
                self.loop = None

    def _close(self, copy: Any) -> None:
        try:
            self.wait(copy.close(), REQUEST_TIMEOUT_S)
        except Exception as error:
            report("close_client_copy", error)


def _is_async(api: Any) -> bool:
    return inspect.iscoroutinefunction(getattr(type(api), "close", None))


def _cached_copy(copies: OrderedDict[Any, Any], api: Any, close: Callable[[Any], None]) -> Any:
    key = _config_key(api)
    copy = copies.get(key)
    if copy is None:
        copy = copies[key] = _private_copy(api)
        if len(copies) > CLIENT_COPIES:
            close(copies.popitem(last=False)[1])
    else:
        copies.move_to_end(key)
    return copy


def _close_sync(copy: Any) -> None:
    try:
        copy.close()
    except Exception as error:
        report("close_client_copy", error)


def _config_key(api: Any) -> Any:
    """Clients configured alike share one copy (an app may make a client per request): same
    class, base URL, credentials and default headers and query."""
    try:
        credentials = tuple(_identity(getattr(api, name, None)) for name in _CREDENTIALS)
        headers = tuple(sorted((k, v) for k, v in api.default_headers.items() if isinstance(v, str)))
        query = tuple(sorted((k, v) for k, v in api.default_query.items() if isinstance(v, str)))
        return (type(api), str(api.base_url), credentials, headers, query)
    except Exception:  # an unusual client: one copy per client object
        return (type(api), id(api))


# Where clients keep what authenticates them (a key may be a callable in recent SDKs; the Azure
# client also takes a token or a token provider).
_CREDENTIALS = ("api_key", "organization", "project", "_azure_ad_token", "_azure_ad_token_provider")


def _identity(value: Any) -> Any:
    return value if value is None or isinstance(value, str) else id(value)


def _private_copy(api: Any) -> Any:
    """The app's client configuration on a connection pool of ours, without retries."""
    import openai

    pool = openai.DefaultAsyncHttpxClient() if _is_async(api) else openai.DefaultHttpxClient()
    return api.with_options(http_client=pool, max_retries=0, timeout=REQUEST_TIMEOUT_S)


class OwnRequests:
    def __init__(self, counter: metrics.Counter, tick: Callable[[], float | None],
                 forked: Callable[[], None] = lambda: None) -> None:
        self._tick = tick  # returns when it next wants to be called (epoch seconds), or None
        self._forked = forked  # called in a child process after a fork
        self._cond = threading.Condition(threading.Lock())
        self._jobs: deque[Job] = deque()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._busy = 0
        self._ticking = False
        self._next_tick = float("inf")
        self._closed = False
        self._breakers: dict[str, Breaker] = {}
        self._watched: set[int] = set()  # jobs a shutdown waits for, and those of them done
        # Copies of sync clients, shared by the serving threads (their connection pools are thread-safe).
        self._sync_copies: OrderedDict[Any, Any] = OrderedDict()
        self._copies_lock = threading.Lock()
        self._done: set[int] = set()
        self._counter = counter  # openai.assistants.instrumentation.requests
        self._attributes: dict[tuple[str, str], dict[str, str]] = {}
        _living.add(self)

    # ----- what the tracker asks ----------------------------------------------------------------

    def submit(self, job: Job) -> bool:
        """Queue a job; False (counted as dropped) when the queue is full or closed. Never blocks
        and never calls the job back on the caller's thread."""
        with self._cond:
            if self._closed or len(self._jobs) >= QUEUE_LIMIT:
                dropped = True
            else:
                dropped = False
                self._jobs.append(job)
                if self._idle:
                    self._cond.notify()
                else:
                    self._start_worker()
        if dropped:
            self._count(job.kind, DROPPED)
        return not dropped

    def wake_at(self, when: float) -> None:
        """Call the tick at ``when`` at the latest. Cheap when an earlier call is already planned."""
        if when >= self._next_tick:
            return
        with self._cond:
            if when < self._next_tick:
                self._next_tick = when
                if self._idle:
                    self._cond.notify()
                elif not self._threads:
                    self._start_worker()

    def serve_now(self, jobs: list[Job], budget_s: float) -> None:
        """Shutdown: serve ``jobs`` ahead of anything queued, helped by the calling thread, for at
        most ``budget_s`` seconds. A job not started by then is dropped (finished, not ok); one
        still being served finishes later, on its thread."""
        deadline = time.monotonic() + budget_s
        wanted = {id(job) for job in jobs}
        with self._cond:
            self._watched |= wanted
            for job in reversed(jobs):
                self._jobs.appendleft(job)
            for _ in range(min(len(jobs), MAX_WORKERS)):
                self._start_worker()
            self._cond.notify_all()
        helper = _Served()
        try:
            while True:
                with self._cond:
                    if wanted <= self._done or time.monotonic() >= deadline:
                        break
                    job = self._take_sync_job(wanted)
                    if job is None:
                        self._cond.wait(timeout=max(deadline - time.monotonic(), 0.0))
                        continue
                self._serve(job, helper, deadline)
                del job
        finally:
            helper.close()
        with self._cond:
            unstarted = [job for job in self._jobs if id(job) in wanted]
            for job in unstarted:
                self._jobs.remove(job)
            self._watched -= wanted
            self._done -= wanted
        for job in unstarted:
            self._count(job.kind, DROPPED)
            self._finish(job, False, False)

    def flush(self, timeout_s: float) -> bool:
        """Wait until every queued job has been served; False if ``timeout_s`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._jobs and not self._busy, timeout=timeout_s)

    def close(self) -> None:
        """Stop the serving threads once the queue is empty (uninstrument)."""
        with self._cond:
            self._closed = True
            self._next_tick = float("inf")
            self._cond.notify_all()
        with self._copies_lock:
            copies = list(self._sync_copies.values())
            self._sync_copies.clear()
        for copy in copies:
            _close_sync(copy)
        _living.discard(self)

    # ----- serving ------------------------------------------------------------------------------

    def _start_worker(self) -> None:  # called with the condition held
        self._threads = [thread for thread in self._threads if thread.is_alive()]
        if len(self._threads) >= MAX_WORKERS:
            return
        thread = threading.Thread(target=self._work, name="otel-assistants-requests", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # interpreter shutdown (3.12+ refuses new threads then)
            return
        self._threads.append(thread)

    def _take_sync_job(self, among: set[int]) -> Job | None:
        """A queued shutdown job the calling thread can serve itself (not one of an async client:
        those run on a serving thread's own loop)."""
        for job in self._jobs:
            if id(job) in among and not _is_async(job.api):
                self._jobs.remove(job)
                self._busy += 1
                return job
        return None

    def _work(self) -> None:
        served = _Served()
        try:
            while True:
                job = self._next_job()
                if job is None:
                    return
                self._serve(job, served, None)
                del job  # an idle thread keeps no run alive
        except Exception as error:  # never: _serve guards itself; keep the thread's end quiet
            report("own_requests", error)
        finally:
            served.close()

    def _next_job(self) -> Job | None:
        with self._cond:
            while True:
                if self._closed and not self._jobs:
                    return None
                now = time.time()
                if self._next_tick <= now and not self._ticking:
                    self._ticking = True
                    self._next_tick = float("inf")
                    self._cond.release()
                    try:
                        upcoming = self._call_tick()
                    finally:
                        self._cond.acquire()
                        self._ticking = False
                    if upcoming is not None and upcoming < self._next_tick:
                        self._next_tick = upcoming
                    continue
                if self._jobs:
                    self._busy += 1
                    return self._jobs.popleft()
                wait = None if self._next_tick == float("inf") else max(self._next_tick - now, 0.0)
                self._idle += 1
                try:
                    self._cond.wait(timeout=wait)
                finally:
                    self._idle -= 1

    def _call_tick(self) -> float | None:
        try:
            return self._tick()
        except Exception as error:
            report("own_requests_tick", error)
            return time.time() + 1.0

    def _serve(self, job: Job, served: _Served, deadline: float | None) -> None:
        """Make a job's requests and finish it, whatever happens. The caller counted it busy."""
        ok, final = False, False
        try:
            ok, final = self._requests(job, served, deadline)
        except Exception as error:
            report("own_request", error)
        finally:
            self._finish(job, ok, final)
            with self._cond:
                self._busy -= 1
                if id(job) in self._watched:
                    self._done.add(id(job))
                self._cond.notify_all()

    def _requests(self, job: Job, served: _Served, deadline: float | None) -> tuple[bool, bool]:
        """(every request answered, the API answered it cannot help)."""
        endpoint = _endpoint(job.api)
        breaker = self._breakers.get(endpoint)
        if breaker is None:
            breaker = self._breakers.setdefault(endpoint, Breaker())
        if not breaker.allows(time.time()):
            self._count(job.kind, SKIPPED)
            return False, False
        if _is_async(job.api):
            client = served.copy_of(job.api)
        else:
            with self._copies_lock:
                client = _cached_copy(self._sync_copies, job.api, _close_sync)
        with suppress_instrumentation():
            while True:
                timeout = REQUEST_TIMEOUT_S
                if deadline is not None:
                    timeout = min(timeout, deadline - time.monotonic())
                    if timeout <= 0:
                        self._count(job.kind, DROPPED)
                        return False, False
                try:
                    # A sync client's request is made by next_request itself, an async one's awaited here.
                    pending = job.next_request(client, timeout)
                    if pending is None:
                        return True, False
                    raw = served.wait(pending, timeout) if inspect.isawaitable(pending) else pending
                    body = f.decode_json(raw.http_response.content)
                except Exception as error:
                    self._count(job.kind, FAILED)
                    logger.debug("otel_assistants: %s request failed: %r", job.kind, error)
                    if _api_trouble(error):
                        breaker.failed(time.time())
                        return False, False
                    breaker.succeeded()
                    return False, True
                self._count(job.kind, SENT)
                breaker.succeeded()
                job.answered(body)

    @staticmethod
    def _finish(job: Job, ok: bool, final: bool) -> None:
        try:
            job.finish(ok, final)
        except Exception as error:
            report("own_request_finish", error)

    def _count(self, kind: str, outcome: str) -> None:
        attributes = self._attributes.get((kind, outcome))
        if attributes is None:
            attributes = self._attributes[(kind, outcome)] = {a.OWN_REQUEST_TYPE: kind, a.OWN_REQUEST_OUTCOME: outcome}
        try:
            self._counter.add(1, attributes)
        except Exception as error:
            report("own_request_count", error)

    def _after_fork(self) -> None:
        # The serving threads did not survive the fork, the copies' connections and the queued jobs
        # belong to the parent, and a lock another thread held at the fork would stay held here.
        self._cond = threading.Condition(threading.Lock())
        self._copies_lock = threading.Lock()
        self._sync_copies = OrderedDict()
        self._jobs.clear()
        self._threads = []
        self._idle = self._busy = 0
        self._ticking = False
        self._next_tick = float("inf")
        self._forked()


_living: weakref.WeakSet[OwnRequests] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for own in list(_living):
        own._after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)
