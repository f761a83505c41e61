"""Vector store ingestion jobs (contract 2.7): one span per job whichever surface the app used,
polls counted on it, the contract's points, ownership and look-ups as for runs, and the
not-ready event on runs over a store still indexing."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import openai
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

from otel_assistants.emulator.ingestion import failing_filename, ingest_metadata

from .support.flows import vector_stores
from .support.processes import clean_environment
from .support.telemetry import Otel

JOB_SPANS = ("ingest_file", "ingest_file_batch")
POLL_OPERATIONS = ("retrieve_vector_store_file", "retrieve_vector_store_file_batch",
                   "create_vector_store_file", "create_vector_store_file_batch")



def upload(client: Any, name: str = "notes.txt", content: bytes = b"the weather in Paris is mild") -> Any:
    return client.files.create(file=(name, content), purpose="assistants")


def hand_loop(retrieve: Callable[[], Any]) -> Any:
    """The loop apps write themselves: retrieve until the status leaves in_progress."""
    for _ in range(50):
        found = retrieve()
        if found.status != "in_progress":
            return found
    raise AssertionError("the job never ended")


# ---- one file -----------------------------------------------------------------------------------

def file_create_and_poll(stores: Any, store_id: str, file_id: str) -> Any:
    return stores.files.create_and_poll(vector_store_id=store_id, file_id=file_id, poll_interval_ms=1)


def file_create_then_poll(stores: Any, store_id: str, file_id: str) -> Any:
    stores.files.create(vector_store_id=store_id, file_id=file_id)
    return stores.files.poll(file_id, vector_store_id=store_id, poll_interval_ms=1)


def file_hand_loop(stores: Any, store_id: str, file_id: str) -> Any:
    stores.files.create(vector_store_id=store_id, file_id=file_id)
    return hand_loop(lambda: stores.files.retrieve(file_id, vector_store_id=store_id))


def file_raw(stores: Any, store_id: str, file_id: str) -> Any:
    stores.files.with_raw_response.create(vector_store_id=store_id, file_id=file_id).parse()
    return hand_loop(lambda: stores.files.with_raw_response.retrieve(file_id, vector_store_id=store_id).parse())


def file_streaming_response(stores: Any, store_id: str, file_id: str) -> Any:
    with stores.files.with_streaming_response.create(vector_store_id=store_id, file_id=file_id) as response:
        response.parse()

    def retrieve() -> Any:
        with stores.files.with_streaming_response.retrieve(file_id, vector_store_id=store_id) as answer:
            return answer.parse()
    return hand_loop(retrieve)


FILE_SURFACES = [file_create_and_poll, file_create_then_poll, file_hand_loop, file_raw, file_streaming_response]


@pytest.mark.parametrize("surface", FILE_SURFACES, ids=lambda s: s.__name__)
def test_one_file_is_one_ingest_file_span(otel: Otel, client: Any, surface: Callable[..., Any]) -> None:
    stores = vector_stores(client)
    store = stores.create(name="docs")
    uploaded = upload(client)
    finished = surface(stores, store.id, uploaded.id)
    assert finished.status == "completed"
    [span] = otel.spans("ingest_file")
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes == {
        "gen_ai.operation.name": "ingest_file",
        "gen_ai.provider.name": "openai",
        "gen_ai.data_source.id": store.id,
        "openai.assistants.file.id": uploaded.id,
        "openai.assistants.ingestion.status": "completed",
        "openai.assistants.ingestion.poll_count": 1,
        "openai.assistants.file.usage_bytes": finished.usage_bytes,
        "server.address": "127.0.0.1",
        "server.port": span.attributes["server.port"],
    }
    assert [s for s in otel.spans() if s.name in POLL_OPERATIONS] == []  # polls are counted, not spanned
    assert [(p.attributes, p.count) for p in otel.points("openai.assistants.ingestion.duration")] == [
        ({"openai.assistants.ingestion.status": "completed", "gen_ai.provider.name": "openai"}, 1)]
    assert [(p.attributes, p.value) for p in otel.points("openai.assistants.ingestion.files")] == [
        ({"openai.assistants.ingestion.status": "completed", "gen_ai.provider.name": "openai"}, 1)]
    duration = [p for p in otel.points("gen_ai.client.operation.duration")
                if p.attributes["gen_ai.operation.name"] == "ingest_file"]
    assert [(p.attributes, p.count) for p in duration] == [
        ({"gen_ai.operation.name": "ingest_file", "gen_ai.provider.name": "openai",
          "server.address": "127.0.0.1"}, 1)]


def test_upload_and_poll_one_file(otel: Otel, client: Any) -> None:
    stores = vector_stores(client)
    store = stores.create(name="docs")
    finished = stores.files.upload_and_poll(vector_store_id=store.id, file=("a.md", b"# notes"), poll_interval_ms=1)
    [span] = otel.spans("ingest_file")
    [uploaded] = otel.spans("upload_file")
    assert span.attributes["openai.assistants.file.id"] == finished.id
    assert uploaded.end_time <= span.start_time  # the job starts with its create request, after the upload
    assert span.attributes["openai.assistants.ingestion.status"] == "completed"


# ---- a batch -------------------------------------------------------------------------------------

def batch_create_and_poll(client: Any, stores: Any, store_id: str, contents: list[tuple[str, bytes]]) -> Any:
    file_ids = [upload(client, name, content).id for name, content in contents]
    return stores.file_batches.create_and_poll(vector_store_id=store_id, file_ids=file_ids, poll_interval_ms=1)


def batch_upload_and_poll(client: Any, stores: Any, store_id: str, contents: list[tuple[str, bytes]]) -> Any:
    return stores.file_batches.upload_and_poll(vector_store_id=store_id, files=contents, poll_interval_ms=1)


def batch_hand_loop(client: Any, stores: Any, store_id: str, contents: list[tuple[str, bytes]]) -> Any:
    file_ids = [upload(client, name, content).id for name, content in contents]
    batch = stores.file_batches.create(vector_store_id=store_id, file_ids=file_ids)
    return hand_loop(lambda: stores.file_batches.retrieve(batch.id, vector_store_id=store_id))


def batch_create_then_poll(client: Any, stores: Any, store_id: str, contents: list[tuple[str, bytes]]) -> Any:
    file_ids = [upload(client, name, content).id for name, content in contents]
    batch = stores.file_batches.with_raw_response.create(vector_store_id=store_id, file_ids=file_ids).parse()
    return stores.file_batches.poll(batch.id, vector_store_id=store_id, poll_interval_ms=1)


BATCH_SURFACES = [batch_create_and_poll, batch_upload_and_poll, batch_hand_loop, batch_create_then_poll]
GOOD_FILES = [("a.txt", b"alpha"), ("b.md", b"# beta"), ("c.json", b"{}")]


@pytest.mark.parametrize("surface", BATCH_SURFACES, ids=lambda s: s.__name__)
def test_a_batch_is_one_ingest_file_batch_span(otel: Otel, client: Any, surface: Callable[..., Any]) -> None:
    stores = vector_stores(client)
    store = stores.create(name="docs")
    finished = surface(client, stores, store.id, GOOD_FILES)
    assert finished.status == "completed"
    [span] = otel.spans("ingest_file_batch")
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes == {
        "gen_ai.operation.name": "ingest_file_batch",
        "gen_ai.provider.name": "openai",
        "gen_ai.data_source.id": store.id,
        "openai.assistants.file_batch.id": finished.id,
        "openai.assistants.ingestion.status": "completed",
        "openai.assistants.ingestion.poll_count": 1,
        "openai.assistants.ingestion.files.completed": 3,
        "openai.assistants.ingestion.files.failed": 0,
        "openai.assistants.ingestion.files.cancelled": 0,
        "openai.assistants.ingestion.files.total": 3,
        "server.address": "127.0.0.1",
        "server.port": span.attributes["server.port"],
    }
    assert otel.spans("ingest_file") == []
    assert [s for s in otel.spans() if s.name in POLL_OPERATIONS] == []
    assert otel.total("openai.assistants.ingestion.files",
                      {"openai.assistants.ingestion.status": "completed"}) == finished.file_counts.completed == 3
    assert [(p.attributes, p.count) for p in otel.points("openai.assistants.ingestion.duration")] == [
        ({"openai.assistants.ingestion.status": "completed", "gen_ai.provider.name": "openai"}, 1)]


def test_a_cancelled_batch(otel: Otel, client: Any) -> None:
    stores = vector_stores(client)
    store = stores.create(name="docs")
    file_ids = [upload(client, name, content).id for name, content in GOOD_FILES]
    batch = stores.file_batches.create(vector_store_id=store.id, file_ids=file_ids)
    cancelled = stores.file_batches.cancel(batch.id, vector_store_id=store.id)
    assert cancelled.status == "cancelled"
    [span] = otel.spans("ingest_file_batch")
    assert span.status.status_code is StatusCode.UNSET  # the app asked for it: no error
    assert span.attributes["openai.assistants.ingestion.status"] == "cancelled"
    assert span.attributes["openai.assistants.ingestion.files.cancelled"] == 3
    assert span.attributes["openai.assistants.ingestion.poll_count"] == 0
    [cancel] = otel.spans("cancel_vector_store_file_batch")
    assert cancel.parent is None or cancel.parent.span_id != span.context.span_id
    assert otel.total("openai.assistants.ingestion.files", {"openai.assistants.ingestion.status": "cancelled"}) == 3


# ---- files that fail to index -----------------------------------------------------------------

MIXED = [*GOOD_FILES, (failing_filename("unsupported_file", "diagram"), b"\x89PNG"),
         (failing_filename("unsupported_file", "photo"), b"\x89PNG")]


@pytest.mark.parametrize("surface", BATCH_SURFACES, ids=lambda s: s.__name__)
def test_a_batch_with_failed_files(otel: Otel, client: Any, surface: Callable[..., Any]) -> None:
    stores = vector_stores(client)
    store = stores.create(name="docs", metadata=ingest_metadata(polls=2))
    finished = surface(client, stores, store.id, MIXED)
    counts = finished.file_counts
    assert (finished.status, counts.completed, counts.failed, counts.total) == ("completed", 3, 2, 5)
    [span] = otel.spans("ingest_file_batch")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "files_failed"
    assert span.attributes["openai.assistants.ingestion.status"] == "completed"
    assert span.attributes["openai.assistants.ingestion.poll_count"] == 2
    assert (span.attributes["openai.assistants.ingestion.files.completed"],
            span.attributes["openai.assistants.ingestion.files.failed"],
            span.attributes["openai.assistants.ingestion.files.total"]) == (3, 2, 5)
    assert sorted((p.attributes.get("openai.assistants.ingestion.status"), p.attributes.get("error.type"), p.value)
                  for p in otel.points("openai.assistants.ingestion.files")) == [
        ("completed", None, 3), ("failed", "files_failed", 2)]
    assert [(p.attributes, p.count) for p in otel.points("openai.assistants.ingestion.duration")] == [
        ({"openai.assistants.ingestion.status": "completed", "error.type": "files_failed",
          "gen_ai.provider.name": "openai"}, 1)]


@pytest.mark.parametrize("code", ["unsupported_file", "invalid_file", "server_error"])
@pytest.mark.parametrize("surface", FILE_SURFACES, ids=lambda s: s.__name__)
def test_a_file_that_fails_to_index(otel: Otel, client: Any, surface: Callable[..., Any], code: str) -> None:
    stores = vector_stores(client)
    store = stores.create(name="docs")
    uploaded = upload(client, failing_filename(code))
    finished = surface(stores, store.id, uploaded.id)
    assert (finished.status, finished.last_error.code) == ("failed", code)
    [span] = otel.spans("ingest_file")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == code
    assert span.attributes["openai.assistants.ingestion.status"] == "failed"
    assert span.attributes["openai.assistants.file.usage_bytes"] == 0
    assert [(p.attributes, p.value) for p in otel.points("openai.assistants.ingestion.files")] == [
        ({"openai.assistants.ingestion.status": "failed", "error.type": code, "gen_ai.provider.name": "openai"}, 1)]
    assert [(p.attributes, p.count) for p in otel.points("openai.assistants.ingestion.duration")] == [
        ({"openai.assistants.ingestion.status": "failed", "error.type": code, "gen_ai.provider.name": "openai"}, 1)]


def test_a_job_polled_several_times_counts_each_poll(otel: Otel, client: Any) -> None:
    stores = vector_stores(client)
    store = stores.create(name="docs", metadata=ingest_metadata(polls=4))
    uploaded = upload(client)
    stores.files.create_and_poll(vector_store_id=store.id, file_id=uploaded.id, poll_interval_ms=1)
    [span] = otel.spans("ingest_file")
    assert span.attributes["openai.assistants.ingestion.poll_count"] == 4
    assert [s for s in otel.spans() if s.name in POLL_OPERATIONS] == []


# ---- async ---------------------------------------------------------------------------------------

async def async_file(client: Any, stores: Any, store_id: str) -> Any:
    uploaded = await client.files.create(file=("a.txt", b"alpha"), purpose="assistants")
    return await stores.files.create_and_poll(vector_store_id=store_id, file_id=uploaded.id, poll_interval_ms=1)


async def async_file_raw(client: Any, stores: Any, store_id: str) -> Any:
    uploaded = await client.files.create(file=("a.txt", b"alpha"), purpose="assistants")
    await stores.files.with_raw_response.create(vector_store_id=store_id, file_id=uploaded.id)
    for _ in range(50):
        found = (await stores.files.with_raw_response.retrieve(uploaded.id, vector_store_id=store_id)).parse()
        if found.status != "in_progress":
            return found
    raise AssertionError("the job never ended")


async def async_batch(client: Any, stores: Any, store_id: str) -> Any:
    return await stores.file_batches.upload_and_poll(vector_store_id=store_id, files=GOOD_FILES,
                                                     poll_interval_ms=1)


@pytest.mark.parametrize("surface,span_name", [(async_file, "ingest_file"), (async_file_raw, "ingest_file"),
                                               (async_batch, "ingest_file_batch")],
                         ids=["create_and_poll", "raw", "batch_upload_and_poll"])
async def test_async_surfaces(otel: Otel, aclient: Any, surface: Callable[..., Awaitable[Any]],
                              span_name: str) -> None:
    stores = vector_stores(aclient)
    store = await stores.create(name="docs")
    finished = await surface(aclient, stores, store.id)
    assert finished.status == "completed"
    [span] = otel.spans(span_name)
    assert span.attributes["openai.assistants.ingestion.status"] == "completed"
    assert span.attributes["openai.assistants.ingestion.poll_count"] == 1
    assert [s for s in otel.spans() if s.name in POLL_OPERATIONS] == []
    assert otel.total("openai.assistants.ingestion.duration") == 1


# ---- requests that are not a job of this process ----------------------------------------------

def test_a_create_the_api_refuses_ends_the_job_span_with_the_exception(otel: Otel, client: Any) -> None:
    uploaded = upload(client)
    with pytest.raises(openai.NotFoundError):
        vector_stores(client).files.create(vector_store_id="vs_missing", file_id=uploaded.id)
    [span] = otel.spans("ingest_file")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "openai.NotFoundError"
    assert span.attributes["http.response.status_code"] == 404
    assert span.attributes["openai.assistants.error.reason"] == "not_found"
    assert [(p.attributes, p.count) for p in otel.points("openai.assistants.ingestion.duration")] == [
        ({"error.type": "openai.NotFoundError", "gen_ai.provider.name": "openai"}, 1)]
    assert [(p.attributes, p.count) for p in otel.points("gen_ai.client.operation.duration")
            if p.attributes["gen_ai.operation.name"] == "ingest_file"] == [
        ({"gen_ai.operation.name": "ingest_file", "gen_ai.provider.name": "openai",
          "error.type": "openai.NotFoundError",
          "server.address": "127.0.0.1", "openai.assistants.error.reason": "not_found"}, 1)]
    assert otel.points("openai.assistants.ingestion.files") == []


def test_retrieves_of_jobs_this_process_did_not_create_are_plain_operations(otel: Otel, client: Any) -> None:
    stores = vector_stores(client)
    store = stores.create(name="docs")
    uploaded = upload(client)
    with suppress_instrumentation():  # created by another process
        stores.files.create(vector_store_id=store.id, file_id=uploaded.id)
    stores.files.retrieve(uploaded.id, vector_store_id=store.id)
    stores.files.retrieve(uploaded.id, vector_store_id=store.id)
    assert otel.spans("ingest_file") == []
    assert len(otel.spans("retrieve_vector_store_file")) == 2
    assert otel.points("openai.assistants.ingestion.duration") == []


def test_a_retrieve_after_the_job_ended_here_is_a_plain_operation(otel: Otel, client: Any) -> None:
    stores = vector_stores(client)
    store = stores.create(name="docs")
    uploaded = upload(client)
    stores.files.create_and_poll(vector_store_id=store.id, file_id=uploaded.id, poll_interval_ms=1)
    stores.files.retrieve(uploaded.id, vector_store_id=store.id)
    assert len(otel.spans("ingest_file")) == 1
    [late] = otel.spans("retrieve_vector_store_file")
    assert late.attributes["openai.assistants.file.id"] == uploaded.id
    assert otel.total("openai.assistants.ingestion.duration") == 1


def test_adopt_runs_owns_an_unended_job_met_here(make_otel: Callable[..., Otel], client: Any) -> None:
    otel = make_otel(adopt_runs=True)
    try:
        stores = vector_stores(client)
        store = stores.create(name="docs", metadata=ingest_metadata(polls=2))
        file_ids = [upload(client, name, content).id for name, content in GOOD_FILES]
        with suppress_instrumentation():
            batch = stores.file_batches.create(vector_store_id=store.id, file_ids=file_ids)
        stores.file_batches.poll(batch.id, vector_store_id=store.id, poll_interval_ms=1)
        [span] = otel.spans("ingest_file_batch")
        assert span.start_time == batch.created_at * 10**9
        assert span.attributes["openai.assistants.ingestion.poll_count"] == 2
        assert span.attributes["openai.assistants.ingestion.status"] == "completed"
        assert otel.spans("retrieve_vector_store_file_batch") == []
        assert otel.total("openai.assistants.ingestion.files") == 3
    finally:
        otel.close()


# ---- look-ups ------------------------------------------------------------------------------------

def test_a_job_that_ended_unseen_is_reported_at_shutdown_with_its_truth(make_otel: Callable[..., Otel], client: Any,
                                                                       emulator: Any) -> None:
    otel = make_otel()
    try:
        stores = vector_stores(client)
        store = stores.create(name="docs")
        uploaded = upload(client)
        stores.files.create(vector_store_id=store.id, file_id=uploaded.id)
        with suppress_instrumentation():  # another process saw it finish
            stores.files.poll(uploaded.id, vector_store_id=store.id, poll_interval_ms=1)
        assert otel.spans("ingest_file") == []
        emulator.clear_requests()
        otel.tracer_provider.shutdown()
        assert [(r.method, r.path) for r in emulator.requests] == [
            ("GET", f"/vector_stores/{store.id}/files/{uploaded.id}")]
        [span] = otel.spans("ingest_file")
        assert span.attributes["openai.assistants.ingestion.status"] == "completed"
        assert span.attributes["openai.assistants.ingestion.poll_count"] == 0  # the look-up is not the app's
        assert span.status.status_code is StatusCode.UNSET
        assert otel.total("openai.assistants.ingestion.files", {"openai.assistants.ingestion.status": "completed"}) == 1
    finally:
        otel.close()


# ---- runs over a store still indexing -------------------------------------------------------------

def run_over(client: Any, store_id: str) -> Any:
    assistant = client.beta.assistants.create(model="gpt-4o", name="searcher", tools=[{"type": "file_search"}],
                                              tool_resources={"file_search": {"vector_store_ids": [store_id]}})
    thread = client.beta.threads.create()
    return client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                    poll_interval_ms=1)


def test_a_run_over_a_store_still_indexing_gets_the_not_ready_event(otel: Otel, client: Any) -> None:
    stores = vector_stores(client)
    store = stores.create(name="docs")
    stores.files.create(vector_store_id=store.id, file_id=upload(client).id)  # not polled: still indexing
    run_over(client, store.id)
    events = [e for e in otel.one_run().events if e.name == "openai.assistants.vector_store.not_ready"]
    assert [dict(e.attributes) for e in events] == [{"gen_ai.data_source.id": store.id}]


def test_a_run_over_an_indexed_store_gets_no_not_ready_event(otel: Otel, client: Any) -> None:
    stores = vector_stores(client)
    store = stores.create(name="docs")
    stores.files.create_and_poll(vector_store_id=store.id, file_id=upload(client).id, poll_interval_ms=1)
    run_over(client, store.id)
    assert [e.name for e in otel.one_run().events if e.name == "openai.assistants.vector_store.not_ready"] == []


def test_a_store_seen_indexing_through_its_own_object(otel: Otel, client: Any) -> None:
    stores = vector_stores(client)
    uploaded = upload(client)
    with suppress_instrumentation():  # files added by another process
        store = stores.create(name="docs", metadata=ingest_metadata(polls=3))
        stores.files.create(vector_store_id=store.id, file_id=uploaded.id)
    assert stores.retrieve(store.id).status == "in_progress"
    run_over(client, store.id)
    events = [e for e in otel.one_run().events if e.name == "openai.assistants.vector_store.not_ready"]
    assert [dict(e.attributes) for e in events] == [{"gen_ai.data_source.id": store.id}]
    while stores.retrieve(store.id).status == "in_progress":
        pass
    run_over(client, store.id)
    later = [e for e in otel.run_spans()[-1].events if e.name == "openai.assistants.vector_store.not_ready"]
    assert later == []


# ---- across processes ------------------------------------------------------------------------------

FLEET_APP = r'''
import json, sys
import openai
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from otel_assistants import AssistantsInstrumentor
from otel_assistants.emulator.ingestion import failing_filename, ingest_metadata

role, base_url = sys.argv[1], sys.argv[2]
exporter, reader = InMemorySpanExporter(), InMemoryMetricReader()
tracer_provider = TracerProvider()
tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
meter_provider = MeterProvider(metric_readers=[reader])
AssistantsInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
client = openai.OpenAI(base_url=base_url, api_key="sk-fleet", max_retries=0)
stores = client.vector_stores if hasattr(client, "vector_stores") else client.beta.vector_stores
if role == "web":  # creates the batch and hands it to a worker
    store = stores.create(name="fleet", metadata=ingest_metadata(polls=3))
    names = ["a.txt", "b.md", "c.json", failing_filename("unsupported_file"), failing_filename("invalid_file")]
    ids = [client.files.create(file=(name, b"x"), purpose="assistants").id for name in names]
    batch = stores.file_batches.create(vector_store_id=store.id, file_ids=ids)
    print(json.dumps({"store": store.id, "batch": batch.id}), flush=True)
    sys.stdin.readline()  # until the worker is done
else:  # the worker polls it to its end
    store_id, batch_id = sys.argv[3], sys.argv[4]
    stores.file_batches.poll(batch_id, vector_store_id=store_id, poll_interval_ms=1)
tracer_provider.shutdown()  # the web process looks its batch up: it never saw it end
points = {}
for resource in reader.get_metrics_data().resource_metrics:
    for scope in resource.scope_metrics:
        for metric in scope.metrics:
            for point in metric.data.data_points:
                value = getattr(point, "value", None)
                points.setdefault(metric.name, []).append(
                    [dict(point.attributes), value if value is not None else point.count])
spans = [[s.name, dict(s.attributes)] for s in exporter.get_finished_spans()]
print(json.dumps({"spans": spans, "points": points}), flush=True)
'''


def test_a_batch_created_in_one_process_and_polled_in_another_is_counted_once(tmp_path: Any, emulator: Any,
                                                                              client: Any) -> None:
    """Real processes: a web worker creates a batch and never polls it, a worker polls it to its
    end. Summed over both, the job is one span and its files are counted once, as the API says."""
    script = tmp_path / "fleet.py"
    script.write_text(FLEET_APP)
    web = subprocess.Popen([sys.executable, str(script), "web", emulator.base_url], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, env=clean_environment())
    try:
        assert web.stdout is not None and web.stdin is not None
        made = json.loads(web.stdout.readline())
        worker = subprocess.run([sys.executable, str(script), "worker", emulator.base_url, made["store"],
                                 made["batch"]], capture_output=True, text=True, env=clean_environment(), timeout=120,
                                check=True)
        web.stdin.write("done\n")
        web.stdin.flush()
        told = [json.loads(worker.stdout.splitlines()[-1]), json.loads(web.stdout.readline())]
    finally:
        web.kill() if web.poll() is None else None
        web.wait(timeout=30)
    truth = vector_stores(client).file_batches.retrieve(made["batch"], vector_store_id=made["store"]).file_counts
    jobs = [attributes for process in told for name, attributes in process["spans"] if name == "ingest_file_batch"]
    assert len(jobs) == 1  # the web process's, ended by its look-up with the batch's truth
    assert jobs[0]["openai.assistants.ingestion.status"] == "completed"
    assert jobs[0]["error.type"] == "files_failed"
    assert jobs[0]["openai.assistants.ingestion.poll_count"] == 0
    assert [name for name, _ in told[0]["spans"]].count("retrieve_vector_store_file_batch") == 3  # the worker's
    files: dict[tuple[str, str | None], int] = {}
    for process in told:
        for attributes, value in process["points"].get("openai.assistants.ingestion.files", []):
            key = (attributes["openai.assistants.ingestion.status"], attributes.get("error.type"))
            files[key] = files.get(key, 0) + value
    assert files == {("completed", None): truth.completed, ("failed", "files_failed"): truth.failed}
    assert (truth.completed, truth.failed) == (3, 2)
    durations = [count for process in told
                 for _, count in process["points"].get("openai.assistants.ingestion.duration", [])]
    assert durations == [1]
