"""Content capture: off by default, leaving not one byte of content anywhere; on, in the GenAI
conventions' JSON shapes, each value cut to the configured length."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import closing
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from .support.flows import ASYNC_STREAM_STARTERS, QUESTION, SYNC_STREAM_STARTERS, WEATHER_TOOL, outputs_for
from .support.telemetry import Otel
from .test_streams import skip_missing

SECRET = "zq-secret-7f3a"
REPLY = "zq-reply-91c"
# what the app sends and what the (emulated) model answers, all of which is content
CONTENT_MARKERS = (SECRET, REPLY, "Paris", "print(sum", "Excerpt", "sk-test-key")
MARK = "…[truncated]"
INSTRUCTIONS, INPUT, OUTPUT = "gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages"
ARGUMENTS, RESULT = "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"
CONTENT_KEYS = (INSTRUCTIONS, INPUT, OUTPUT, ARGUMENTS, RESULT)


def drive_everything(client: Any) -> None:
    """Every place content can pass: instructions, messages, tool arguments and outputs, code
    interpreter input and logs, file_search results, streamed and listed replies."""
    runs = client.beta.threads.runs
    assistant = client.beta.assistants.create(
        model="gpt-4o", name="content", instructions=f"Be brief {SECRET}",
        tools=[WEATHER_TOOL])
    thread = client.beta.threads.create(messages=[{"role": "user", "content": f"first {SECRET}"}])
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content=f"second {SECRET}")
    run = runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=1,
        instructions=f"Override {SECRET}", additional_instructions=f"Also {SECRET}",
        additional_messages=[{"role": "user", "content": f"third {SECRET}"}],
        metadata={"scenario": f"tools=1;text={REPLY}"})
    outputs = [dict(o, output=f"{o['output']} {SECRET}") for o in outputs_for(run)]
    runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=thread.id, tool_outputs=outputs, poll_interval_ms=1)
    client.beta.threads.messages.list(thread_id=thread.id)
    for builtin in ("code_interpreter", "file_search"):
        runs.create_and_poll(thread_id=client.beta.threads.create().id, assistant_id=assistant.id,
                             poll_interval_ms=1, metadata={"scenario": f"builtin={builtin}"})
    with runs.stream(thread_id=client.beta.threads.create().id, assistant_id=assistant.id,
                     metadata={"scenario": f"text={REPLY} streamed"}) as stream:
        stream.until_done()
    client.beta.threads.create_and_run_poll(assistant_id=assistant.id, poll_interval_ms=1, thread={
        "messages": [{"role": "user", "content": f"fourth {SECRET}"}]})


def everything_exported(otel: Otel) -> str:
    texts = []
    for span in otel.spans():
        texts.append(span.name)
        texts.extend(f"{k}={v}" for k, v in span.attributes.items())
        for event in span.events:
            texts.append(event.name)
            texts.extend(f"{k}={v}" for k, v in (event.attributes or {}).items())
        texts.append(str(span.status.description))
    data = otel.reader.get_metrics_data()
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                texts.append(metric.name)
                for point in metric.data.data_points:
                    texts.extend(f"{k}={v}" for k, v in (point.attributes or {}).items())
    return "\n".join(texts)


def assert_no_content(otel: Otel) -> None:
    exported = everything_exported(otel)
    assert [marker for marker in CONTENT_MARKERS if marker in exported] == []
    assert [key for key in CONTENT_KEYS if key in exported] == []


def captured(spans: list[ReadableSpan], key: str) -> list[str]:
    """The key's value on each of these spans that has it."""
    return [span.attributes[key] for span in spans if key in span.attributes]


def parsed(spans: list[ReadableSpan], key: str) -> list[Any]:
    return [json.loads(value) for value in captured(spans, key)]


def whole(text: str) -> str:
    return text


# The conventions' JSON shapes, each text as ``shown`` makes it (whole, or cut).

def text_parts(*texts: str, shown: Callable[[str], str] = whole) -> list[dict[str, str]]:
    return [{"type": "text", "content": shown(text)} for text in texts]


def sent(text: str, shown: Callable[[str], str] = whole) -> list[dict[str, Any]]:
    return [{"role": "user", "parts": text_parts(text, shown=shown)}]


def replied(text: str, shown: Callable[[str], str] = whole) -> list[dict[str, Any]]:
    return [{"role": "assistant", "parts": text_parts(text, shown=shown), "finish_reason": "stop"}]


def assert_captured(otel: Otel, shown: Callable[[str], str]) -> None:
    """What drive_everything sent and was answered, each on its own span, every text as ``shown``
    makes it."""

    def parts(*texts: str) -> list[dict[str, str]]:
        return text_parts(*texts, shown=shown)

    assert parsed(otel.spans("create_agent"), INSTRUCTIONS) == [parts(f"Be brief {SECRET}")]
    assert parsed(otel.spans("create_thread"), INPUT) == [sent(f"first {SECRET}", shown)]
    assert parsed(otel.spans("create_message"), INPUT) == [sent(f"second {SECRET}", shown)]

    runs = otel.run_spans()
    # instructions and additional_instructions; additional_messages, then threads.create_and_run(thread=...)
    assert parsed(runs, INSTRUCTIONS) == [parts(f"Override {SECRET}", f"Also {SECRET}")]
    assert parsed(runs, INPUT) == [sent(f"third {SECRET}", shown), sent(f"fourth {SECRET}", shown)]
    assert parsed(runs, OUTPUT) == [replied(f"{REPLY} streamed", shown)]  # from the stream
    assert parsed(otel.spans("list_messages"), OUTPUT) == [replied(REPLY, shown)]

    function = otel.spans("execute_tool get_weather")
    assert captured(function, ARGUMENTS) == [shown(json.dumps({"city": "Paris"}))]
    assert captured(function, RESULT) == [shown(f'{{"temperature": 21}} {SECRET}')]
    code = otel.spans("execute_tool code_interpreter")
    assert captured(code, ARGUMENTS) == [shown("print(sum(range(5)))")]
    assert captured(code, RESULT) == [shown("10\n")]
    search = otel.spans("execute_tool file_search")
    [results] = parsed(search, RESULT)
    assert [r["content"] for r in results] == [shown(f"Excerpt {i} of {r['file_name']}.")
                                               for i, r in enumerate(results, 1)]
    assert [r["score"] for r in results] == [0.92, 0.71]
    assert search[0].attributes["openai.assistants.file_search.result_count"] == 2


def test_capture_off_exports_no_content(otel: Otel, client: Any) -> None:
    drive_everything(client)
    assert len(otel.run_spans()) == 5
    assert_no_content(otel)


def test_capture_on(make_otel: Callable[..., Otel], client: Any) -> None:
    with closing(make_otel(capture_content=True)) as otel:
        drive_everything(client)
    assert_captured(otel, whole)


LIMIT = 2  # shorter than every value drive_everything captures: code interpreter's logs are "10\n"


def cut(text: str) -> str:
    return text[:LIMIT] + MARK


def json_shaped(otel: Otel) -> list[str]:
    """Every captured attribute the instrumentation builds as JSON: message shapes on any span, and
    file_search results (function arguments and outputs are the strings the API carries)."""
    return [value for span in otel.spans() for key, value in span.attributes.items()
            if key in (INSTRUCTIONS, INPUT, OUTPUT) or (key == RESULT and span.name == "execute_tool file_search")]


def texts_in(shape: Any) -> list[str]:
    """Every "content" text in a parsed JSON shape, however deep."""
    if isinstance(shape, list):
        return [text for item in shape for text in texts_in(item)]
    if isinstance(shape, dict):
        return [text for key, value in shape.items()
                for text in ([value] if key == "content" and isinstance(value, str) else texts_in(value))]
    return []


def test_every_value_kind_is_cut_and_marked(make_otel: Callable[..., Otel], client: Any) -> None:
    with closing(make_otel(capture_content=True, max_content_length=LIMIT)) as otel:
        drive_everything(client)
    assert_captured(otel, cut)
    # Every JSON-shaped attribute, wherever it is, still parses: what was cut is the texts inside
    # (9 attributes with 11 texts: 7 instructions and messages sent, 2 replies, 2 file_search results).
    shaped = [json.loads(value) for value in json_shaped(otel)]
    assert len(shaped) == 9
    texts = [text for shape in shaped for text in texts_in(shape)]
    assert len(texts) == 11 and all(len(text) == LIMIT + len(MARK) and text.endswith(MARK) for text in texts)


def test_a_tool_output_that_is_not_a_string_is_cut_inside(make_otel: Callable[..., Otel], client: Any) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[WEATHER_TOOL])
    runs = client.beta.threads.runs
    with closing(make_otel(capture_content=True, max_content_length=LIMIT)) as otel:
        run = runs.create_and_poll(thread_id=client.beta.threads.create().id, assistant_id=assistant.id,
                                   poll_interval_ms=1, metadata={"scenario": "tools=1"})
        output = {"temperature": 21, "sky": ["clear", SECRET], "wind": None}
        runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=run.thread_id, poll_interval_ms=1,
                                          tool_outputs=[dict(o, output=output) for o in outputs_for(run)])
    assert parsed(otel.spans("execute_tool get_weather"), RESULT) == [
        {"temperature": 21, "sky": [cut("clear"), cut(SECRET)], "wind": None}]


def test_capture_from_the_environment(make_otel: Callable[..., Otel], client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    monkeypatch.setenv("OTEL_ASSISTANTS_MAX_CONTENT_LENGTH", "5")
    with closing(make_otel()) as otel:
        client.beta.assistants.create(model="gpt-4o", instructions="abcdefgh")
    assert parsed(otel.spans("create_agent"), INSTRUCTIONS) == [[{"type": "text", "content": "abcde" + MARK}]]


def test_keyword_wins_over_the_environment(make_otel: Callable[..., Otel], client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    with closing(make_otel(capture_content=False)) as otel:
        client.beta.assistants.create(model="gpt-4o", instructions=SECRET)
    assert len(otel.spans("create_agent")) == 1
    assert_no_content(otel)


# ---- every stream surface, sync and async: the reply on the run span, or nothing at all ---------

STREAMED = f"{REPLY} streamed"


def assert_stream_capture(otel: Otel, start: Any, run: Any, capture: bool) -> None:
    assert run.status == "completed"
    span = otel.one_run()
    assert span.attributes["gen_ai.request.stream"] is True
    if capture:
        assert parsed([span], OUTPUT) == [replied(STREAMED)]
        # the create_and_run starters make their thread with QUESTION's messages
        question = [sent(QUESTION["messages"][0]["content"])] if "create_and_run" in start.__name__ else []
        assert parsed([span], INPUT) == question
    else:
        assert_no_content(otel)


@pytest.mark.parametrize("capture", [True, False], ids=["capture_on", "capture_off"])
@pytest.mark.parametrize("start", SYNC_STREAM_STARTERS, ids=lambda f: f.__name__)
def test_sync_stream_capture(make_otel: Callable[..., Otel], start: Any, capture: bool, client: Any) -> None:
    skip_missing(client, start)
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create()
    with closing(make_otel(capture_content=capture)) as otel:
        run = start(client, assistant.id, thread.id, f"text={STREAMED}")
    assert_stream_capture(otel, start, run, capture)


@pytest.mark.parametrize("capture", [True, False], ids=["capture_on", "capture_off"])
@pytest.mark.parametrize("start", ASYNC_STREAM_STARTERS, ids=lambda f: f.__name__)
async def test_async_stream_capture(make_otel: Callable[..., Otel], start: Any, capture: bool, aclient: Any) -> None:
    skip_missing(aclient, start)
    async with aclient:  # closed at the end: its pooled connections would warn when collected
        assistant = await aclient.beta.assistants.create(model="gpt-4o")
        thread = await aclient.beta.threads.create()
        with closing(make_otel(capture_content=capture)) as otel:
            run = await start(aclient, assistant.id, thread.id, f"text={STREAMED}")
    assert_stream_capture(otel, start, run, capture)
