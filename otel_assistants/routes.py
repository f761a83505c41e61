"""Which Assistants API operation a request is, from its method and path alone.

Every SDK surface (resource methods, poll and stream helpers, raw and streaming responses,
pagination) ends in one request with a method and a relative path, so this table is the
single place that knows the API's shape: the instrumentation routes the app's requests with it,
and the emulator answers by it. What the instrumentation does per operation is in operations.py.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Route(NamedTuple):  # a tuple: built on every request, so cheap to make
    operation: str
    thread_id: str | None = None
    run_id: str | None = None
    assistant_id: str | None = None
    step_id: str | None = None
    message_id: str | None = None
    vector_store_id: str | None = None
    file_id: str | None = None
    batch_id: str | None = None

    def ids(self) -> dict[str, str]:
        """The ids the path named, by name."""
        return {name: value for name, value in zip(self._fields[1:], self[1:], strict=True) if value is not None}


_LITERALS = frozenset({
    "assistants", "threads", "runs", "messages", "cancel", "submit_tool_outputs", "steps",
    "vector_stores", "files", "file_batches", "search", "content",
})

_ROOTS = frozenset({"assistants", "threads", "vector_stores", "files"})

# (method, path shape with "*" for ids) -> (operation name, names of the ids in order)
_TABLE: dict[tuple[str, tuple[str, ...]], tuple[str, tuple[str, ...]]] = {}
# What route() looks up: (method, the path's literal segments, its length) -> (operation, the
# Route field index of each id). The API's paths alternate a collection and an id, so the
# literals are the even segments and the ids the odd ones; the one path with two literals in a
# row (threads/runs) is filed under all its segments.
_LOOKUP: dict[tuple[str, tuple[str, ...], int], tuple[str, tuple[int, ...]]] = {}


def _add(method: str, shape: str, operation: str, ids: tuple[str, ...] = ()) -> None:
    parts = tuple(shape.split("/"))
    _TABLE[(method, parts)] = (operation, ids)
    if _LITERALS.isdisjoint(parts[1::2]):
        assert all(part == "*" for part in parts[1::2]) and "*" not in parts[0::2], shape
        literals = parts[0::2]
    else:
        literals = parts
    _LOOKUP[(method, literals, len(parts))] = (operation, tuple(Route._fields.index(name) for name in ids))


_add("POST", "assistants", "create_agent")
_add("GET", "assistants", "list_agents")
_add("GET", "assistants/*", "retrieve_agent", ("assistant_id",))
_add("POST", "assistants/*", "update_agent", ("assistant_id",))
_add("DELETE", "assistants/*", "delete_agent", ("assistant_id",))

_add("POST", "threads", "create_thread")
_add("POST", "threads/runs", "invoke_agent")
_add("GET", "threads/*", "retrieve_thread", ("thread_id",))
_add("POST", "threads/*", "update_thread", ("thread_id",))
_add("DELETE", "threads/*", "delete_thread", ("thread_id",))

_add("POST", "threads/*/messages", "create_message", ("thread_id",))
_add("GET", "threads/*/messages", "list_messages", ("thread_id",))
_add("GET", "threads/*/messages/*", "retrieve_message", ("thread_id", "message_id"))
_add("POST", "threads/*/messages/*", "update_message", ("thread_id", "message_id"))
_add("DELETE", "threads/*/messages/*", "delete_message", ("thread_id", "message_id"))

_add("POST", "threads/*/runs", "invoke_agent", ("thread_id",))
_add("GET", "threads/*/runs", "list_runs", ("thread_id",))
_add("GET", "threads/*/runs/*", "retrieve_run", ("thread_id", "run_id"))
_add("POST", "threads/*/runs/*", "update_run", ("thread_id", "run_id"))
_add("POST", "threads/*/runs/*/cancel", "cancel_run", ("thread_id", "run_id"))
_add("POST", "threads/*/runs/*/submit_tool_outputs", "submit_tool_outputs", ("thread_id", "run_id"))
_add("GET", "threads/*/runs/*/steps", "list_run_steps", ("thread_id", "run_id"))
_add("GET", "threads/*/runs/*/steps/*", "retrieve_run_step", ("thread_id", "run_id", "step_id"))

_add("POST", "vector_stores", "create_vector_store")
_add("GET", "vector_stores", "list_vector_stores")
_add("GET", "vector_stores/*", "retrieve_vector_store", ("vector_store_id",))
_add("POST", "vector_stores/*", "update_vector_store", ("vector_store_id",))
_add("DELETE", "vector_stores/*", "delete_vector_store", ("vector_store_id",))
_add("POST", "vector_stores/*/search", "search_vector_store", ("vector_store_id",))
_add("POST", "vector_stores/*/files", "create_vector_store_file", ("vector_store_id",))
_add("GET", "vector_stores/*/files", "list_vector_store_files", ("vector_store_id",))
_add("GET", "vector_stores/*/files/*", "retrieve_vector_store_file", ("vector_store_id", "file_id"))
_add("POST", "vector_stores/*/files/*", "update_vector_store_file", ("vector_store_id", "file_id"))
_add("DELETE", "vector_stores/*/files/*", "delete_vector_store_file", ("vector_store_id", "file_id"))
_add("GET", "vector_stores/*/files/*/content", "retrieve_vector_store_file_content",
     ("vector_store_id", "file_id"))
_add("POST", "vector_stores/*/file_batches", "create_vector_store_file_batch", ("vector_store_id",))
_add("GET", "vector_stores/*/file_batches/*", "retrieve_vector_store_file_batch", ("vector_store_id", "batch_id"))
_add("POST", "vector_stores/*/file_batches/*/cancel", "cancel_vector_store_file_batch",
     ("vector_store_id", "batch_id"))
_add("GET", "vector_stores/*/file_batches/*/files", "list_vector_store_file_batch_files",
     ("vector_store_id", "batch_id"))

_add("POST", "files", "upload_file")
_add("GET", "files", "list_files")
_add("GET", "files/*", "retrieve_file", ("file_id",))
_add("DELETE", "files/*", "delete_file", ("file_id",))
_add("GET", "files/*/content", "retrieve_file_content", ("file_id",))


# Recent answers by (method, url): a run's polls, and the runs created on one thread, ask again.
_RECENT: dict[tuple[str, str], Route | None] = {}
RECENT_SIZE = 512
_UNKNOWN = object()


def route(method: Any, url: Any) -> Route | None:
    """The Assistants operation for a request, or None for any other OpenAI API request."""
    if not isinstance(method, str) or not isinstance(url, str):
        return None
    key = (method, url)
    found = _RECENT.get(key, _UNKNOWN)
    if found is not _UNKNOWN:
        return found  # type: ignore[return-value]
    found = _route(method, url)
    if len(_RECENT) >= RECENT_SIZE:
        _RECENT.clear()
    _RECENT[key] = found
    return found


def _route(method: str, url: str) -> Route | None:
    path = url.partition("?")[0].strip("/")
    if "://" in path:  # an absolute URL given by the app: keep only its path
        path = path.split("://", 1)[1].partition("/")[2]
    segments = path.split("/")
    if segments[0] not in _ROOTS:  # chat, responses, embeddings...: not ours, decided at once
        return None
    # Runs on every request: slices and set checks, no loop over the segments.
    ids = segments[1::2]
    if _LITERALS.isdisjoint(ids):
        entry = _LOOKUP.get((method.upper(), tuple(segments[0::2]), len(segments)))
    else:
        entry = _LOOKUP.get((method.upper(), tuple(segments), len(segments)))
        ids = []
    if entry is None or not all(ids):  # an empty id (a doubled slash) names nothing
        return None
    operation, slots = entry
    if not slots:
        return Route(operation)
    values: list[str | None] = [operation, None, None, None, None, None, None, None, None]
    for slot, value in zip(slots, ids, strict=True):
        values[slot] = value
    return Route._make(values)


def table() -> list[tuple[str, str, str]]:
    """Every (method, path template, operation), ids named as ``{thread_id}``: for the emulator's
    answers and the tests."""
    rows = []
    for (method, shape), (operation, id_names) in _TABLE.items():
        names = iter(id_names)
        rows.append((method, "/" + "/".join(part if part != "*" else "{" + next(names) + "}" for part in shape),
                     operation))
    return rows
