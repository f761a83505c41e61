"""The requests the instrumentation makes itself, as jobs for own_requests.py: the look-up of
an owned run or ingestion job the app did not see end, and the step fetch.

Each asks through the app's own configuration (own_requests.py makes the private client) and
hands what it learned back to the tracker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import attributes as a
from . import fields as f
from .runstate import RunState

if TYPE_CHECKING:
    from .ingestion import IngestionJob, IngestionTracker
    from .tracker import RunTracker


class RunLookup:
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


class IngestionLookup:
    """One look-up of an owned ingestion job: the vector store file's or file batch's retrieve."""

    kind = a.OWN_REQUEST_INGESTION_LOOKUP

    def __init__(self, ingestion: IngestionTracker, job: IngestionJob, at: float) -> None:
        self.api = job.api
        self._ingestion = ingestion
        self._job = job
        self._at = at
        self._asked = False
        self._answer: Any = None

    def next_request(self, client: Any, timeout: float) -> Any:
        if self._asked:
            return None
        self._asked = True
        job = self._job
        # Vector stores left the beta namespace in openai 1.66.0; earlier releases have them only there.
        stores = getattr(client, "vector_stores", None) or client.beta.vector_stores
        jobs = stores.file_batches if job.kind == a.INGEST_FILE_BATCH else stores.files
        return jobs.with_raw_response.retrieve(job.object_id, vector_store_id=job.vector_store_id, timeout=timeout)

    def answered(self, body: Any) -> None:
        self._answer = body

    def finish(self, ok: bool, final: bool) -> None:
        self._ingestion.looked_up(self._job, self._answer if ok else None, final, self._at)


STEP_PAGE_SIZE = 100
STEP_FETCH_MAX_PAGES = 50  # a run has far fewer steps; this only bounds a misbehaving server


class StepFetch:
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
