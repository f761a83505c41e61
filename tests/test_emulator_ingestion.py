"""Vector store ingestion in the emulator: how files index, fail and are cancelled, chosen by
filename and by the store's metadata, driven over real HTTP by the real `openai` SDK."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai
import pytest

from otel_assistants.emulator import Emulator
from otel_assistants.emulator.ingestion import (
    INVALID_FILE,
    LAST_ERRORS,
    POLLS_KEY,
    SERVER_ERROR,
    UNSUPPORTED_FILE,
    error_for_filename,
    failing_filename,
    ingest_metadata,
)

GOOD = b"The office opens at 9."
NO_COUNTS = {"in_progress": 0, "completed": 0, "failed": 0, "cancelled": 0, "total": 0}


def stores(client: Any) -> Any:
    # Vector stores left `client.beta` in later SDK releases.
    return client.vector_stores if hasattr(client, "vector_stores") else client.beta.vector_stores


def reads(emulator: Emulator, path_end: str) -> int:
    """The GETs the emulator answered for the object whose path ends so (the SDK's polls)."""
    return sum(1 for record in emulator.requests if record.method == "GET" and record.path.endswith(path_end))


def counts(**given: int) -> dict[str, int]:
    return {**NO_COUNTS, **given, "total": sum(given.values())}


def upload(client: Any, name: str, content: bytes = GOOD) -> Any:
    return client.files.create(file=(name, content), purpose="assistants")


def test_a_good_file_completes_at_the_first_poll(emulator: Emulator, client: Any) -> None:
    store = stores(client).create(name="docs")
    uploaded = upload(client, "notes.txt")
    attached = stores(client).files.create_and_poll(vector_store_id=store.id, file_id=uploaded.id)
    assert (attached.status, attached.last_error, attached.usage_bytes) == ("completed", None, len(GOOD))
    assert reads(emulator, f"/{store.id}/files/{uploaded.id}") == 1
    after = stores(client).retrieve(store.id)
    assert (after.status, after.usage_bytes) == ("completed", len(GOOD))
    assert after.file_counts.model_dump() == counts(completed=1)


@pytest.mark.parametrize(("name", "code"), [
    ("diagram.png", UNSUPPORTED_FILE),
    ("setup.EXE", UNSUPPORTED_FILE),
    ("table.csv", UNSUPPORTED_FILE),
    ("report.corrupt.pdf", INVALID_FILE),
    ("notes.server-error.txt", SERVER_ERROR),
])
def test_a_file_fails_as_its_name_says(emulator: Emulator, client: Any, name: str, code: str) -> None:
    store = stores(client).create(name="docs")
    attached = stores(client).files.upload_and_poll(vector_store_id=store.id, file=(name, GOOD))
    assert attached.status == "failed"
    assert attached.last_error.model_dump() == {"code": code, "message": LAST_ERRORS[code]}
    assert attached.usage_bytes == 0
    assert reads(emulator, f"/{store.id}/files/{attached.id}") == 1
    after = stores(client).retrieve(store.id)
    assert (after.status, after.usage_bytes) == ("completed", 0)
    assert after.file_counts.model_dump() == counts(failed=1)


def test_the_last_error_messages_are_the_live_apis() -> None:
    assert LAST_ERRORS == {
        "unsupported_file": "The file type is not supported.",
        "invalid_file": "The file could not be parsed.",
        "server_error": "An internal error occurred.",
    }


@pytest.mark.parametrize(("name", "code"), [
    ("guide.md", None), ("upload", None), ("deck.pptx", None), ("archive.tar.gz", UNSUPPORTED_FILE),
    ("song.mp3", UNSUPPORTED_FILE), ("photo.JPG", UNSUPPORTED_FILE), ("scan.corrupt.png", UNSUPPORTED_FILE),
    ("dir.corrupt/plain.txt", None), ("a.Server-Error.json", SERVER_ERROR),
])
def test_filename_convention(name: str, code: str | None) -> None:
    # The extension is judged first, as the real service refuses a type before parsing it.
    assert error_for_filename(name) == code


def test_failing_filenames_fail_with_their_code() -> None:
    assert {code: error_for_filename(failing_filename(code, "x")) for code in LAST_ERRORS} == {
        code: code for code in LAST_ERRORS}
    assert failing_filename(INVALID_FILE) == "document.corrupt.pdf"
    with pytest.raises(ValueError, match="no filename fails with 'rate_limit_exceeded'"):
        failing_filename("rate_limit_exceeded")


def test_a_mixed_batch_completes_with_its_failures_counted(emulator: Emulator, client: Any) -> None:
    store = stores(client).create(name="docs")
    files = [("a.txt", GOOD), ("b.md", GOOD), ("c.pdf", GOOD), ("d.png", b"\x89PNG"), ("e.zip", b"PK")]
    batch = stores(client).file_batches.upload_and_poll(vector_store_id=store.id, files=files)
    assert batch.status == "completed"
    assert batch.file_counts.model_dump() == counts(completed=3, failed=2)
    assert reads(emulator, f"/file_batches/{batch.id}") == 1
    failed = stores(client).file_batches.list_files(batch.id, vector_store_id=store.id, filter="failed")
    assert [(f.last_error.code, f.usage_bytes) for f in failed] == [(UNSUPPORTED_FILE, 0)] * 2
    after = stores(client).retrieve(store.id)
    assert (after.status, after.usage_bytes) == ("completed", 3 * len(GOOD))
    assert after.file_counts.model_dump() == counts(completed=3, failed=2)


def test_a_batch_whose_files_all_fail_still_completes(client: Any) -> None:
    store = stores(client).create(name="docs", metadata=ingest_metadata(outcome=INVALID_FILE))
    batch = stores(client).file_batches.upload_and_poll(vector_store_id=store.id, files=[("a.txt", GOOD)] * 2)
    assert (batch.status, batch.file_counts.model_dump()) == ("completed", counts(failed=2))


def test_a_store_chooses_how_many_polls_indexing_takes(emulator: Emulator, client: Any) -> None:
    store = stores(client).create(name="slow", metadata=ingest_metadata(polls=3))
    assert store.metadata == {POLLS_KEY: "3"}
    uploaded = upload(client, "notes.txt")
    created = stores(client).files.create(vector_store_id=store.id, file_id=uploaded.id)
    assert (created.status, created.usage_bytes) == ("in_progress", 0)
    seen = [stores(client).files.retrieve(uploaded.id, vector_store_id=store.id).status for _ in range(4)]
    assert seen == ["in_progress", "in_progress", "completed", "completed"]

    second = upload(client, "more.txt")
    attached = stores(client).files.create_and_poll(vector_store_id=store.id, file_id=second.id)
    assert attached.status == "completed"
    assert reads(emulator, f"/{store.id}/files/{second.id}") == 3


def test_a_store_is_ingesting_while_any_file_is(client: Any) -> None:
    store = stores(client).create(name="slow", metadata=ingest_metadata(polls=2))
    batch = stores(client).file_batches.create(
        vector_store_id=store.id, file_ids=[upload(client, "a.txt").id, upload(client, "b.png").id])
    assert (batch.status, batch.file_counts.model_dump()) == ("in_progress", counts(in_progress=2))
    # A read of the store moves every one of its files on.
    first = stores(client).retrieve(store.id)
    assert (first.status, first.file_counts.model_dump()) == ("in_progress", counts(in_progress=2))
    second = stores(client).retrieve(store.id)
    assert (second.status, second.file_counts.model_dump()) == ("completed", counts(completed=1, failed=1))
    ended = stores(client).file_batches.retrieve(batch.id, vector_store_id=store.id)
    assert (ended.status, ended.file_counts.model_dump()) == ("completed", counts(completed=1, failed=1))


def test_a_batch_polls_as_often_as_its_store_says(emulator: Emulator, client: Any) -> None:
    store = stores(client).create(name="slow", metadata=ingest_metadata(polls=4))
    batch = stores(client).file_batches.create_and_poll(
        vector_store_id=store.id, file_ids=[upload(client, "a.txt").id, upload(client, "b.exe").id])
    assert (batch.status, batch.file_counts.model_dump()) == ("completed", counts(completed=1, failed=1))
    assert reads(emulator, f"/file_batches/{batch.id}") == 4


def test_concurrent_pollers_each_count_their_own_file(emulator: Emulator, client: Any) -> None:
    # The server answers on several threads; a read moves on only the file it shows.
    store = stores(client).create(name="busy", metadata=ingest_metadata(polls=3))
    uploads = [upload(client, f"part{index}.txt") for index in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        attached = list(pool.map(
            lambda file: stores(client).files.create_and_poll(vector_store_id=store.id, file_id=file.id), uploads))
    assert [file.status for file in attached] == ["completed"] * 4
    assert [reads(emulator, f"/{store.id}/files/{file.id}") for file in uploads] == [3] * 4
    assert stores(client).retrieve(store.id).file_counts.model_dump() == counts(completed=4)


def test_no_polls_ends_indexing_in_the_attach_answer(client: Any) -> None:
    store = stores(client).create(name="instant", metadata=ingest_metadata(polls=0))
    attached = stores(client).files.create(vector_store_id=store.id, file_id=upload(client, "a.txt").id)
    assert (attached.status, attached.usage_bytes) == ("completed", len(GOOD))
    batch = stores(client).file_batches.create(vector_store_id=store.id, file_ids=[upload(client, "b.png").id])
    assert (batch.status, batch.file_counts.model_dump()) == ("completed", counts(failed=1))


@pytest.mark.parametrize(("outcome", "name", "status", "code"), [
    ("server_error", "notes.txt", "failed", SERVER_ERROR),
    ("unsupported_file", "notes.md", "failed", UNSUPPORTED_FILE),
    ("completed", "photo.png", "completed", None),
])
def test_a_store_can_force_every_files_outcome(client: Any, outcome: str, name: str, status: str,
                                               code: str | None) -> None:
    store = stores(client).create(name="forced", metadata=ingest_metadata(outcome=outcome))
    attached = stores(client).files.upload_and_poll(vector_store_id=store.id, file=(name, GOOD))
    assert (attached.status, attached.last_error and attached.last_error.code) == (status, code)


@pytest.mark.parametrize("metadata", [{POLLS_KEY: "many"}, {POLLS_KEY: "-1"}, {POLLS_KEY: "1001"},
                                      {"emulator_ingest_outcome": "failed"}])
def test_a_misspelt_ingestion_setting_is_refused(client: Any, metadata: dict[str, str]) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        stores(client).create(name="typo", metadata=metadata)
    assert caught.value.body["param"] == "metadata" and "Invalid value for metadata" in caught.value.body["message"]
    store = stores(client).create(name="fine")
    with pytest.raises(openai.BadRequestError):
        stores(client).update(store.id, metadata=metadata)


def test_ingest_metadata_refuses_what_the_emulator_would() -> None:
    assert ingest_metadata(polls=0, outcome="completed") == {POLLS_KEY: "0", "emulator_ingest_outcome": "completed"}
    with pytest.raises(ValueError, match="expected one of completed, unsupported_file, invalid_file, server_error"):
        ingest_metadata(outcome="failed")


def test_a_settings_change_applies_to_files_attached_later(client: Any) -> None:
    store = stores(client).create(name="docs")
    stores(client).update(store.id, metadata=ingest_metadata(outcome=SERVER_ERROR))
    attached = stores(client).files.upload_and_poll(vector_store_id=store.id, file=("a.txt", GOOD))
    assert attached.last_error.code == SERVER_ERROR


def test_cancelling_a_batch_cancels_its_unfinished_files(emulator: Emulator, client: Any) -> None:
    store = stores(client).create(name="slow", metadata=ingest_metadata(polls=5))
    done = stores(client).files.create(vector_store_id=store.id, file_id=upload(client, "early.txt").id)
    for _ in range(5):
        stores(client).files.retrieve(done.id, vector_store_id=store.id)
    batch = stores(client).file_batches.create(
        vector_store_id=store.id, file_ids=[upload(client, "a.txt").id, upload(client, "b.txt").id])
    assert stores(client).file_batches.retrieve(batch.id, vector_store_id=store.id).status == "in_progress"
    cancelled = stores(client).file_batches.cancel(batch.id, vector_store_id=store.id)
    assert (cancelled.status, cancelled.file_counts.model_dump()) == ("cancelled", counts(cancelled=2))
    # The SDK's poller ends on a cancelled batch.
    polled = stores(client).file_batches.poll(batch.id, vector_store_id=store.id)
    assert (polled.status, polled.file_counts.model_dump()) == ("cancelled", counts(cancelled=2))
    files = stores(client).file_batches.list_files(batch.id, vector_store_id=store.id)
    assert [(f.status, f.usage_bytes, f.last_error) for f in files] == [("cancelled", 0, None)] * 2
    after = stores(client).retrieve(store.id)
    assert (after.status, after.usage_bytes) == ("completed", len(GOOD))
    assert after.file_counts.model_dump() == counts(completed=1, cancelled=2)


def test_cancelling_an_ended_batch_leaves_it_completed(client: Any) -> None:
    store = stores(client).create(name="docs")
    batch = stores(client).file_batches.create_and_poll(vector_store_id=store.id,
                                                        file_ids=[upload(client, "a.txt").id])
    cancelled = stores(client).file_batches.cancel(batch.id, vector_store_id=store.id)
    assert (cancelled.status, cancelled.file_counts.model_dump()) == ("completed", counts(completed=1))


def test_a_file_removed_while_indexing_leaves_the_store(client: Any) -> None:
    store = stores(client).create(name="slow", metadata=ingest_metadata(polls=3))
    attached = stores(client).files.create(vector_store_id=store.id, file_id=upload(client, "a.txt").id)
    stores(client).files.delete(attached.id, vector_store_id=store.id)
    after = stores(client).retrieve(store.id)
    assert (after.status, after.file_counts.model_dump()) == ("completed", NO_COUNTS)


def test_raw_responses_carry_the_poll_hint_and_the_status(emulator: Emulator, client: Any) -> None:
    store = stores(client).create(name="slow", metadata=ingest_metadata(polls=2))
    attached = stores(client).files.create(vector_store_id=store.id, file_id=upload(client, "a.zip").id)
    raw = stores(client).files.with_raw_response.retrieve(attached.id, vector_store_id=store.id)
    assert raw.headers["openai-poll-after-ms"] == str(emulator.poll_after_ms)
    assert raw.parse().status == "in_progress"
    ended = stores(client).files.with_raw_response.retrieve(attached.id, vector_store_id=store.id).parse()
    assert (ended.status, ended.last_error.code) == ("failed", UNSUPPORTED_FILE)


async def test_async_batch_and_file(emulator: Emulator, aclient: openai.AsyncOpenAI) -> None:
    store = await stores(aclient).create(name="docs", metadata=ingest_metadata(polls=2))
    batch = await stores(aclient).file_batches.upload_and_poll(
        vector_store_id=store.id, files=[("a.txt", GOOD), ("b.md", GOOD), ("c.mp3", b"ID3")])
    assert (batch.status, batch.file_counts.model_dump()) == ("completed", counts(completed=2, failed=1))
    assert reads(emulator, f"/file_batches/{batch.id}") == 2
    attached = await stores(aclient).files.upload_and_poll(
        vector_store_id=store.id, file=(failing_filename(INVALID_FILE), GOOD))
    assert (attached.status, attached.last_error.code, attached.usage_bytes) == ("failed", INVALID_FILE, 0)
    assert reads(emulator, f"/{store.id}/files/{attached.id}") == 2
