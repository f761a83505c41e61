"""In-memory object store: ids, records and cursor pagination."""

from __future__ import annotations

import secrets
import string
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .errors import bad_request

if TYPE_CHECKING:
    from .ingestion import Pending
    from .runs import RunState

JsonObject = dict[str, Any]
Query = Mapping[str, Sequence[str]]

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def now() -> int:
    return int(time.time())


def query_value(query: Query, key: str) -> str | None:
    values = query.get(key)
    return values[-1] if values else None


def query_list(query: Query, key: str) -> list[str]:
    # The SDK encodes arrays as `key[]=a&key[]=b`; accept the bare key as well.
    return [*query.get(f"{key}[]", ()), *query.get(key, ())]


@dataclass
class ThreadRecord:
    thread: JsonObject
    messages: dict[str, JsonObject] = field(default_factory=dict)
    runs: dict[str, RunState] = field(default_factory=dict)


@dataclass
class FileRecord:
    file: JsonObject
    content: bytes


@dataclass
class BatchRecord:
    batch: JsonObject
    file_ids: list[str]


@dataclass
class VectorStoreRecord:
    store: JsonObject
    files: dict[str, JsonObject] = field(default_factory=dict)
    batches: dict[str, BatchRecord] = field(default_factory=dict)
    # Files still indexing, by id (see ingestion.py).
    pending: dict[str, Pending] = field(default_factory=dict)


@dataclass
class Store:
    """Every object the emulator knows; guarded by `lock` (re-entrant, one for all)."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    assistants: dict[str, JsonObject] = field(default_factory=dict)
    threads: dict[str, ThreadRecord] = field(default_factory=dict)
    files: dict[str, FileRecord] = field(default_factory=dict)
    vector_stores: dict[str, VectorStoreRecord] = field(default_factory=dict)
    responses: dict[str, JsonObject] = field(default_factory=dict)

    def clear(self) -> None:
        with self.lock:
            self.assistants.clear()
            self.threads.clear()
            self.files.clear()
            self.vector_stores.clear()
            self.responses.clear()


def paginate(items: Sequence[JsonObject], query: Query, *, default_limit: int = 20) -> JsonObject:
    """A cursor page over `items` (given oldest first), honouring limit/order/after/before."""
    order = query_value(query, "order") or "desc"
    if order not in ("asc", "desc"):
        raise bad_request(f"Invalid value for 'order': expected 'asc' or 'desc', got '{order}'.", "order")
    raw_limit = query_value(query, "limit")
    try:
        limit = default_limit if raw_limit is None else int(raw_limit)
    except ValueError:
        raise bad_request(f"Invalid value for 'limit': '{raw_limit}' is not an integer.", "limit") from None
    if limit < 1 or limit > max(100, default_limit):
        raise bad_request(f"Invalid value for 'limit': {limit} is out of range.", "limit")

    ordered = list(items) if order == "asc" else list(reversed(items))
    ids = [item["id"] for item in ordered]
    after = query_value(query, "after")
    before = query_value(query, "before")
    start, end = 0, len(ordered)
    if after:
        # An unknown cursor (e.g. a deleted object) ends the listing rather than restarting it.
        start = ids.index(after) + 1 if after in ids else len(ordered)
    if before:
        end = ids.index(before) if before in ids else 0
    window = ordered[start:end] if start < end else []
    # Paging backwards keeps the items nearest the `before` cursor.
    page = window[-limit:] if before and not after else window[:limit]
    return {
        "object": "list",
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(window) > len(page),
    }
