"""Content capture: off by default, leaving not one byte of content anywhere; on, in the GenAI
conventions' JSON shapes, each value cut to the configured length."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .flows import outputs_for
from .harness import Otel

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SECRET = "zq-secret-7f3a"
REPLY = "zq-reply-91c"
# what the app sends and what the (emulated) model answers, all of which is content
CONTENT_MARKERS = (SECRET, REPLY, "Paris", "print(sum", "Excerpt", "sk-test-key")


def drive_everything(client: Any) -> None:
    """Every place content can pass: instructions, messages, tool arguments and outputs, code
    interpreter input and logs, file_search results, streamed and listed replies."""
    runs = client.beta.threads.runs
    assistant = client.beta.assistants.create(
        model="gpt-4o", name="content", instructions=f"Be brief {SECRET}",
        tools=[{"type": "function", "function": {"name": "get_weather"}}])
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


def test_capture_off_exports_no_content(otel: Otel, client: Any) -> None:
    drive_everything(client)
    exported = everything_exported(otel)
    assert len(otel.run_spans()) == 4
    assert [marker for marker in CONTENT_MARKERS if marker in exported] == []
    for key in ("gen_ai.system_instructions", "gen_ai.input.messages", "gen_ai.output.messages",
                "gen_ai.tool.call.arguments", "gen_ai.tool.call.result"):
        assert key not in exported


def test_capture_on(client: Any) -> None:
    otel = Otel(capture_content=True)
    try:
        drive_everything(client)
    finally:
        otel.close()
    agent = otel.spans("create_agent")[0]
    assert json.loads(agent.attributes["gen_ai.system_instructions"]) == [
        {"type": "text", "content": f"Be brief {SECRET}"}]
    thread = otel.spans("create_thread")[0]
    assert json.loads(thread.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": f"first {SECRET}"}]}]
    message = otel.spans("create_message")[0]
    assert json.loads(message.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": f"second {SECRET}"}]}]

    polled = next(s for s in otel.run_spans() if "gen_ai.system_instructions" in s.attributes)
    assert json.loads(polled.attributes["gen_ai.system_instructions"]) == [
        {"type": "text", "content": f"Override {SECRET}"}, {"type": "text", "content": f"Also {SECRET}"}]
    assert json.loads(polled.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": f"third {SECRET}"}]}]

    tool = otel.spans("execute_tool get_weather")[0]
    assert json.loads(tool.attributes["gen_ai.tool.call.arguments"]) == {"city": "Paris"}
    assert tool.attributes["gen_ai.tool.call.result"] == f'{{"temperature": 21}} {SECRET}'

    listing = otel.spans("list_messages")[0]
    replies = json.loads(listing.attributes["gen_ai.output.messages"])
    assert replies == [{"role": "assistant", "parts": [{"type": "text", "content": REPLY}], "finish_reason": "stop"}]

    streamed = next(s for s in otel.run_spans() if s.attributes.get("gen_ai.request.stream"))
    assert json.loads(streamed.attributes["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": f"{REPLY} streamed"}], "finish_reason": "stop"}]

    code = otel.spans("execute_tool code_interpreter")[0]
    assert code.attributes["gen_ai.tool.call.arguments"] == "print(sum(range(5)))"
    assert code.attributes["gen_ai.tool.call.result"] == "10\n"
    search = otel.spans("execute_tool file_search")[0]
    results = json.loads(search.attributes["gen_ai.tool.call.result"])
    assert len(results) == 2 and results[0]["content"].startswith("Excerpt 1 of")
    assert search.attributes["openai.assistants.file_search.result_count"] == 2


def test_values_are_cut_and_marked(client: Any) -> None:
    otel = Otel(capture_content=True, max_content_length=12)
    try:
        assistant = client.beta.assistants.create(model="gpt-4o", instructions="x" * 50)
        client.beta.threads.create(messages=[{"role": "user", "content": "y" * 50}])
    finally:
        otel.close()
    instructions = json.loads(otel.spans("create_agent")[0].attributes["gen_ai.system_instructions"])
    assert instructions == [{"type": "text", "content": "x" * 12 + "…[truncated]"}]
    messages = json.loads(otel.spans("create_thread")[0].attributes["gen_ai.input.messages"])
    assert messages[0]["parts"][0]["content"] == "y" * 12 + "…[truncated]"
    del assistant


def test_capture_from_the_environment(client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    monkeypatch.setenv("OTEL_ASSISTANTS_MAX_CONTENT_LENGTH", "5")
    otel = Otel()
    try:
        client.beta.assistants.create(model="gpt-4o", instructions="abcdefgh")
    finally:
        otel.close()
    assert json.loads(otel.spans("create_agent")[0].attributes["gen_ai.system_instructions"]) == [
        {"type": "text", "content": "abcde…[truncated]"}]


def test_keyword_wins_over_the_environment(client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    otel = Otel(capture_content=False)
    try:
        client.beta.assistants.create(model="gpt-4o", instructions=SECRET)
    finally:
        otel.close()
    assert SECRET not in everything_exported(otel)
