"""What must never leave the process: with content capture off, no prompt, message, instruction,
tool argument or output, API key or header value in any span, event, log record or metric point;
with it on, every captured value cut at the limit, on spans and in log-record events alike; and
metric attributes within the contract's caps however many assistants there are."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

import openai
import pytest
from opentelemetry.version import __version__ as api_version

from otel_assistants.content_sink import events_supported
from otel_assistants.emulator import Emulator, Exchange, Reply

from ..support.flows import TERMINAL, vector_stores
from .support import Watched

API_VERSION = "2024-05-01-preview"
# Distinctive values for everything the app or the server says, and for every credential.
SECRETS = {
    "api key": "sk-zq-apikey-7f31c2",
    "azure api-key": "zq-azure-key-19ab0e",
    "organization": "org-zqorg5521",
    "project": "proj_zqproj6630",
    "default header": "zq-header-value-3c8d",
    "call header": "zq-call-header-9d4f",
}
CONTENT = {
    "instructions": "zq-instr-a1b2",
    "thread message": "zq-msg-c3d4",
    "message": "zq-message-e5f6",
    "run instructions": "zq-runinstr-g7h8",
    "additional instructions": "zq-addinstr-i9j0",
    "additional message": "zq-addmsg-k1l2",
    "tool arguments": "zq-args-m3n4",
    "tool output": "zq-output-o5p6",
    "reply": "zq-reply-q7r8",
    "code": "zq-code-s9t0",
    "code logs": "zq-logs-u1v2",
    "search result": "zq-search-w3x4",
    "file content": "zq-file-y5z6",
    "updated instructions": "zq-update-a7b8",
}
CAPTURED_KEYS = ("gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages",
                 "gen_ai.tool.call.arguments", "gen_ai.tool.call.result")


class ModelSays:
    """Server-side content the emulator does not make up itself: tool arguments, the reply,
    code and its logs, search results, each with ``tail`` appended."""

    def __init__(self, tail: str = "") -> None:
        self.tail = tail

    def __call__(self, exchange: Exchange, data: Any) -> Any:
        return data if exchange.stage == "request" else self._rewrite(data)

    def _rewrite(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self._rewrite(item) for item in value]
        if not isinstance(value, dict):
            return value
        out = {}
        for key, item in value.items():
            if key == "arguments" and isinstance(item, str):
                item = json.dumps({"city": CONTENT["tool arguments"] + self.tail})
            elif key == "value" and isinstance(item, str):  # message text, whole and in deltas
                item = CONTENT["reply"] + self.tail
            elif key == "input" and isinstance(item, str):
                item = CONTENT["code"] + self.tail
            elif key == "logs" and isinstance(item, str):
                item = CONTENT["code logs"] + self.tail
            elif key == "text" and isinstance(item, str):  # a file_search result's text
                item = CONTENT["search result"] + self.tail
            out[key] = self._rewrite(item)
        return out


def everything_exported(otel: Watched) -> str:
    """Every span name, attribute, event, status and link, every log record's name, body and
    attributes, and every metric name and point attribute."""
    texts: list[str] = []
    for span in otel.spans():
        texts += [span.name, str(span.status.description)]
        texts += [f"{key}={value}" for key, value in (span.attributes or {}).items()]
        texts += [str(span.resource.attributes)]
        for event in span.events:
            texts += [event.name] + [f"{key}={value}" for key, value in (event.attributes or {}).items()]
        for link in span.links:
            texts += [f"{key}={value}" for key, value in (link.attributes or {}).items()]
    for record in otel.log_records():
        texts += [str(record.event_name), json.dumps(record.body, default=str)]
        texts += [f"{key}={json.dumps(value, ensure_ascii=False, default=str)}"
                  for key, value in (record.attributes or {}).items()]
    data = otel.reader.get_metrics_data()
    for resource in data.resource_metrics if data else []:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                texts.append(metric.name)
                for point in metric.data.data_points:
                    texts += [f"{key}={value}" for key, value in (point.attributes or {}).items()]
    return "\n".join(texts)



def drive_everything(client: Any, tail: str = "", settle: Any = lambda: None) -> None:
    """Every place content can pass, sent by the app or answered by the server. ``settle`` waits
    for the instrumentation's own step fetch: the app's own listing below asks for no file_search
    text, and steps it describes first are not described again."""
    beta = client.beta
    call = {"extra_headers": {"X-Zq-Call": SECRETS["call header"]}}
    upload = client.files.create(file=("notes.txt", (CONTENT["file content"] + tail).encode()), purpose="assistants")
    store = vector_stores(client).create(name="docs", file_ids=[upload.id])
    assistant = beta.assistants.create(
        model="gpt-4o", name="guarded", instructions=CONTENT["instructions"] + tail,
        tools=[{"type": "function", "function": {"name": "get_weather"}}, {"type": "file_search"}],
        tool_resources={"file_search": {"vector_store_ids": [store.id]}}, **call)
    beta.assistants.update(assistant.id, instructions=CONTENT["updated instructions"] + tail)
    thread = beta.threads.create(messages=[{"role": "user", "content": CONTENT["thread message"] + tail}], **call)
    beta.threads.messages.create(thread_id=thread.id, role="user", content=CONTENT["message"] + tail)
    runs = beta.threads.runs
    run = runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=0,
        instructions=CONTENT["run instructions"] + tail,
        additional_instructions=CONTENT["additional instructions"] + tail,
        additional_messages=[{"role": "user", "content": CONTENT["additional message"] + tail}],
        metadata={"scenario": "tools=1;builtin=file_search"}, **call)
    outputs = [{"tool_call_id": c.id, "output": CONTENT["tool output"] + tail}
               for c in run.required_action.submit_tool_outputs.tool_calls]
    run = runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=thread.id, tool_outputs=outputs,
                                            poll_interval_ms=0)
    assert run.status in TERMINAL
    list(beta.threads.messages.list(thread_id=thread.id))
    settle()
    list(runs.steps.list(run.id, thread_id=thread.id))
    polled = beta.threads.create_and_run_poll(
        assistant_id=assistant.id, poll_interval_ms=0, metadata={"scenario": "builtin=code_interpreter"},
        thread={"messages": [{"role": "user", "content": CONTENT["thread message"] + tail}]})
    assert polled.status == "completed"
    with runs.stream(thread_id=beta.threads.create().id, assistant_id=assistant.id,
                     metadata={"scenario": "tools=1;builtin=code_interpreter"}) as stream:
        stream.until_done()
        waiting = stream.current_run
    assert waiting is not None and waiting.status == "requires_action"
    outputs = [{"tool_call_id": c.id, "output": CONTENT["tool output"] + tail}
               for c in waiting.required_action.submit_tool_outputs.tool_calls]
    with runs.submit_tool_outputs_stream(run_id=waiting.id, thread_id=waiting.thread_id,
                                         tool_outputs=outputs) as stream:
        stream.until_done()
    with pytest.raises(openai.BadRequestError):  # a failed call records its exception, never the request
        runs.create(thread_id=thread.id, assistant_id=assistant.id, instructions=CONTENT["run instructions"] + tail,
                    metadata={"scenario": "http_status=400"})


def openai_client(emu: Emulator) -> openai.OpenAI:
    return openai.OpenAI(base_url=emu.base_url, api_key=SECRETS["api key"], organization=SECRETS["organization"],
                         project=SECRETS["project"], default_headers={"X-Zq-Secret": SECRETS["default header"]},
                         max_retries=0)


def azure_client(emu: Emulator) -> openai.AzureOpenAI:
    return openai.AzureOpenAI(azure_endpoint=emu.url, api_version=API_VERSION, api_key=SECRETS["azure api-key"],
                              default_headers={"X-Zq-Secret": SECRETS["default header"]}, max_retries=0)


@pytest.fixture
def model_says(module_emulator: Emulator) -> Iterator[Emulator]:
    """The emulator, answering with the content markers (and no tail until a test sets one)."""
    module_emulator.mutate = ModelSays()
    try:
        yield module_emulator
    finally:
        module_emulator.mutate = None


@pytest.mark.parametrize("make_client", [openai_client, azure_client], ids=["openai", "azure"])
def test_capture_off_exports_no_content_and_no_credentials(make_watched: Callable[..., Watched], model_says: Emulator,
                                                           make_client: Any) -> None:
    otel = make_watched()
    try:
        drive_everything(make_client(model_says))
    finally:
        otel.close()
    exported = everything_exported(otel)
    assert len(otel.run_spans()) == 4 and otel.spans("execute_tool"), "the scan must have something to scan"
    assert otel.log_records() == [], "capture off: no content event at all"
    leaked = {name: marker for name, marker in {**CONTENT, **SECRETS}.items() if marker in exported}
    assert leaked == {}
    assert [key for key in CAPTURED_KEYS if key in exported] == []


LIMIT = 120  # room for a file_search result list to reach its first excerpt
TAIL = "~" * 500  # far past the limit: if any of it survives, a value was not cut


@pytest.mark.parametrize("mode", [True, pytest.param("event_only", marks=pytest.mark.skipif(
    not events_supported(api_version), reason="this opentelemetry-api cannot carry content events"))])
def test_capture_on_cuts_every_value_at_the_limit(make_watched: Callable[..., Watched], model_says: Emulator,
                                                  mode: Any) -> None:
    model_says.mutate = ModelSays(TAIL)
    otel = make_watched(capture_content=mode, max_content_length=LIMIT)
    try:
        drive_everything(openai_client(model_says), tail=TAIL, settle=otel.settle)
    finally:
        otel.close()
    exported = everything_exported(otel)
    assert "~" * (LIMIT + 1) not in exported, "a captured value was not cut at the limit"
    assert {name: marker for name, marker in SECRETS.items() if marker in exported} == {}
    captured = {name for name, marker in CONTENT.items() if marker in exported}
    # Uploaded file bytes are never content the instrumentation reads; everything else is captured.
    assert captured == set(CONTENT) - {"file content"}
    places = [(span.name, span.attributes) for span in otel.spans()]
    places += [(str(record.event_name), record.attributes or {}) for record in otel.log_records()]
    assert any(key in attributes for _, attributes in places for key in CAPTURED_KEYS)
    for name, attributes in places:
        for key in CAPTURED_KEYS:
            value = attributes.get(key)
            if value is None:
                continue
            for text in texts_in(value):
                assert len(text) <= LIMIT + len("…[truncated]"), (name, key, text)


def texts_in(value: Any) -> list[str]:
    """The text a captured attribute carries: its parts' contents (in JSON on a span, structured in
    an event), or the value itself."""
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
    else:
        parsed = value
    found: list[str] = []

    def walk(item: Any) -> None:
        if isinstance(item, dict):
            for key, child in item.items():
                if key == "content" and isinstance(child, str):
                    found.append(child)
                else:
                    walk(child)
        elif isinstance(item, (list, tuple)):
            for child in item:
                walk(child)

    walk(parsed)
    return found if found or not isinstance(parsed, str) else [parsed]


# ---- metric cardinality ----------------------------------------------------------------------

ASSISTANTS = 10_000
NAME_CAP = 50


class ManyAssistants:
    """A server with 10,000 assistants, each with its own name, that finishes every run at once:
    assistant listings and run creations are answered here with the fields the SDK and the
    instrumentation read, so that each of the 10,000 runs costs one small request."""

    def __init__(self) -> None:
        self.assistants = [{"id": f"asst_card{index:06d}", "object": "assistant", "name": f"agent-{index:05d}",
                            "model": "gpt-4o", "created_at": 1700000000, "tools": []} for index in range(ASSISTANTS)]
        self._index = {a["id"]: position for position, a in enumerate(self.assistants)}
        self.runs = 0

    def __call__(self, exchange: Exchange, data: Any) -> Any:
        if exchange.stage != "request":
            return data
        if exchange.method == "GET" and exchange.path == "/assistants":
            query = parse_qs(exchange.query)
            after = query.get("after", [None])[0]
            start = self._index[after] + 1 if after in self._index else 0
            page = self.assistants[start:start + int(query.get("limit", ["20"])[0])]
            return Reply(200, {"object": "list", "data": page, "first_id": page[0]["id"] if page else None,
                               "last_id": page[-1]["id"] if page else None,
                               "has_more": start + len(page) < len(self.assistants)})
        if exchange.method == "POST" and exchange.path == "/threads/runs":
            self.runs += 1
            now = int(time.time())
            return Reply(200, {
                "id": f"run_card{self.runs:08d}", "object": "thread.run", "created_at": now, "started_at": now,
                "assistant_id": data.get("assistant_id"), "thread_id": f"thread_card{self.runs:08d}",
                "status": "completed", "model": "gpt-4o", "usage": {"prompt_tokens": 1, "completion_tokens": 1},
            })
        return data


def test_agent_name_cardinality_is_capped(make_watched: Callable[..., Watched], module_emulator: Emulator) -> None:
    client = openai.OpenAI(base_url=module_emulator.base_url, api_key=SECRETS["api key"], max_retries=0)
    otel = make_watched(run_steps="off")
    module_emulator.mutate = server = ManyAssistants()
    try:
        assistants = list(client.beta.assistants.list(limit=100))  # how the app learns the names
        for assistant in assistants:
            # Raw responses: the app skips parsing the run, which keeps 10,000 runs quick.
            client.beta.threads.with_raw_response.create_and_run(assistant_id=assistant.id)
    finally:
        module_emulator.mutate = None
        otel.close()
    assert len({a.name for a in assistants}) == server.runs == ASSISTANTS
    runs = otel.run_spans()
    assert len(runs) == ASSISTANTS
    assert len({s.attributes.get("gen_ai.agent.name") for s in runs}) == ASSISTANTS, "spans keep every name"
    for name in ("openai.assistants.runs", "openai.assistants.run.duration", "gen_ai.client.token.usage",
                 "gen_ai.client.operation.duration", "openai.assistants.run.polls",
                 "openai.assistants.run.queue_duration"):
        points = otel.points(name)
        names = {p.attributes.get("gen_ai.agent.name") for p in points} - {None}
        assert len(names - {"_OTHER"}) <= NAME_CAP, name
        assert len(points) <= NAME_CAP + 1 + 10, f"{name}: {len(points)} points"
        for point in points:
            assert not any(str(value).startswith(("asst_", "run_", "thread_")) for value in point.attributes.values())
    counted = {p.attributes.get("gen_ai.agent.name"): p.value for p in otel.points("openai.assistants.runs")}
    assert len(counted) == NAME_CAP + 1
    assert sum(counted.values()) == ASSISTANTS, "no run lost from the counts"
    assert counted["_OTHER"] == ASSISTANTS - NAME_CAP
