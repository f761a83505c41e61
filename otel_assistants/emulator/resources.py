"""The Assistants API v2 endpoints, independent of HTTP: a request in, a response out."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from .errors import ApiError, bad_request, missing, not_found, simulated_status
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
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        route = self._route
        route("POST", "/assistants", self.create_assistant)
        route("GET", "/assistants", self.list_assistants)
        route("GET", "/assistants/{assistant_id}", self.get_assistant)
        route("POST", "/assistants/{assistant_id}", self.update_assistant)
        route("DELETE", "/assistants/{assistant_id}", self.delete_assistant)
        route("POST", "/threads/runs", self.create_thread_and_run)
        route("POST", "/threads", self.create_thread)
        route("GET", "/threads/{thread_id}", self.get_thread)
        route("POST", "/threads/{thread_id}", self.update_thread)
        route("DELETE", "/threads/{thread_id}", self.delete_thread)
        route("POST", "/threads/{thread_id}/messages", self.create_message)
        route("GET", "/threads/{thread_id}/messages", self.list_messages)
        route("GET", "/threads/{thread_id}/messages/{message_id}", self.get_message)
        route("POST", "/threads/{thread_id}/messages/{message_id}", self.update_message)
        route("DELETE", "/threads/{thread_id}/messages/{message_id}", self.delete_message)
        route("POST", "/threads/{thread_id}/runs", self.create_run)
        route("GET", "/threads/{thread_id}/runs", self.list_runs)
        route("GET", "/threads/{thread_id}/runs/{run_id}", self.get_run)
        route("POST", "/threads/{thread_id}/runs/{run_id}", self.update_run)
        route("POST", "/threads/{thread_id}/runs/{run_id}/cancel", self.cancel_run)
        route("POST", "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs", self.submit_tool_outputs)
        route("GET", "/threads/{thread_id}/runs/{run_id}/steps", self.list_steps)
        route("GET", "/threads/{thread_id}/runs/{run_id}/steps/{step_id}", self.get_step)
        route("POST", "/vector_stores", self.create_vector_store)
        route("GET", "/vector_stores", self.list_vector_stores)
        route("GET", "/vector_stores/{store_id}", self.get_vector_store)
        route("POST", "/vector_stores/{store_id}", self.update_vector_store)
        route("DELETE", "/vector_stores/{store_id}", self.delete_vector_store)
        route("POST", "/vector_stores/{store_id}/files", self.create_vector_store_file)
        route("GET", "/vector_stores/{store_id}/files", self.list_vector_store_files)
        route("GET", "/vector_stores/{store_id}/files/{file_id}", self.get_vector_store_file)
        route("DELETE", "/vector_stores/{store_id}/files/{file_id}", self.delete_vector_store_file)
        route("POST", "/vector_stores/{store_id}/file_batches", self.create_file_batch)
        route("GET", "/vector_stores/{store_id}/file_batches/{batch_id}", self.get_file_batch)
        route("POST", "/vector_stores/{store_id}/file_batches/{batch_id}/cancel", self.cancel_file_batch)
        route("GET", "/vector_stores/{store_id}/file_batches/{batch_id}/files", self.list_file_batch_files)
        route("POST", "/files", self.upload_file)
        route("GET", "/files", self.list_files)
        route("GET", "/files/{file_id}", self.get_file)
        route("DELETE", "/files/{file_id}", self.delete_file)
        route("GET", "/files/{file_id}/content", self.get_file_content)
        route("POST", "/responses", self.create_response)
        route("GET", "/responses/{response_id}", self.get_response)

    def _route(self, method: str, template: str, handler: Handler) -> None:
        pattern = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
        self._routes.append((method, re.compile(pattern), handler))

    def dispatch(self, request: Request) -> Response:
        for method, pattern, handler in self._routes:
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

    def _vector_store(self, store_id: str) -> VectorStoreRecord:
        record = self.store.vector_stores.get(store_id)
        if record is None:
            raise not_found("vector store", store_id)
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
            raise bad_request(f"Can't add messages to {thread_id} while a run {active.run['id']} is active.")
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
            raise simulated_status(scenario.http_status)
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

    def create_run(self, request: Request, thread_id: str) -> Response:
        record = self._thread(thread_id)
        body = request.body
        assistant = self._run_assistant(body)
        scenario = self._scenario(body, assistant)
        active = self._active_run(record)
        if active is not None:
            raise bad_request(f"Thread {thread_id} already has an active run {active.run['id']}.")
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
    # Files attached to a store are `in_progress` until the next read of the store, its files or
    # its batches, so the SDK's *_and_poll helpers see one round of polling.

    def _new_vector_store(self, body: JsonObject) -> JsonObject:
        file_ids = [str(file_id) for file_id in body.get("file_ids") or []]
        for file_id in file_ids:
            self._file(file_id)
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
        return attached

    def _settle(self, record: VectorStoreRecord) -> None:
        for attached in record.files.values():
            if attached["status"] == "in_progress":
                attached["status"] = "completed"
        for batch in record.batches.values():
            if batch.batch["status"] == "in_progress":
                batch.batch["status"] = "completed"
            batch.batch["file_counts"] = self._counts(record, batch.file_ids)

    def _counts(self, record: VectorStoreRecord, file_ids: list[str]) -> JsonObject:
        counts = {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}
        for file_id in file_ids:
            attached = record.files.get(file_id)
            if attached is not None:
                counts[attached["status"]] += 1
                counts["total"] += 1
        return counts

    def _vector_store_view(self, record: VectorStoreRecord) -> JsonObject:
        store = record.store
        counts = self._counts(record, list(record.files))
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

    def get_vector_store(self, request: Request, store_id: str) -> Response:
        record = self._vector_store(store_id)
        self._settle(record)
        return json_response(self._vector_store_view(record))

    def update_vector_store(self, request: Request, store_id: str) -> Response:
        record = self._vector_store(store_id)
        for key in ("name", "metadata", "expires_after"):
            if key in request.body:
                record.store[key] = request.body[key]
        return json_response(self._vector_store_view(record))

    def delete_vector_store(self, request: Request, store_id: str) -> Response:
        self._vector_store(store_id)
        del self.store.vector_stores[store_id]
        return json_response(deleted(store_id, "vector_store.deleted"))

    def create_vector_store_file(self, request: Request, store_id: str) -> Response:
        record = self._vector_store(store_id)
        file_id = request.body.get("file_id")
        if not file_id:
            raise missing("file_id")
        return json_response(self._attach_file(record, str(file_id), request.body))

    def list_vector_store_files(self, request: Request, store_id: str) -> Response:
        record = self._vector_store(store_id)
        self._settle(record)
        return json_response(paginate(_filtered(record.files.values(), request.query), request.query))

    def get_vector_store_file(self, request: Request, store_id: str, file_id: str) -> Response:
        record = self._vector_store(store_id)
        self._settle(record)
        attached = record.files.get(file_id)
        if attached is None:
            raise not_found("vector store file", file_id)
        return json_response(attached)

    def delete_vector_store_file(self, request: Request, store_id: str, file_id: str) -> Response:
        record = self._vector_store(store_id)
        if record.files.pop(file_id, None) is None:
            raise not_found("vector store file", file_id)
        return json_response(deleted(file_id, "vector_store.file.deleted"))

    def create_file_batch(self, request: Request, store_id: str) -> Response:
        record = self._vector_store(store_id)
        body = request.body
        specs: list[tuple[str, JsonObject]] = [(str(fid), body) for fid in body.get("file_ids") or []]
        # Newer SDKs send `files` with per-file attributes instead of `file_ids`.
        for spec in body.get("files") or []:
            if isinstance(spec, dict) and spec.get("file_id"):
                specs.append((str(spec["file_id"]), {**body, **spec}))
        if not specs:
            raise missing("file_ids")
        for file_id, _ in specs:
            self._file(file_id)
        for file_id, options in specs:
            self._attach_file(record, file_id, options)
        file_ids = [file_id for file_id, _ in specs]
        batch: JsonObject = {
            "id": new_id("vsfb_"),
            "object": "vector_store.files_batch",
            "created_at": now(),
            "vector_store_id": store_id,
            "status": "in_progress",
            "file_counts": self._counts(record, file_ids),
        }
        record.batches[batch["id"]] = BatchRecord(batch, file_ids)
        return json_response(batch)

    def _batch(self, record: VectorStoreRecord, batch_id: str) -> BatchRecord:
        batch = record.batches.get(batch_id)
        if batch is None:
            raise not_found("file batch", batch_id)
        return batch

    def get_file_batch(self, request: Request, store_id: str, batch_id: str) -> Response:
        record = self._vector_store(store_id)
        batch = self._batch(record, batch_id)
        self._settle(record)
        return json_response(batch.batch)

    def cancel_file_batch(self, request: Request, store_id: str, batch_id: str) -> Response:
        record = self._vector_store(store_id)
        batch = self._batch(record, batch_id)
        if batch.batch["status"] == "in_progress":
            batch.batch["status"] = "cancelled"
            for file_id in batch.file_ids:
                attached = record.files.get(file_id)
                if attached is not None and attached["status"] == "in_progress":
                    attached["status"] = "cancelled"
            batch.batch["file_counts"] = self._counts(record, batch.file_ids)
        return json_response(batch.batch)

    def list_file_batch_files(self, request: Request, store_id: str, batch_id: str) -> Response:
        record = self._vector_store(store_id)
        batch = self._batch(record, batch_id)
        self._settle(record)
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
