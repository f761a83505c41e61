"""The route table: every Assistants request the SDK can make resolves to its contract operation
name with the ids its path carries, nothing else resolves, and the emulator answers exactly the
operations the instrumentation knows."""

from __future__ import annotations

import pytest

from otel_assistants import routes
from otel_assistants.emulator import Emulator
from otel_assistants.operations import HOOKS
from otel_assistants.routes import Route, route, table

CASES = [
    ("POST", "assistants", Route("create_agent")),
    ("GET", "assistants", Route("list_agents")),
    ("GET", "assistants/asst_1", Route("retrieve_agent", assistant_id="asst_1")),
    ("POST", "assistants/asst_1", Route("update_agent", assistant_id="asst_1")),
    ("DELETE", "assistants/asst_1", Route("delete_agent", assistant_id="asst_1")),
    ("POST", "threads", Route("create_thread")),
    ("POST", "threads/runs", Route("invoke_agent")),
    ("GET", "threads/th_1", Route("retrieve_thread", thread_id="th_1")),
    ("POST", "threads/th_1", Route("update_thread", thread_id="th_1")),
    ("DELETE", "threads/th_1", Route("delete_thread", thread_id="th_1")),
    ("POST", "threads/th_1/messages", Route("create_message", thread_id="th_1")),
    ("GET", "threads/th_1/messages", Route("list_messages", thread_id="th_1")),
    ("GET", "threads/th_1/messages/msg_1", Route("retrieve_message", thread_id="th_1", message_id="msg_1")),
    ("POST", "threads/th_1/messages/msg_1", Route("update_message", thread_id="th_1", message_id="msg_1")),
    ("DELETE", "threads/th_1/messages/msg_1", Route("delete_message", thread_id="th_1", message_id="msg_1")),
    ("POST", "threads/th_1/runs", Route("invoke_agent", thread_id="th_1")),
    ("GET", "threads/th_1/runs", Route("list_runs", thread_id="th_1")),
    ("GET", "threads/th_1/runs/run_1", Route("retrieve_run", thread_id="th_1", run_id="run_1")),
    ("POST", "threads/th_1/runs/run_1", Route("update_run", thread_id="th_1", run_id="run_1")),
    ("POST", "threads/th_1/runs/run_1/cancel", Route("cancel_run", thread_id="th_1", run_id="run_1")),
    ("POST", "threads/th_1/runs/run_1/submit_tool_outputs",
     Route("submit_tool_outputs", thread_id="th_1", run_id="run_1")),
    ("GET", "threads/th_1/runs/run_1/steps", Route("list_run_steps", thread_id="th_1", run_id="run_1")),
    ("GET", "threads/th_1/runs/run_1/steps/step_1",
     Route("retrieve_run_step", thread_id="th_1", run_id="run_1", step_id="step_1")),
    ("POST", "vector_stores", Route("create_vector_store")),
    ("GET", "vector_stores", Route("list_vector_stores")),
    ("GET", "vector_stores/vs_1", Route("retrieve_vector_store", vector_store_id="vs_1")),
    ("POST", "vector_stores/vs_1", Route("update_vector_store", vector_store_id="vs_1")),
    ("DELETE", "vector_stores/vs_1", Route("delete_vector_store", vector_store_id="vs_1")),
    ("POST", "vector_stores/vs_1/search", Route("search_vector_store", vector_store_id="vs_1")),
    ("POST", "vector_stores/vs_1/files", Route("create_vector_store_file", vector_store_id="vs_1")),
    ("GET", "vector_stores/vs_1/files", Route("list_vector_store_files", vector_store_id="vs_1")),
    ("GET", "vector_stores/vs_1/files/file-1",
     Route("retrieve_vector_store_file", vector_store_id="vs_1", file_id="file-1")),
    ("POST", "vector_stores/vs_1/files/file-1",
     Route("update_vector_store_file", vector_store_id="vs_1", file_id="file-1")),
    ("DELETE", "vector_stores/vs_1/files/file-1",
     Route("delete_vector_store_file", vector_store_id="vs_1", file_id="file-1")),
    ("GET", "vector_stores/vs_1/files/file-1/content",
     Route("retrieve_vector_store_file_content", vector_store_id="vs_1", file_id="file-1")),
    ("POST", "vector_stores/vs_1/file_batches", Route("create_vector_store_file_batch", vector_store_id="vs_1")),
    ("GET", "vector_stores/vs_1/file_batches/vsfb_1",
     Route("retrieve_vector_store_file_batch", vector_store_id="vs_1", batch_id="vsfb_1")),
    ("POST", "vector_stores/vs_1/file_batches/vsfb_1/cancel",
     Route("cancel_vector_store_file_batch", vector_store_id="vs_1", batch_id="vsfb_1")),
    ("GET", "vector_stores/vs_1/file_batches/vsfb_1/files",
     Route("list_vector_store_file_batch_files", vector_store_id="vs_1", batch_id="vsfb_1")),
    ("POST", "files", Route("upload_file")),
    ("GET", "files", Route("list_files")),
    ("GET", "files/file-1", Route("retrieve_file", file_id="file-1")),
    ("DELETE", "files/file-1", Route("delete_file", file_id="file-1")),
    ("GET", "files/file-1/content", Route("retrieve_file_content", file_id="file-1")),
]


@pytest.mark.parametrize(("method", "path", "expected"), CASES, ids=[f"{m} {p}" for m, p, _ in CASES])
def test_each_request_routes_to_its_operation_and_ids(method: str, path: str, expected: Route) -> None:
    assert route(method, path) == expected
    # The SDK sends relative paths with a leading slash; a full URL keeps only its path; a query is no part.
    assert route(method, "/" + path) == expected
    assert route(method.lower(), f"https://example.test/{path}?limit=5") == expected


def test_repeated_requests_are_answered_alike_and_the_memory_of_them_stays_bounded() -> None:
    for _ in range(2):  # the second round is answered from the memory of recent requests
        for method, path, expected in CASES:
            assert route(method, path) == expected
    for number in range(routes.RECENT_SIZE * 2):
        run_id = f"run_{number}"
        assert route("GET", f"threads/th_1/runs/{run_id}") == Route("retrieve_run", thread_id="th_1", run_id=run_id)
    assert len(routes._RECENT) <= routes.RECENT_SIZE


def test_the_cases_cover_the_whole_table() -> None:
    assert len(CASES) == len(table())
    assert {(method, case.operation) for method, _, case in CASES} == {(m, op) for m, _, op in table()}


@pytest.mark.parametrize(("method", "url"), [
    ("POST", "chat/completions"), ("POST", "responses"), ("GET", "responses/resp_1"), ("POST", "embeddings"),
    ("GET", "models"), ("PATCH", "assistants/asst_1"), ("GET", "threads/th_1/runs/run_1/steps/step_1/more"),
    ("GET", "files/file-1/content/x"), ("POST", "threads/th_1/unknown"), (None, "assistants"), ("GET", None),
    ("GET", ""),
])
def test_other_requests_are_not_ours(method: object, url: object) -> None:
    assert route(method, url) is None


def test_emulator_answers_exactly_the_routed_operations(emulator: Emulator) -> None:
    assert emulator.api.operations == {operation for _, _, operation in table()}


def test_hooks_are_only_for_routed_operations() -> None:
    assert set(HOOKS) <= {operation for _, _, operation in table()}
