"""The emulator's fault-injection hook (``Emulator.mutate``), which every other test here relies on:
each stage and each kind of answer, seen on the wire."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from otel_assistants.emulator import DROP, SKIP, Emulator, Exchange, Frames, Raw, Reply, Sse

from .mutations import Fault, Plan, Rename, SetKey, Truncate
from .support import uninstrumented


@pytest.fixture
def server(module_emulator: Emulator) -> Iterator[Emulator]:
    yield module_emulator
    module_emulator.mutate = None


def call(emu: Emulator, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection: (status, headers, body); raises when nothing comes back."""
    connection = http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    try:
        payload = None if body is None else json.dumps(body).encode()
        connection.request(method, f"/v1{path}", body=payload, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def assistant_id(emu: Emulator) -> str:
    return json.loads(call(emu, "POST", "/assistants", {"model": "gpt-4o"})[2])["id"]


def test_request_stage_answers_instead_of_the_api(server: Emulator) -> None:
    seen: list[Exchange] = []

    def refuse(exchange: Exchange, data: Any) -> Any:
        seen.append(exchange)
        if exchange.stage != "request":
            return data
        return Reply(503, {"error": {"message": "busy"}}, headers={"x-test": "1"})

    server.mutate = refuse
    status, headers, body = call(server, "POST", "/threads?x=1", {"metadata": {"a": "b"}})
    assert (status, headers["x-test"], json.loads(body)) == (503, "1", {"error": {"message": "busy"}})
    assert "retry-after-ms" in headers  # the emulator's own headers still go out
    assert [(e.stage, e.method, e.path, e.query) for e in seen] == [("request", "POST", "/threads", "x=1")]
    assert server.requests[-1].status == 503
    server.mutate = None
    assert json.loads(call(server, "GET", "/threads")[2])["error"]["message"].startswith("Invalid URL")


def test_request_stage_drop_closes_without_an_answer(server: Emulator) -> None:
    server.mutate = lambda exchange, data: DROP if exchange.stage == "request" else data
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        call(server, "POST", "/threads", {})
    assert server.requests[-1].status == 0


def test_response_stage_rewrites_json_bodies(server: Emulator) -> None:
    def rewrite(exchange: Exchange, data: Any) -> Any:
        if exchange.stage != "response":
            return data
        assert exchange.status == 200 and isinstance(data, dict)
        return {**data, "status": "weird", "extra": [1, 2]}

    server.mutate = rewrite
    body = json.loads(call(server, "POST", "/threads", {})[2])
    assert body["status"] == "weird" and body["extra"] == [1, 2] and body["object"] == "thread"


@pytest.mark.parametrize(("answer", "status", "content_type", "body"), [
    (Raw(b"<html>oops"), 200, "application/json", b"<html>oops"),
    (Reply(502, b"bad gateway", content_type="text/plain"), 502, "text/plain", b"bad gateway"),
    (Reply(201, [1, None]), 201, "application/json", b"[1, null]"),
])
def test_response_stage_raw_and_reply(server: Emulator, answer: Any, status: int, content_type: str,
                                      body: bytes) -> None:
    server.mutate = lambda exchange, data: answer if exchange.stage == "response" else data
    got_status, headers, got_body = call(server, "POST", "/threads", {})
    assert (got_status, headers["content-type"], got_body) == (status, content_type, body)


def test_a_failing_hook_answers_500(server: Emulator, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(exchange: Exchange, data: Any) -> Any:
        if exchange.stage == "response":
            return {"unencodable": object()}
        return data

    server.mutate = broken
    status, _, body = call(server, "POST", "/threads", {})
    assert status == 500 and b"mutate hook failed" in body
    assert "TypeError" in capsys.readouterr().err


def stream_body(emu: Emulator, scenario: str = "deltas=1") -> bytes:
    """The raw body of a streamed run; raises IncompleteRead when the stream is cut."""
    assistant = assistant_id(emu)
    connection = http.client.HTTPConnection(emu.host, emu.port, timeout=10)
    try:
        body = {"assistant_id": assistant, "stream": True, "metadata": {"scenario": scenario}}
        connection.request("POST", "/v1/threads/runs", body=json.dumps(body).encode(),
                           headers={"Content-Type": "application/json"})
        return connection.getresponse().read()
    finally:
        connection.close()


def frames(body: bytes) -> list[tuple[str, str]]:
    """(event, data) of each server-sent event; several data lines join with a newline."""
    found = []
    for block in body.decode().split("\n\n"):
        lines = [line for line in block.split("\n") if line]
        if not lines:
            continue
        name = next((line[7:] for line in lines if line.startswith("event: ")), "")
        found.append((name, "\n".join(line[6:] for line in lines if line.startswith("data: "))))
    return found


def test_event_stage_renames_skips_repeats_and_rewrites(server: Emulator) -> None:
    def edit(exchange: Exchange, data: Any) -> Any:
        if exchange.stage != "event":
            return data
        if exchange.event == "thread.run.queued":
            return SKIP
        if exchange.event == "thread.run.in_progress":
            return Frames(Sse("thread.run.paused", data), Sse("thread.run.paused", "not json\nsecond line"))
        if exchange.event == "thread.message.delta":
            return {"replaced": exchange.index}
        return data

    server.mutate = edit
    events = frames(stream_body(server))
    names = [name for name, _ in events]
    assert "thread.run.queued" not in names and "thread.run.in_progress" not in names
    assert names.count("thread.run.paused") == 2
    assert ("thread.run.paused", "not json\nsecond line") in events
    delta = next(data for name, data in events if name == "thread.message.delta")
    assert json.loads(delta) == {"replaced": names.index("thread.message.delta")}  # the index counts skipped events
    assert names[-2:] == ["thread.run.completed", "done"]


def test_event_stage_raw_bytes_and_drop(server: Emulator) -> None:
    def cut(exchange: Exchange, data: Any) -> Any:
        if exchange.stage == "event" and exchange.event == "thread.run.in_progress":
            return Frames(Raw(b""), Raw(b"event: odd\ndata: {broken\n\n"), Raw(b"event: thread.run.co"), DROP)
        return data

    server.mutate = cut
    with pytest.raises(http.client.IncompleteRead) as cut_short:
        stream_body(server)
    events = frames(cut_short.value.partial)
    assert ("odd", "{broken") in events
    assert events[-1] == ("thread.run.co", "")  # the broken frame is the last thing sent
    assert "thread.run.completed" not in [name for name, _ in events]


def test_one_plan_serves_the_same_answers_twice(server: Emulator) -> None:
    """The premise of the fuzz tests: two hooks made from one plan break a flow identically."""
    client = openai.OpenAI(base_url=server.base_url, api_key="sk-hook", max_retries=0)
    assistant = client.beta.assistants.create(model="gpt-4o").id
    plan = Plan(faults=(Fault("response", 0, SetKey("status", "paused")), Fault("event", 2, Rename("thread.run.x")),
                        Fault("event", 5, Truncate(0.5))))

    def flow() -> Any:
        run = client.beta.threads.create_and_run(assistant_id=assistant, metadata={"scenario": "polls=2"})
        with client.beta.threads.create_and_run(assistant_id=assistant, stream=True) as stream:
            events = [(event.event, event.data) for event in stream]
        return run, events

    shapes: list[str] = []
    for _ in range(2):
        server.mutate = plan.mutator()
        shapes.append(uninstrumented(flow).shape())
    assert shapes[0] == shapes[1]
    assert shapes[0].startswith("raised ")  # the stream was cut inside its 6th event
    server.mutate = Plan(faults=(Fault("response", 0, SetKey("status", "paused")),)).mutator()
    assert '"status": "paused"' in uninstrumented(lambda: client.beta.threads.create_and_run(
        assistant_id=assistant)).shape()
