"""Vector store ingestion: how long each attached file takes to index and how it ends.

Chosen through the public API only, so an unmodified SDK can rehearse it:

- **By file**, from the uploaded filename. An extension outside :data:`SUPPORTED_EXTENSIONS`
  (``.png``, ``.zip``, ``.csv``, ...) ends ``failed`` with ``unsupported_file``; a marker before
  the extension chooses another failure: ``report.corrupt.pdf`` ends ``invalid_file``,
  ``notes.server-error.txt`` ends ``server_error``. A name without an extension is indexed.
- **By store**, from the vector store's ``metadata`` (read when a file is attached):
  ``emulator_ingest_polls`` is the number of reads a file stays ``in_progress`` for, the last of
  them answering its final status (default ``"1"``; ``"0"`` ends it in the attach answer), and
  ``emulator_ingest_outcome`` forces every file's end (``completed`` or one of the codes in
  :data:`LAST_ERRORS`), whatever its name.

A read advances the files it shows: a retrieve of the file, a retrieve of a batch or a list of
its files (that batch's files), a retrieve, list or search of the store or a list of its files
(every file of the store). Each request counts once, under the store's lock.

A batch is ``in_progress`` while any of its files is, then ``completed`` whatever each file's
outcome (``file_counts.failed`` says how many failed, even all of them), as the real API does;
``cancelled`` once cancelled, its unfinished files ``cancelled`` too. A store is ``in_progress``
while any of its files is.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from .errors import ApiError, bad_request
from .store import JsonObject, VectorStoreRecord

POLLS_KEY = "emulator_ingest_polls"
OUTCOME_KEY = "emulator_ingest_outcome"
# The most reads a store may ask for: enough for any rehearsal, never an endless job.
MAX_POLLS = 1000

UNSUPPORTED_FILE = "unsupported_file"
INVALID_FILE = "invalid_file"
SERVER_ERROR = "server_error"
# `last_error` messages as the live API words them.
LAST_ERRORS: dict[str, str] = {
    UNSUPPORTED_FILE: "The file type is not supported.",
    INVALID_FILE: "The file could not be parsed.",
    SERVER_ERROR: "An internal error occurred.",
}
COMPLETED = "completed"
OUTCOMES = (COMPLETED, *LAST_ERRORS)

# Filename markers, the part before the extension: `report.corrupt.pdf`.
CORRUPT_MARKER = "corrupt"
SERVER_ERROR_MARKER = "server-error"
_MARKERS = {CORRUPT_MARKER: INVALID_FILE, SERVER_ERROR_MARKER: SERVER_ERROR}

# The file types the file_search tool indexes (OpenAI's "supported files" list).
SUPPORTED_EXTENSIONS = frozenset({
    ".c", ".cpp", ".cs", ".css", ".doc", ".docx", ".go", ".html", ".java", ".js", ".json", ".md", ".pdf",
    ".php", ".pptx", ".py", ".rb", ".sh", ".tex", ".ts", ".txt",
})

_STEMS = {UNSUPPORTED_FILE: ".png", INVALID_FILE: f".{CORRUPT_MARKER}.pdf", SERVER_ERROR: f".{SERVER_ERROR_MARKER}.txt"}


def failing_filename(code: str, stem: str = "document") -> str:
    """A filename whose file ends `failed` with `code`, e.g. ``document.corrupt.pdf``."""
    if code not in _STEMS:
        raise ValueError(f"no filename fails with {code!r}; one of {sorted(_STEMS)}")
    return stem + _STEMS[code]


def ingest_metadata(*, polls: int | None = None, outcome: str | None = None) -> dict[str, str]:
    """Vector store metadata that sets its ingestion: ``vector_stores.create(metadata=...)``."""
    metadata: dict[str, str] = {}
    if polls is not None:
        metadata[POLLS_KEY] = str(polls)
    if outcome is not None:
        metadata[OUTCOME_KEY] = outcome
    try:
        check_metadata(metadata)
    except ApiError as error:
        raise ValueError(error.message) from None
    return metadata


def last_error(code: str) -> JsonObject:
    return {"code": code, "message": LAST_ERRORS[code]}


def check_metadata(metadata: Any) -> None:
    """Refuse, as HTTP 400, a store whose ingestion keys would be ignored or misread."""
    if not isinstance(metadata, Mapping):
        return
    _polls(metadata)
    _forced(metadata)


def _polls(metadata: Mapping[str, Any]) -> int:
    raw = metadata.get(POLLS_KEY)
    if raw is None:
        return 1
    try:
        polls = int(str(raw).strip())
    except ValueError:
        polls = -1
    if not 0 <= polls <= MAX_POLLS:
        raise bad_request(f"Invalid value for metadata '{POLLS_KEY}': expected an integer from 0 to {MAX_POLLS}, "
                          f"got '{raw}'.", "metadata")
    return polls


def _forced(metadata: Mapping[str, Any]) -> str | None:
    raw = metadata.get(OUTCOME_KEY)
    if raw is None:
        return None
    outcome = str(raw).strip()
    if outcome not in OUTCOMES:
        raise bad_request(f"Invalid value for metadata '{OUTCOME_KEY}': expected one of {', '.join(OUTCOMES)}, "
                          f"got '{raw}'.", "metadata")
    return outcome


def error_for_filename(filename: str) -> str | None:
    """The `last_error.code` a file of this name ends with, or None when it is indexed."""
    path = PurePosixPath(filename.lower())
    if path.suffix and path.suffix not in SUPPORTED_EXTENSIONS:
        return UNSUPPORTED_FILE
    marker = PurePosixPath(path.stem).suffix.lstrip(".")
    return _MARKERS.get(marker)


def _error(filename: str, metadata: Mapping[str, Any]) -> str | None:
    """The code a file ends with: the store's forced outcome, else its name's."""
    forced = _forced(metadata)
    if forced is None:
        return error_for_filename(filename)
    return None if forced == COMPLETED else forced


@dataclass
class Pending:
    """A file still indexing: reads left before it ends, and how it ends."""

    reads_left: int
    error: str | None
    size: int


def start(record: VectorStoreRecord, attached: JsonObject, filename: str, size: int) -> None:
    """Plan the indexing of a freshly attached file (`in_progress`) from its name and the store."""
    metadata = record.store.get("metadata") or {}
    attached.update(status="in_progress", usage_bytes=0, last_error=None)
    record.pending[attached["id"]] = Pending(_polls(metadata), _error(filename, metadata), size)
    advance(record, [attached["id"]], reads=0)


def advance(record: VectorStoreRecord, file_ids: Iterable[str], reads: int = 1) -> None:
    """Count one read of these files; those whose time has come end."""
    for file_id in list(file_ids):
        pending = record.pending.get(file_id)
        if pending is None:
            continue
        pending.reads_left -= reads
        if pending.reads_left <= 0:
            del record.pending[file_id]
            _end(record.files[file_id], pending)


def advance_all(record: VectorStoreRecord) -> None:
    advance(record, list(record.pending))


def _end(attached: JsonObject, pending: Pending) -> None:
    if pending.error is None:
        attached.update(status="completed", usage_bytes=pending.size, last_error=None)
    else:
        attached.update(status="failed", usage_bytes=0, last_error=last_error(pending.error))


def forget(record: VectorStoreRecord, file_id: str) -> None:
    """A file left the store: it indexes no more."""
    record.pending.pop(file_id, None)


def cancel(record: VectorStoreRecord, file_ids: Iterable[str]) -> None:
    """Stop these files' indexing: the unfinished ones end `cancelled`."""
    for file_id in file_ids:
        if record.pending.pop(file_id, None) is not None:
            record.files[file_id].update(status="cancelled", usage_bytes=0, last_error=None)


def counts(record: VectorStoreRecord, file_ids: Iterable[str]) -> JsonObject:
    tally = {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}
    for file_id in file_ids:
        attached = record.files.get(file_id)
        if attached is not None:
            tally[attached["status"]] += 1
            tally["total"] += 1
    return tally


def batch_view(record: VectorStoreRecord, batch: JsonObject, file_ids: list[str]) -> JsonObject:
    """The batch with its file counts and status brought in step with its files."""
    tally = counts(record, file_ids)
    batch["file_counts"] = tally
    if batch["status"] == "in_progress" and not tally["in_progress"]:
        batch["status"] = "completed"
    return batch
