"""The Assistants API v2 endpoints, independent of HTTP: a request in, a response out."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from ..routes import route
from . import ingestion
from .errors import (
    ApiError,
    bad_request,
    check_batch_id,
    check_sampling,
    missing,
    no_files_provided,
    not_found,
    simulated_status,
    thread_has_active_run,
)
from .objects import deleted, message_from_request
from .responses_api import ResponsesApi
from .runs import ACTIVE, Event, Item, RunEngine, RunState, RunStream, step_view, wants_file_search_content
from .scenario import Scenario, ScenarioError, parse_scenario
from .store import (
    BatchRecord,
    FileRecord,
    JsonObject,
    Query,
    Store,
    ThreadRecord,
    VectorStoreRecord,
    new_id,
    now,
    paginate,
    query_list,
    query_value,
)

_ASSISTANT_FIELDS = (
    "model",
    "name",
    "description",
    "instructions",
    "tools",
    "metadata",
    "temperature",
    "top_p",
    "response_format",
)
_CHUNKING_DEFAULT = {"type": "static", "static": {"max_chunk_size_tokens": 800, "chunk_overlap_tokens": 400}}
# The real API lists files without paging by default.
_FILES_DEFAULT_LIMIT = 10000


@dataclass
class Upload:
    filename: str
    content: bytes


@dataclass
class Request:
    method: str
    path: str
    query: Query = field(default_factory=dict)
    body: JsonObject = field(default_factory=dict)
    uploads: dict[str, Upload] = field(default_factory=dict)


@dataclass
class JsonResponse:
    payload: bytes
    status: int = 200


@dataclass
class RawResponse:
    content: bytes
    content_type: str = "application/octet-stream"


@dataclass
class StreamResponse:
    events: RunStream | Generator[Item, None, None]
    cut_after: int | None = None
    cut_mode: str = "close"
    # Assistants streams end with a `done` event carrying [DONE]; Responses streams end after their last event.
    done_marker: bool = True


Response = JsonResponse | RawResponse | StreamResponse
Handler = Callable[..., Response]


def json_response(body: Any, status: int = 200) -> JsonResponse:
    # Serialized at once, under the store lock, so the answer is a consistent snapshot.
    return JsonResponse(json.dumps(body).encode(), status)


class Api:
    def __init__(self, store: Store, engine: RunEngine, default_scenario: Callable[[], str]) -> None:
        self.store = store
        self.engine = engine
        self._default_scenario = default_scenario
        self.responses = ResponsesApi(store, default_scenario)
        # Answers by operation, routed by the instrumentation's own table (routes.py): the
        # emulator answers every request the instrumentation knows, and only those.
        self._handlers: dict[str, Handler] = {
            "create_agent": self.create_assistant,
            "list_agents": self.list_assistants,
            "retrieve_agent": self.get_assistant,
            "update_agent": self.update_assistant,
            "delete_agent": self.delete_assistant,
            "invoke_agent": self.invoke_agent,
            "create_thread": self.create_thread,
            "retrieve_thread": self.get_thread,
            "update_thread": self.update_thread,
            "delete_thread": self.delete_thread,
            "create_message": self.create_message,
            "list_messages": self.list_messages,
            "retrieve_message": self.get_message,
            "update_message": self.update_message,
            "delete_message": self.delete_message,
            "list_runs": self.list_runs,
            "retrieve_run": self.get_run,
            "update_run": self.update_run,
            "cancel_run": self.cancel_run,
            "submit_tool_outputs": self.submit_tool_outputs,
            "list_run_steps": self.list_steps,
            "retrieve_run_step": self.get_step,
            "create_vector_store": self.create_vector_store,
            "list_vector_stores": self.list_vector_stores,
            "retrieve_vector_store": self.get_vector_store,
            "update_vector_store": self.update_vector_store,
            "delete_vector_store": self.delete_vector_store,
            "search_vector_store": self.search_vector_store,
            "create_vector_store_file": self.create_vector_store_file,
            "list_vector_store_files": self.list_vector_store_files,
            "retrieve_vector_store_file": self.get_vector_store_file,
            "update_vector_store_file": self.update_vector_store_file,
            "delete_vector_store_file": self.delete_vector_store_file,
            "retrieve_vector_store_file_content": self.get_vector_store_file_content,
            "create_vector_store_file_batch": self.create_file_batch,
            "retrieve_vector_store_file_batch": self.get_file_batch,
            "cancel_vector_store_file_batch": self.cancel_file_batch,
            "list_vector_store_file_batch_files": self.list_file_batch_files,
            "upload_file": self.upload_file,
            "list_files": self.list_files,
            "retrieve_file": self.get_file,
            "delete_file": self.delete_file,
            "retrieve_file_content": self.get_file_content,
        }
        # The Responses API, which the instrumentation leaves alone (for migration tests).
        self._other_routes: list[tuple[str, re.Pattern[str], Handler]] = [
            ("POST", re.compile("/responses"), self.create_response),
            ("GET", re.compile("/responses/(?P<response_id>[^/]+)"), self.get_response),
        ]

    @property
    def operations(self) -> frozenset[str]:
        """The operations this emulator answers."""
        return frozenset(self._handlers)

    def dispatch(self, request: Request) -> Response:
        target = route(request.method, request.path)
        if target is not None:
            handler = self._handlers[target.operation]
            with self.store.lock:
                return handler(request, **target.ids())
        for method, pattern, handler in self._other_routes:
            match = pattern.fullmatch(request.path)
            if match and method == request.method:
                with self.store.lock:
                    return handler(request, **match.groupdict())
        raise ApiError(404, f"Invalid URL ({request.method} {request.path})")

    # --- lookups ----------------------------------------------------------------------------

    def _assistant(self, assistant_id: str) -> JsonObject:
        assistant = self.store.assistants.get(assistant_id)
        if assistant is None:
            raise not_found("assistant", assistant_id)
        return assistant

    def _thread(self, thread_id: str) -> ThreadRecord:
        record = self.store.threads.get(thread_id)
        if record is None:
            raise not_found("thread", thread_id)
        return record

    def _run(self, thread_id: str, run_id: str) -> RunState:
        state = self._thread(thread_id).runs.get(run_id)
        if state is None:
            raise not_found("run", run_id)
        return state

    def _message(self, thread_id: str, message_id: str) -> JsonObject:
        message = self._thread(thread_id).messages.get(message_id)
        if message is None:
            raise not_found("message", message_id)
        return message

    def _vector_store(self, vector_store_id: str) -> VectorStoreRecord:
        record = self.store.vector_stores.get(vector_store_id)
        if record is None:
            raise not_found("vector store", vector_store_id)
        return record

    def _file(self, file_id: str) -> FileRecord:
        record = self.store.files.get(file_id)
        if record is None:
            raise not_found("file", file_id)
        return record

    def _active_run(self, record: ThreadRecord) -> RunState | None:
        for state in record.runs.values():
            self.engine.refresh(state)
            if state.status in ACTIVE:
                return state
        return None

    # --- assistants -------------------------------------------------------------------------

    def create_assistant(self, request: Request) -> Response:
        body = request.body
        if not body.get("model"):
            raise missing("model")
        check_sampling(body["model"], body)
        assistant: JsonObject = {
            "id": new_id("asst_"),
            "object": "assistant",
            "created_at": now(),
            "name": body.get("name"),
            "description": body.get("description"),
            "model": body["model"],
            "instructions": body.get("instructions"),
            "tools": body.get("tools") or [],
            "tool_resources": self._tool_resources(body.get("tool_resources")),
            "metadata": body.get("metadata") or {},
            "temperature": _default(body.get("temperature"), 1.0),
            "top_p": _default(body.get("top_p"), 1.0),
            "response_format": _default(body.get("response_format"), "auto"),
        }
        self.store.assistants[assistant["id"]] = assistant
        return json_response(assistant)

    def list_assistants(self, request: Request) -> Response:
        return json_response(paginate(list(self.store.assistants.values()), request.query))

    def get_assistant(self, request: Request, assistant_id: str) -> Response:
        return json_response(self._assistant(assistant_id))

    def update_assistant(self, request: Request, assistant_id: str) -> Response:
        assistant = self._assistant(assistant_id)
        check_sampling(request.body.get("model") or assistant["model"], request.body, assistant)
        for key in _ASSISTANT_FIELDS:
            if key in request.body:
                assistant[key] = request.body[key]
        if "tool_resources" in request.body:
            assistant["tool_resources"] = self._tool_resources(request.body["tool_resources"])
        return json_response(assistant)

    def delete_assistant(self, request: Request, assistant_id: str) -> Response:
        self._assistant(assistant_id)
        del self.store.assistants[assistant_id]
        return json_response(deleted(assistant_id, "assistant.deleted"))

    def _tool_resources(self, raw: Any) -> JsonObject:
        resources: JsonObject = {}
        if not isinstance(raw, dict):
            return resources
        interpreter = raw.get("code_interpreter")
        if isinstance(interpreter, dict):
            resources["code_interpreter"] = {"file_ids": list(interpreter.get("file_ids") or [])}
        search = raw.get("file_search")
        if isinstance(search, dict):
            store_ids = list(search.get("vector_store_ids") or [])
            # `vector_stores` asks for stores to be created on the fly.
            for spec in search.get("vector_stores") or []:
                store_ids.append(self._new_vector_store(spec if isinstance(spec, dict) else {})["id"])
            resources["file_search"] = {"vector_store_ids": store_ids}
        return resources

    # --- threads and messages ---------------------------------------------------------------

    def _new_thread(self, body: JsonObject, param: str = "messages") -> ThreadRecord:
        thread: JsonObject = {
            "id": new_id("thread_"),
            "object": "thread",
            "created_at": now(),
            "metadata": body.get("metadata") or {},
            "tool_resources": self._tool_resources(body.get("tool_resources")),
        }
        raw_messages = body.get("messages") or []
        if not isinstance(raw_messages, list):
            raise bad_request(f"Invalid value for '{param}': expected an array.", param)
        messages = [
            message_from_request(thread["id"], raw, f"{param}[{index}]") for index, raw in enumerate(raw_messages)
        ]
        record = ThreadRecord(thread)
        for message in messages:
            record.messages[message["id"]] = message
        self.store.threads[thread["id"]] = record
        return record

    def create_thread(self, request: Request) -> Response:
        return json_response(self._new_thread(request.body).thread)

    def get_thread(self, request: Request, thread_id: str) -> Response:
        return json_response(self._thread(thread_id).thread)

    def update_thread(self, request: Request, thread_id: str) -> Response:
        thread = self._thread(thread_id).thread
        if "metadata" in request.body:
            thread["metadata"] = request.body["metadata"] or {}
        if "tool_resources" in request.body:
            thread["tool_resources"] = self._tool_resources(request.body["tool_resources"])
        return json_response(thread)

    def delete_thread(self, request: Request, thread_id: str) -> Response:
        self._thread(thread_id)
        del self.store.threads[thread_id]
        return json_response(deleted(thread_id, "thread.deleted"))

    def create_message(self, request: Request, thread_id: str) -> Response:
        record = self._thread(thread_id)
        active = self._active_run(record)
        if active is not None:
            raise thread_has_active_run(thread_id, active.run["id"], adding_message=True)
        message = message_from_request(thread_id, request.body, "body")
        record.messages[message["id"]] = message
        return json_response(message)

    def list_messages(self, request: Request, thread_id: str) -> Response:
        messages = list(self._thread(thread_id).messages.values())
        run_id = query_value(request.query, "run_id")
        if run_id:
            messages = [message for message in messages if message["run_id"] == run_id]
        return json_response(paginate(messages, request.query))

    def get_message(self, request: Request, thread_id: str, message_id: str) -> Response:
        return json_response(self._message(thread_id, message_id))

    def update_message(self, request: Request, thread_id: str, message_id: str) -> Response:
        message = self._message(thread_id, message_id)
        if "metadata" in request.body:
            message["metadata"] = request.body["metadata"] or {}
        return json_response(message)

    def delete_message(self, request: Request, thread_id: str, message_id: str) -> Response:
        self._message(thread_id, message_id)
        del self.store.threads[thread_id].messages[message_id]
        return json_response(deleted(message_id, "thread.message.deleted"))

    # --- runs -------------------------------------------------------------------------------

    def _scenario(self, body: JsonObject, assistant: JsonObject) -> Scenario:
        run_metadata = body.get("metadata") or {}
        assistant_metadata = assistant.get("metadata") or {}
        if "scenario" in run_metadata:
            source = run_metadata["scenario"]
        elif "scenario" in assistant_metadata:
            source = assistant_metadata["scenario"]
        else:
            source = self._default_scenario()
        try:
            scenario = parse_scenario(str(source))
        except ScenarioError as error:
            raise bad_request(str(error), "metadata.scenario") from None
        if scenario.http_status is not None:
            raise simulated_status(scenario.http_status, scenario.http_code)
        return scenario

    def _run_assistant(self, body: JsonObject) -> JsonObject:
        assistant_id = body.get("assistant_id")
        if not assistant_id:
            raise missing("assistant_id")
        return self._assistant(str(assistant_id))

    def _run_response(self, request: Request, state: RunState, prelude: list[Event] | None = None) -> Response:
        if request.body.get("stream"):
            scenario = state.scenario
            return StreamResponse(self.engine.stream(state, prelude), scenario.cut_after, scenario.cut_mode)
        return json_response(state.run)

    def invoke_agent(self, request: Request, thread_id: str | None = None) -> Response:
        if thread_id is None:
            return self.create_thread_and_run(request)
        return self.create_run(request, thread_id)

    def create_run(self, request: Request, thread_id: str) -> Response:
        record = self._thread(thread_id)
        body = request.body
        assistant = self._run_assistant(body)
        check_sampling(body.get("model") or assistant.get("model"), body, assistant)
        scenario = self._scenario(body, assistant)
        active = self._active_run(record)
        if active is not None:
            raise thread_has_active_run(thread_id, active.run["id"], adding_message=False)
        raw_messages = body.get("additional_messages") or []
        messages = [
            message_from_request(thread_id, raw, f"additional_messages[{index}]")
            for index, raw in enumerate(raw_messages)
        ]
        for message in messages:
            record.messages[message["id"]] = message
        state = self.engine.create(
            thread=record,
            assistant=assistant,
            body=body,
            scenario=scenario,
            include_content=wants_file_search_content(query_list(request.query, "include")),
        )
        return self._run_response(request, state)

    def create_thread_and_run(self, request: Request) -> Response:
        body = request.body
        assistant = self._run_assistant(body)
        check_sampling(body.get("model") or assistant.get("model"), body, assistant)
        scenario = self._scenario(body, assistant)
        thread_body = body.get("thread") or {}
        if not isinstance(thread_body, dict):
            raise bad_request("Invalid value for 'thread': expected an object.", "thread")
        record = self._new_thread(thread_body, "thread.messages")
        state = self.engine.create(
            thread=record,
            assistant=assistant,
            body=body,
            scenario=scenario,
            include_content=wants_file_search_content(query_list(request.query, "include")),
        )
        return self._run_response(request, state, [Event.of("thread.created", record.thread)])

    def list_runs(self, request: Request, thread_id: str) -> Response:
        states = list(self._thread(thread_id).runs.values())
        for state in states:
            self.engine.refresh(state)
        return json_response(paginate([state.run for state in states], request.query))

    def get_run(self, request: Request, thread_id: str, run_id: str) -> Response:
        state = self._run(thread_id, run_id)
        self.engine.retrieve(state)
        return json_response(state.run)

    def update_run(self, request: Request, thread_id: str, run_id: str) -> Response:
        state = self._run(thread_id, run_id)
        if "metadata" in request.body:
            state.run["metadata"] = request.body["metadata"] or {}
        return json_response(state.run)

    def cancel_run(self, request: Request, thread_id: str, run_id: str) -> Response:
        state = self._run(thread_id, run_id)
        self.engine.cancel(state)
        return json_response(state.run)

    def submit_tool_outputs(self, request: Request, thread_id: str, run_id: str) -> Response:
        state = self._run(thread_id, run_id)
        self.engine.submit_tool_outputs(state, request.body)
        return self._run_response(request, state)

    def list_steps(self, request: Request, thread_id: str, run_id: str) -> Response:
        state = self._run(thread_id, run_id)
        self.engine.refresh(state)
        include = wants_file_search_content(query_list(request.query, "include"))
        steps = [step_view(step, include) for step in state.steps.values()]
        return json_response(paginate(steps, request.query))

    def get_step(self, request: Request, thread_id: str, run_id: str, step_id: str) -> Response:
        state = self._run(thread_id, run_id)
        self.engine.refresh(state)
        step = state.steps.get(step_id)
        if step is None:
            raise not_found("run step", step_id)
        return json_response(step_view(step, wants_file_search_content(query_list(request.query, "include"))))

    # --- vector stores ----------------------------------------------------------------------
    # Files attached to a store index over the reads that show them: by default they are
    # `in_progress` until the next one, so the SDK's *_and_poll helpers see one round of polling.
    # The filename and the store's metadata choose otherwise (ingestion.py).

    def _new_vector_store(self, body: JsonObject) -> JsonObject:
        file_ids = [str(file_id) for file_id in body.get("file_ids") or []]
        for file_id in file_ids:
            self._file(file_id)
        ingestion.check_metadata(body.get("metadata"))
        created = now()
        expires_after = body.get("expires_after")
        days = expires_after.get("days") if isinstance(expires_after, dict) else None
        store: JsonObject = {
            "id": new_id("vs_"),
            "object": "vector_store",
            "created_at": created,
            "name": body.get("name") or "",
            "usage_bytes": 0,
            "bytes": 0,
            "file_counts": {},
            "status": "completed",
            "last_active_at": created,
            "expires_after": expires_after,
            "expires_at": created + int(days) * 86400 if isinstance(days, int) else None,
            "metadata": body.get("metadata") or {},
        }
        record = VectorStoreRecord(store)
        self.store.vector_stores[store["id"]] = record
        for file_id in file_ids:
            self._attach_file(record, file_id, body)
        return self._vector_store_view(record)

    def _attach_file(self, record: VectorStoreRecord, file_id: str, body: JsonObject) -> JsonObject:
        source = self._file(file_id)
        attached: JsonObject = {
            "id": file_id,
            "object": "vector_store.file",
            "created_at": now(),
            "vector_store_id": record.store["id"],
            "status": "in_progress",
            "usage_bytes": source.file["bytes"],
            "last_error": None,
            "chunking_strategy": body.get("chunking_strategy") or _CHUNKING_DEFAULT,
            "attributes": body.get("attributes") or {},
        }
        record.files[file_id] = attached
        ingestion.start(record, attached, source.file["filename"], source.file["bytes"])
        return attached

    def _settle(self, record: VectorStoreRecord) -> None:
        """A read of the whole store: every file still indexing moves on by one read."""
        ingestion.advance_all(record)

    def _vector_store_view(self, record: VectorStoreRecord) -> JsonObject:
        store = record.store
        counts = ingestion.counts(record, record.files)
        size = sum(f["usage_bytes"] for f in record.files.values() if f["status"] == "completed")
        store.update(
            file_counts=counts,
            usage_bytes=size,
            bytes=size,
            status="in_progress" if counts["in_progress"] else "completed",
        )
        return store

    def create_vector_store(self, request: Request) -> Response:
        return json_response(self._new_vector_store(request.body))

    def list_vector_stores(self, request: Request) -> Response:
        views = []
        for record in self.store.vector_stores.values():
            self._settle(record)
            views.append(self._vector_store_view(record))
        return json_response(paginate(views, request.query))

    def get_vector_store(self, request: Request, vector_store_id: str) -> Response:
        record = self._vector_store(vector_store_id)
        self._settle(record)
        return json_response(self._vector_store_view(record))

    def update_vector_store(self, request: Request, vector_store_id: str) -> Response:
        record = self._vector_store(vector_store_id)
        if "metadata" in request.body:
            ingestion.check_metadata(request.body["metadata"])
        for key in ("name", "metadata", "expires_after"):
            if key in request.body:
                record.store[key] = request.body[key]
        return json_response(self._vector_store_view(record))

    def delete_vector_store(self, request: Request, vector_store_id: str) -> Response:
        self._vector_store(vector_store_id)
        del self.store.vector_stores[vector_store_id]
        return json_response(deleted(vector_store_id, "vector_store.deleted"))

    def create_vector_store_file(self, request: Request, vector_store_id: str) -> Response:
        record = self._vector_store(vector_store_id)
        file_id = request.body.get("file_id")
        if not file_id:
            raise missing("file_id")
        return json_response(self._attach_file(record, str(file_id), request.body))

    def list_vector_store_files(self, request: Request, vector_store_id: str) -> Response:
        record = self._vector_store(vector_store_id)
        self._settle(record)
        return json_response(paginate(_filtered(record.files.values(), request.query), request.query))

    def _attached(self, vector_store_id: str, file_id: str) -> JsonObject:
        record = self._vector_store(vector_store_id)
        ingestion.advance(record, [file_id])
        attached = record.files.get(file_id)
        if attached is None:
            raise not_found("vector store file", file_id)
        return attached

    def get_vector_store_file(self, request: Request, vector_store_id: str, file_id: str) -> Response:
        return json_response(self._attached(vector_store_id, file_id))

    def update_vector_store_file(self, request: Request, vector_store_id: str, file_id: str) -> Response:
        attached = self._attached(vector_store_id, file_id)
        if "attributes" not in request.body:
            raise missing("attributes")
        attached["attributes"] = request.body["attributes"] or {}
        return json_response(attached)

    def get_vector_store_file_content(self, request: Request, vector_store_id: str, file_id: str) -> Response:
        self._attached(vector_store_id, file_id)
        parts = [{"type": "text", "text": _text_of(self._file(file_id).content)}]
        return json_response({"object": "vector_store.file_content.page", "data": parts, "has_more": False,
                              "next_page": None})

    def search_vector_store(self, request: Request, vector_store_id: str) -> Response:
        """Every indexed file whose text holds a word of the query, best first by words matched."""
        record = self._vector_store(vector_store_id)
        self._settle(record)
        query = request.body.get("query")
        if not query:
            raise missing("query")
        terms = query if isinstance(query, list) else [query]
        words = {word.lower() for term in terms for word in str(term).split()}
        limit = request.body.get("max_num_results") or 10
        hits = []
        for file_id, attached in record.files.items():
            if attached["status"] != "completed" or file_id not in self.store.files:
                continue
            source = self.store.files[file_id]
            text = _text_of(source.content)
            matched = sum(1 for word in words if word in text.lower())
            if matched:
                hits.append({"file_id": file_id, "filename": source.file["filename"],
                             "score": matched / len(words), "attributes": attached["attributes"],
                             "content": [{"type": "text", "text": text}]})
        hits.sort(key=lambda hit: -hit["score"])
        return json_response({"object": "vector_store.search_results.page", "search_query": query,
                              "data": hits[:limit], "has_more": False, "next_page": None})

    def delete_vector_store_file(self, request: Request, vector_store_id: str, file_id: str) -> Response:
        record = self._vector_store(vector_store_id)
        if record.files.pop(file_id, None) is None:
            raise not_found("vector store file", file_id)
        ingestion.forget(record, file_id)
        return json_response(deleted(file_id, "vector_store.file.deleted"))

    def create_file_batch(self, request: Request, vector_store_id: str) -> Response:
        record = self._vector_store(vector_store_id)
        body = request.body
        specs: list[tuple[str, JsonObject]] = [(str(fid), body) for fid in body.get("file_ids") or []]
        # Newer SDKs send `files` with per-file attributes instead of `file_ids`.
        for spec in body.get("files") or []:
            if isinstance(spec, dict) and spec.get("file_id"):
                specs.append((str(spec["file_id"]), {**body, **spec}))
        if not specs:
            raise no_files_provided()
        for file_id, _ in specs:
            self._file(file_id)
        for file_id, options in specs:
            self._attach_file(record, file_id, options)
        file_ids = [file_id for file_id, _ in specs]
        batch: JsonObject = {
            "id": new_id("vsfb_"),
            "object": "vector_store.files_batch",
            "created_at": now(),
            "vector_store_id": vector_store_id,
            "status": "in_progress",
        }
        record.batches[batch["id"]] = BatchRecord(batch, file_ids)
        return json_response(ingestion.batch_view(record, batch, file_ids))

    def _batch(self, record: VectorStoreRecord, batch_id: str) -> BatchRecord:
        check_batch_id(batch_id)
        batch = record.batches.get(batch_id)
        if batch is None:
            raise not_found("file batch", batch_id)
        return batch

    def get_file_batch(self, request: Request, vector_store_id: str, batch_id: str) -> Response:
        record = self._vector_store(vector_store_id)
        batch = self._batch(record, batch_id)
        ingestion.advance(record, batch.file_ids)
        return json_response(ingestion.batch_view(record, batch.batch, batch.file_ids))

    def cancel_file_batch(self, request: Request, vector_store_id: str, batch_id: str) -> Response:
        record = self._vector_store(vector_store_id)
        batch = self._batch(record, batch_id)
        # A batch whose files have all ended is completed already: nothing is left to cancel.
        if ingestion.batch_view(record, batch.batch, batch.file_ids)["status"] == "in_progress":
            ingestion.cancel(record, batch.file_ids)
            batch.batch["status"] = "cancelled"
        return json_response(ingestion.batch_view(record, batch.batch, batch.file_ids))

    def list_file_batch_files(self, request: Request, vector_store_id: str, batch_id: str) -> Response:
        record = self._vector_store(vector_store_id)
        batch = self._batch(record, batch_id)
        ingestion.advance(record, batch.file_ids)
        files = [record.files[file_id] for file_id in batch.file_ids if file_id in record.files]
        return json_response(paginate(_filtered(files, request.query), request.query))

    # --- files ------------------------------------------------------------------------------

    def upload_file(self, request: Request) -> Response:
        upload = request.uploads.get("file")
        if upload is None:
            raise missing("file")
        purpose = request.body.get("purpose")
        if not purpose:
            raise missing("purpose")
        file: JsonObject = {
            "id": new_id("file-"),
            "object": "file",
            "bytes": len(upload.content),
            "created_at": now(),
            "filename": upload.filename,
            "purpose": purpose,
            "status": "processed",
            "status_details": None,
            "expires_at": None,
        }
        self.store.files[file["id"]] = FileRecord(file, upload.content)
        return json_response(file)

    def list_files(self, request: Request) -> Response:
        files = [record.file for record in self.store.files.values()]
        purpose = query_value(request.query, "purpose")
        if purpose:
            files = [file for file in files if file["purpose"] == purpose]
        return json_response(paginate(files, request.query, default_limit=_FILES_DEFAULT_LIMIT))

    def get_file(self, request: Request, file_id: str) -> Response:
        return json_response(self._file(file_id).file)

    def delete_file(self, request: Request, file_id: str) -> Response:
        self._file(file_id)
        del self.store.files[file_id]
        return json_response(deleted(file_id, "file"))

    def get_file_content(self, request: Request, file_id: str) -> Response:
        return RawResponse(self._file(file_id).content)

    # --- responses (responses_api.py) -------------------------------------------------------

    def create_response(self, request: Request) -> Response:
        final, events = self.responses.create(request.body)
        if events is None:
            return json_response(final)
        return StreamResponse(events, done_marker=False)

    def get_response(self, request: Request, response_id: str) -> Response:
        return json_response(self.responses.retrieve(response_id))


def _default(value: Any, fallback: Any) -> Any:
    return fallback if value is None else value


def _filtered(files: Any, query: Query) -> list[JsonObject]:
    status = query_value(query, "filter")
    return [file for file in files if not status or file["status"] == status]


def _text_of(content: bytes) -> str:
    return content.decode("utf-8", errors="replace")
