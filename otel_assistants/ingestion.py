"""Vector store ingestion followed like runs (contract 2.7): one span per job, from its create
request to the first terminal status any answer shows, with its polls counted on it.

A job is one file added to a store (``ingest_file``) or a file batch (``ingest_file_batch``).
The process that sent the create request owns the job, as for runs: it alone records the job's
span and points. Jobs live in the run registry (the same tables, cap, claim and look-up
schedule, registry.py), so a job the app does not see end is looked up off the app's path, and
ends ``abandoned`` only when the API cannot say. A process that meets a job it did not create
treats its requests as plain operations, unless it adopts runs (``adopt_runs``), when it owns
the job from the server's ``created_at``.

It also remembers which vector stores this process last saw still ingesting, and which stores
each assistant and thread searches, so that a run started over a store still ingesting carries
the ``openai.assistants.vector_store.not_ready`` event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanContext, SpanKind

from . import attributes as a
from . import fields as f
from .error_reasons import error_reason
from .outcomes import record_ingestion
from .runstate import NS_PER_S, ClientInfo, EndedRun
from .spans import mark_error, mark_exception, now_ns, seconds_between, set_present
from .telemetry import Telemetry

if TYPE_CHECKING:
    from .registry import RunRegistry

# Indexing has no expiry: a job unseen this long after it was last seen is looked up for the
# last time (MAX_LOOKUPS spread over it), then ends abandoned if still in progress.
INGESTION_LIFETIME_S = 3600
INGESTION_GRACE_S = 60
# Stores, assistants and threads remembered for the not-ready event.
STORE_MEMORY = 10000


def job_key(kind: str, vector_store_id: str | None, object_id: str | None) -> str | None:
    """The registry key of a job: a batch id is unique; a file id is unique only within its store."""
    if object_id is None:
        return None
    if kind == a.INGEST_FILE_BATCH:
        return object_id
    return f"{vector_store_id}/{object_id}" if vector_store_id is not None else None


@dataclass(eq=False, slots=True)
class IngestionJob:
    span: Span
    span_context: SpanContext
    context: Any
    start_ns: int
    client: ClientInfo
    kind: str  # a.INGEST_FILE or a.INGEST_FILE_BATCH
    vector_store_id: str | None
    deadline: float  # client clock (s): when it is looked up for the last time
    seen_at: float
    owner: bool = True  # jobs are followed only by their owner (see the module's docstring)
    api: Any = None
    object_id: str | None = None  # the file's id, or the batch's
    job_id: str | None = None  # the registry key, once the object's id is known
    status: str | None = None
    poll_count: int = 0
    counts: tuple[int, int, int, int] | None = None  # a batch's file_counts: completed, failed, cancelled, total
    usage_bytes: int | None = None
    last_error_code: str | None = None
    ended: bool = False
    key: Any = None
    seen_ns: int = 0
    due: float = 0.0
    interval: float = 0.0
    lookups_left: int = 0
    last_lookup: float = 0.0
    lookup_in_flight: bool = False

    def identify(self, key: str) -> None:
        self.job_id = key

    def askable(self) -> bool:
        return self.api is not None and self.vector_store_id is not None and self.object_id is not None

    def ended_view(self) -> EndedRun:
        return EndedRun(self.span_context, self.start_ns, set())


class IngestionTracker:
    """The entry points for ingestion jobs, named as the tracker's are; state under the registry's lock."""

    def __init__(self, telemetry: Telemetry, registry: RunRegistry,
                 finish_evicted: Callable[[list[Any]], None]) -> None:
        self._telemetry = telemetry
        self._registry = registry
        # Runs or jobs pushed out by the cap when a job is added: the tracker ends each its way.
        self._finish_evicted = finish_evicted
        # Store id -> whether the last sight of it (its own object, or a job of it) said it is indexing.
        self._ingesting: OrderedDict[str, bool] = OrderedDict()
        self._open_jobs: dict[str, int] = {}  # store id -> its jobs this process follows
        # Assistant or thread id -> (file_search among its tools, or None when not said; its store ids).
        self._searches: OrderedDict[str, tuple[bool | None, tuple[str, ...]]] = OrderedDict()

    # ----- a job this process creates ------------------------------------------------------------

    def start(self, kind: str, client: ClientInfo, vector_store_id: str | None, body: dict[str, Any],
              api: Any) -> IngestionJob:
        """The create request is about to be sent: the job's span opens now."""
        start = now_ns()
        file_id = f.as_text(body.get("file_id")) if kind == a.INGEST_FILE else None
        job = self._new_job(kind, client, vector_store_id, start, api, file_id, parent=None)
        # Followed under a placeholder until the create answers (shutdown ends it if nothing does).
        self._finish_evicted(self._registry.add(object(), job))
        return job

    def created(self, job: IngestionJob, answer: Any) -> None:
        """The create answered with the file or batch: the job is followed by its id from now.
        An answer without one (or for a job already followed) leaves nothing to follow: unknown."""
        object_id = f.text(answer, "id")
        key = job_key(job.kind, job.vector_store_id, object_id)
        registry = self._registry
        with registry.lock:
            known = key is not None and registry.rekey(job, key)
            if known:
                job.object_id = object_id
                self._count_open(job, +1)
                registry.schedule(job)
        if known:
            self._seen(answer, job)
        elif registry.claim(job):
            self.finish(job, error_type=a.ERROR_ABANDONED)

    def fail(self, job: IngestionJob, error: BaseException) -> None:
        """The create request raised: the job's span ends with the exception."""
        if self._registry.claim(job):
            self.finish(job, error=error)

    # ----- what the app's requests tell of a job ------------------------------------------------

    def state_for(self, key: str | None) -> IngestionJob | None:
        with self._registry.lock:
            job = self._registry.live(key)
        return job if isinstance(job, IngestionJob) else None

    def has_ended(self, key: str | None) -> bool:
        return self._registry.has_ended(key)

    @property
    def adopting(self) -> bool:
        return self._registry.adopt

    def polled(self, answer: Any, job: IngestionJob) -> None:
        """A retrieve of a followed job answered: one more poll, and what it says."""
        self._seen(answer, job, poll=True)

    def answered(self, answer: Any, kind: str, vector_store_id: str | None) -> None:
        """A request that acts on a job (a batch cancel) answered with it."""
        job = self.state_for(job_key(kind, vector_store_id, f.text(answer, "id")))
        if job is not None:
            self._seen(answer, job)

    def listed(self, vector_store_id: str | None, files: list[Any]) -> None:
        """A listing of a store's (or a batch's) files: the file jobs followed learn their status."""
        for item in files:
            job = self.state_for(job_key(a.INGEST_FILE, vector_store_id or f.text(item, "vector_store_id"),
                                         f.text(item, "id")))
            if job is not None:
                self._seen(item, job)

    def poll_failed(self, job: IngestionJob, error: BaseException) -> None:
        """A retrieve raised: the job goes on server-side, so its span records it and stays open."""
        if job.span.is_recording():
            job.span.record_exception(error)

    def met(self, answer: Any, kind: str, vector_store_id: str | None, client: ClientInfo, api: Any,
            start_ns: int, parent: Any) -> bool:
        """A retrieve answered with a job this process was not following (with ``adopt_runs``
        only): an unended one is owned from the server's ``created_at``; False otherwise."""
        object_id = f.text(answer, "id")
        key = job_key(kind, vector_store_id or f.text(answer, "vector_store_id"), object_id)
        if key is None or f.text(answer, "status") in a.INGESTION_TERMINAL_STATUSES:
            return False
        registry = self._registry
        with registry.lock:
            if registry.live(key) is not None or registry.has_ended(key):
                return False
            created = f.integer(answer, "created_at")
            start = min(created * NS_PER_S, start_ns) if created is not None else start_ns
            job = self._new_job(kind, client, vector_store_id or f.text(answer, "vector_store_id"), start, api,
                                object_id, parent=parent)
            job.job_id = key
            job.seen_ns = start_ns
            self._count_open(job, +1)
            evicted = registry.add(key, job)
        self._finish_evicted(evicted)
        self._seen(answer, job, poll=True)
        return True

    def looked_up(self, job: IngestionJob, answer: Any, final: bool, at: float) -> None:
        """The answer to a look-up made at ``at`` (``answer`` None when the API did not answer)."""
        registry = self._registry
        with registry.lock:
            job.lookup_in_flight = False
            if job.ended:
                return
            status = self._update(job, answer) if isinstance(answer, dict) else None
            if status in a.INGESTION_TERMINAL_STATUSES:
                registry.claim(job)
                outcome: str | None = None
            elif registry.lookup_was_last(job, at, final):
                registry.claim(job)
                outcome = a.ERROR_ABANDONED
            else:
                return
        self.finish(job, error_type=outcome)

    # ----- vector stores, and runs over them ------------------------------------------------------

    def stores_seen(self, stores: list[Any]) -> None:
        """Vector store objects the app received: whether each is still indexing."""
        with self._registry.lock:
            for store in stores:
                store_id = f.text(store, "id")
                if store_id is None:
                    continue
                in_progress = f.integer(f.get(store, "file_counts"), "in_progress")
                self._remember(self._ingesting, store_id,
                               f.text(store, "status") == "in_progress" or bool(in_progress))

    def resources_seen(self, owner_id: str | None, tools: Any, resources: Any) -> None:
        """An assistant's or a thread's tools and tool resources, as the app received or sent them."""
        if owner_id is None:
            return
        searches = None if tools is None else any(f.text(tool, "type") == "file_search"
                                                  for tool in tools or ())
        with self._registry.lock:
            self._remember(self._searches, owner_id, (searches, _store_ids(resources)))

    def not_ready(self, span: Span, body: dict[str, Any], assistant_id: str | None,
                  thread_id: str | None) -> None:
        """A run is being created: each store it searches that this process last saw still
        indexing gets the not-ready event on the run's span (the run may answer without its files)."""
        if not span.is_recording() or not self._ingesting:
            return
        with self._registry.lock:
            searches, stores = self._searched_stores(body, assistant_id, thread_id)
            waiting = [store for store in stores if self._ingesting.get(store)] if searches else []
        for store in dict.fromkeys(waiting):
            span.add_event(a.VECTOR_STORE_NOT_READY_EVENT, {a.DATA_SOURCE_ID: store})

    # ----- the end of a job ---------------------------------------------------------------------

    def finish(self, job: IngestionJob, *, error_type: str | None = None, error: BaseException | None = None) -> None:
        """Close a claimed job's span now and record its points; without the lock."""
        end = now_ns()
        with self._registry.lock:
            if job.job_id is not None:
                self._count_open(job, -1)
        span = job.span
        reason = None
        if error is not None:
            reason = error_reason(error, self._telemetry.error_codes)
            error_type = mark_exception(span, error, reason)
        elif error_type is None:
            error_type = _error_type(job)
        if span.is_recording():
            counts = job.counts
            set_present(span, {
                a.FILE_BATCH_ID: job.object_id if job.kind == a.INGEST_FILE_BATCH else None,
                a.FILE_ID: job.object_id if job.kind == a.INGEST_FILE else None,
                a.INGESTION_STATUS: job.status,
                a.INGESTION_POLL_COUNT: job.poll_count,
                a.INGESTION_FILES_COMPLETED: counts[0] if counts else None,
                a.INGESTION_FILES_FAILED: counts[1] if counts else None,
                a.INGESTION_FILES_CANCELLED: counts[2] if counts else None,
                a.INGESTION_FILES_TOTAL: counts[3] if counts else None,
                a.FILE_USAGE_BYTES: job.usage_bytes,
            })
        if error_type is not None and error is None:
            mark_error(span, error_type)
        span.end(end_time=end)
        if job.owner:
            record_ingestion(self._telemetry, job, error_type, seconds_between(job.start_ns, end), reason)

    # ----- internals ------------------------------------------------------------------------------

    def _new_job(self, kind: str, client: ClientInfo, vector_store_id: str | None, start: int, api: Any,
                 object_id: str | None, parent: Any) -> IngestionJob:
        attributes: dict[str, Any] = {a.OPERATION_NAME: kind, a.PROVIDER_NAME: client.provider}
        if vector_store_id is not None:
            attributes[a.DATA_SOURCE_ID] = vector_store_id
        if object_id is not None:
            attributes[a.FILE_BATCH_ID if kind == a.INGEST_FILE_BATCH else a.FILE_ID] = object_id
        if client.address is not None:
            attributes[a.SERVER_ADDRESS] = client.address
        if client.port is not None:
            attributes[a.SERVER_PORT] = client.port
        span = self._telemetry.tracer.start_span(kind, context=parent, kind=SpanKind.CLIENT, start_time=start,
                                                 attributes=attributes)
        seen_at = start / NS_PER_S
        return IngestionJob(
            span=span, span_context=span.get_span_context(), context=trace.set_span_in_context(span),
            start_ns=start, client=client, kind=kind, vector_store_id=vector_store_id,
            deadline=seen_at + INGESTION_LIFETIME_S + INGESTION_GRACE_S, seen_at=seen_at, api=api,
            object_id=object_id, seen_ns=start,
        )

    def _seen(self, answer: Any, job: IngestionJob, *, poll: bool = False) -> None:
        registry = self._registry
        with registry.lock:
            if job.ended:
                return
            if poll:
                job.poll_count += 1
            job.seen_ns = now_ns()
            terminal = self._update(job, answer) in a.INGESTION_TERMINAL_STATUSES and registry.claim(job)
        if terminal:
            self.finish(job)

    def _update(self, job: IngestionJob, answer: Any) -> str | None:
        """What a file or batch object says, into the job (the registry's lock is held)."""
        status = f.text(answer, "status")
        if status is not None:
            job.status = status
        if job.kind == a.INGEST_FILE_BATCH:
            counts = f.get(answer, "file_counts")
            if counts is not None:
                job.counts = (f.integer(counts, "completed") or 0, f.integer(counts, "failed") or 0,
                              f.integer(counts, "cancelled") or 0, f.integer(counts, "total") or 0)
        else:
            usage = f.integer(answer, "usage_bytes")
            if usage is not None:
                job.usage_bytes = usage
            last_error = f.get(answer, "last_error")
            if last_error is not None:
                job.last_error_code = f.text(last_error, "code") or job.last_error_code
        store = job.vector_store_id
        if store is not None and status is not None:  # its other jobs followed here may still run
            indexing = status not in a.INGESTION_TERMINAL_STATUSES or self._open_jobs.get(store, 0) > 1
            self._remember(self._ingesting, store, indexing)
        return status

    def _count_open(self, job: IngestionJob, change: int) -> None:
        store = job.vector_store_id
        if store is None:
            return
        left = self._open_jobs.get(store, 0) + change
        if left > 0:
            self._open_jobs[store] = left
        else:
            self._open_jobs.pop(store, None)

    def _searched_stores(self, body: dict[str, Any], assistant_id: str | None,
                         thread_id: str | None) -> tuple[bool, list[str]]:
        """Whether the run searches files, and the stores it searches, as far as this process knows."""
        assistant = self._searches.get(assistant_id) if assistant_id is not None else None
        tools = body.get("tools")
        if tools is not None:  # the run's own tools replace the assistant's
            searches = any(f.text(tool, "type") == "file_search" for tool in tools or ())
        else:
            searches = bool(assistant and assistant[0])
        stores = list(_store_ids(body.get("tool_resources")))
        stores += _store_ids(f.get(body.get("thread"), "tool_resources"))
        for owner in (assistant, self._searches.get(thread_id) if thread_id is not None else None):
            if owner is not None:
                stores += owner[1]
        return searches, stores

    @staticmethod
    def _remember(memory: OrderedDict[str, Any], key: str, value: Any) -> None:
        memory[key] = value
        memory.move_to_end(key)
        while len(memory) > STORE_MEMORY:
            memory.popitem(last=False)


def _store_ids(resources: Any) -> tuple[str, ...]:
    ids = f.get(f.get(resources, "file_search"), "vector_store_ids")
    if not isinstance(ids, (list, tuple)):
        return ()
    return tuple(store for store in ids if isinstance(store, str))


def _error_type(job: IngestionJob) -> str | None:
    """A failed file: its last_error.code; a batch that ended with failed files: files_failed."""
    if job.kind == a.INGEST_FILE_BATCH:
        if job.counts is not None and job.counts[1] > 0:
            return a.ERROR_FILES_FAILED
        return a.OTHER_VALUE if job.status == "failed" else None
    if job.status == "failed":
        return job.last_error_code or a.OTHER_VALUE
    return None
