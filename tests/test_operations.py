"""Operation spans, Azure clients, runs created elsewhere, retries and pagination."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.trace import SpanKind, StatusCode

from .support.flows import vector_stores
from .support.telemetry import Otel

API_VERSION = "2024-05-01-preview"



def test_operation_spans_carry_their_ids(otel: Otel, client: Any) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", name="ops")
    thread = client.beta.threads.create()
    message = client.beta.threads.messages.create(thread_id=thread.id, role="user", content="hi")
    client.beta.assistants.retrieve(assistant.id)
    client.beta.threads.retrieve(thread.id)
    client.beta.threads.delete(thread.id)
    create = otel.spans("create_agent")[0]
    assert create.name == "create_agent ops"
    assert create.kind is SpanKind.CLIENT
    assert create.attributes["gen_ai.agent.id"] == assistant.id
    assert create.attributes["gen_ai.agent.name"] == "ops"
    assert create.attributes["gen_ai.request.model"] == "gpt-4o"
    assert create.attributes["gen_ai.operation.name"] == "create_agent"
    assert create.attributes["gen_ai.provider.name"] == "openai"
    assert otel.spans("create_thread")[0].attributes["gen_ai.conversation.id"] == thread.id
    created = otel.spans("create_message")[0].attributes
    assert created["gen_ai.conversation.id"] == thread.id
    assert created["openai.assistants.message.id"] == message.id
    assert otel.spans("retrieve_agent")[0].attributes["gen_ai.agent.id"] == assistant.id
    assert otel.spans("retrieve_thread")[0].attributes["gen_ai.conversation.id"] == thread.id
    assert otel.spans("delete_thread")[0].attributes["gen_ai.conversation.id"] == thread.id


def test_failed_operation(otel: Otel, client: Any) -> None:
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.retrieve("thread_missing")
    span = otel.spans("retrieve_thread")[0]
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes["error.type"] == "openai.NotFoundError"
    assert span.attributes["http.response.status_code"] == 404
    assert span.attributes["openai.assistants.error.reason"] == "not_found"
    assert [e.name for e in span.events] == ["exception"]
    point = otel.points("gen_ai.client.operation.duration")[0]
    assert point.attributes == {"gen_ai.operation.name": "retrieve_thread", "gen_ai.provider.name": "openai",
                                "error.type": "openai.NotFoundError", "server.address": "127.0.0.1",
                                "openai.assistants.error.reason": "not_found"}


def test_vector_stores_and_files(otel: Otel, client: Any) -> None:
    uploaded = client.files.create(file=("notes.txt", b"hello"), purpose="assistants")
    store = vector_stores(client).create(name="docs")
    vector_stores(client).files.create_and_poll(vector_store_id=store.id, file_id=uploaded.id, poll_interval_ms=1)
    vector_stores(client).delete(store.id)
    assert otel.spans("upload_file")[0].attributes["openai.assistants.file.id"] == uploaded.id
    assert otel.spans("create_vector_store")[0].attributes["gen_ai.data_source.id"] == store.id
    attached = otel.spans("ingest_file")[0].attributes  # the file's ingestion job (tests/test_ingestion.py)
    assert attached["gen_ai.data_source.id"] == store.id and attached["openai.assistants.file.id"] == uploaded.id
    assert otel.spans("delete_vector_store")[0].attributes["gen_ai.data_source.id"] == store.id


@pytest.mark.skipif(not hasattr(openai.OpenAI, "vector_stores"),
                    reason="search, file update and file content came with the SDK's top-level vector_stores")
def test_search_file_update_and_content_spans(otel: Otel, client: Any) -> None:
    uploaded = client.files.create(file=("paris.txt", b"the weather in Paris is mild"), purpose="assistants")
    store = client.vector_stores.create(name="docs", file_ids=[uploaded.id])
    hits = list(client.vector_stores.search(store.id, query="Paris weather"))
    updated = client.vector_stores.files.update(file_id=uploaded.id, vector_store_id=store.id,
                                                attributes={"topic": "weather"})
    content = list(client.vector_stores.files.content(file_id=uploaded.id, vector_store_id=store.id))
    # The emulator answers as the API does.
    assert [(hit.file_id, hit.score) for hit in hits] == [(uploaded.id, 1.0)]
    assert updated.attributes == {"topic": "weather"}
    assert [part.text for part in content] == ["the weather in Paris is mild"]
    expected = {
        "search_vector_store": {"gen_ai.data_source.id": store.id},
        "update_vector_store_file": {"gen_ai.data_source.id": store.id, "openai.assistants.file.id": uploaded.id},
        "retrieve_vector_store_file_content": {"gen_ai.data_source.id": store.id,
                                               "openai.assistants.file.id": uploaded.id},
    }
    for operation, ids in expected.items():
        (span,) = otel.spans(operation)
        assert span.kind is SpanKind.CLIENT
        assert span.attributes == {"gen_ai.operation.name": operation, "gen_ai.provider.name": "openai",
                                   **ids, "server.address": "127.0.0.1", "server.port": span.attributes["server.port"]}
        (point,) = [p for p in otel.points("gen_ai.client.operation.duration")
                    if p.attributes["gen_ai.operation.name"] == operation]
        assert point.count == 1


def test_auto_pagination_gives_a_span_per_page(otel: Otel, client: Any) -> None:
    thread = client.beta.threads.create()
    for index in range(45):
        client.beta.threads.messages.create(thread_id=thread.id, role="user", content=f"m{index}")
    seen = [m.id for m in client.beta.threads.messages.list(thread_id=thread.id, limit=20)]
    assert len(seen) == 45
    pages = otel.spans("list_messages")
    assert len(pages) >= 3  # 20 + 20 + 5 (some SDK releases ask once more for an empty page)
    assert all(p.attributes["gen_ai.conversation.id"] == thread.id for p in pages)


@pytest.mark.parametrize("api", ["sync", "async"])
async def test_azure_clients(api: str, otel: Otel, emulator: Any) -> None:
    if api == "sync":
        with openai.AzureOpenAI(azure_endpoint=emulator.url, api_version=API_VERSION, api_key="azure-key") as client:
            assistant = client.beta.assistants.create(model="gpt-4o", name="azure")
            thread = client.beta.threads.create()
            run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                           poll_interval_ms=1)
    else:
        async with openai.AsyncAzureOpenAI(azure_endpoint=emulator.url, api_version=API_VERSION,
                                           api_key="azure-key") as aclient:
            assistant = await aclient.beta.assistants.create(model="gpt-4o", name="azure")
            thread = await aclient.beta.threads.create()
            run = await aclient.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                                  poll_interval_ms=1)
    assert run.status == "completed"
    span = otel.one_run()
    assert span.attributes["gen_ai.provider.name"] == "azure.ai.openai"
    assert span.attributes["server.address"] == "127.0.0.1"
    assert span.attributes["server.port"] == emulator.port
    assert otel.spans("create_thread")[0].attributes["gen_ai.provider.name"] == "azure.ai.openai"
    runs = otel.points("openai.assistants.runs")
    assert [p.attributes["gen_ai.provider.name"] for p in runs] == ["azure.ai.openai"]


def test_adopted_run_created_elsewhere_starts_at_its_server_time(make_otel: Callable[..., Otel], client: Any) -> None:
    """``adopt_runs``: a run created by uninstrumented code is owned by the process that meets it."""
    otel = make_otel(adopt_runs=True)
    try:
        assistant = client.beta.assistants.create(model="gpt-4o", name="elsewhere")
        thread = client.beta.threads.create()
        with suppress_instrumentation():  # as if uninstrumented code created it
            created = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                                      metadata={"scenario": "polls=3"})
        with otel.tracer.start_as_current_span("worker") as worker:
            run = client.beta.threads.runs.poll(created.id, thread_id=thread.id, poll_interval_ms=1)
        assert run.status == "completed"
        assert otel.total("openai.assistants.runs", {"openai.assistants.run.status": "completed"}) == 1
        span = otel.one_run()
        assert span.start_time == created.created_at * 10**9
        assert span.parent.span_id == worker.get_span_context().span_id
        assert span.attributes["openai.assistants.run.id"] == run.id
        assert span.attributes["openai.assistants.run.status"] == "completed"
        assert span.name == "invoke_agent elsewhere"  # the assistant was seen in this process
        # retrieving it again later makes no second span
        client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        assert len(otel.run_spans()) == 1
    finally:
        otel.close()


def test_retried_polls_count_once(otel: Otel, emulator: Any, closing: Any) -> None:
    client = closing(openai.OpenAI(base_url=emulator.base_url, api_key="sk-test-key", max_retries=3))
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                          metadata={"scenario": "poll_errors=2;polls=1"})
    emulator.clear_requests()
    run = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert run.status == "completed"
    statuses = [r.status for r in emulator.requests if r.path.endswith(run.id)]
    assert statuses == [500, 500, 200]  # the SDK retried twice inside one call
    span = otel.one_run()
    assert span.attributes["openai.assistants.run.poll_count"] == 1
    assert "exception" not in [e.name for e in span.events]
    assert otel.total("openai.assistants.runs") == 1


def test_listing_runs_makes_no_new_run_spans(otel: Otel, client: Any) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create()
    run = client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id,
                                          metadata={"scenario": "hold=1"})
    client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)  # now cancelled on the server
    assert otel.one_run().attributes["openai.assistants.run.status"] == "cancelled"
    client.beta.threads.runs.list(thread_id=thread.id)
    assert len(otel.run_spans()) == 1
    assert otel.spans("list_runs")[0].attributes["gen_ai.conversation.id"] == thread.id
