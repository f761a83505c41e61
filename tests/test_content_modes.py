"""Where captured content goes: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT / capture_content
take true/false and the GenAI instrumentations' span_only, event_only and span_and_event. The event
form is one ``gen_ai.client.inference.operation.details`` log record per span that has content,
correlated with that span, carrying the content in structured form."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.version import __version__ as api_version

from otel_assistants import content_sink
from otel_assistants.config import ENV_CAPTURE_CONTENT, CaptureMode, Settings

from .support.flows import outputs_for
from .support.processes import clean_environment
from .support.telemetry import Otel
from .test_content import (
    ARGUMENTS,
    CONTENT_KEYS,
    INPUT,
    INSTRUCTIONS,
    LIMIT,
    OUTPUT,
    REPLY,
    RESULT,
    SECRET,
    WEATHER_TOOL,
    assert_captured,
    assert_no_content,
    cut,
    drive_everything,
    replied,
    sent,
    text_parts,
    whole,
)

EVENT = "gen_ai.client.inference.operation.details"
# Releases before 1.37 cannot carry the events: there the modes that ask for them record no event
# (test_without_event_support_event_only_records_nothing). CI runs the latest release.
needs_events = pytest.mark.skipif(not content_sink.events_supported(api_version),
                                  reason=f"opentelemetry-api {api_version} cannot carry content events")
# The spans drive_everything gives content to, by name (three of its five runs have some).
SPANS_WITH_CONTENT = sorted(["create_agent content", "create_thread", "create_message", "execute_tool get_weather",
                             "execute_tool code_interpreter", "execute_tool file_search", "list_messages",
                             "invoke_agent content", "invoke_agent content", "invoke_agent content"])


def plain(value: Any) -> Any:
    """An attribute value as plain JSON data (the SDK stores sequences as tuples)."""
    return json.loads(json.dumps(value))


def events_by_span(otel: Otel) -> dict[int, tuple[ReadableSpan, dict[str, Any]]]:
    """Each content event with the span it belongs to, checking on the way that every log record
    is such an event, emitted as its span ended, in its span's trace, one per span."""
    spans = {span.context.span_id: span for span in otel.spans()}
    found: dict[int, tuple[ReadableSpan, dict[str, Any]]] = {}
    for record in otel.log_records():
        assert record.event_name == EVENT
        span = spans[record.span_id]
        assert record.trace_id == span.context.trace_id
        assert record.timestamp == span.end_time
        assert record.span_id not in found, f"two events for {span.name}"
        found[record.span_id] = (span, {key: plain(value) for key, value in record.attributes.items()})
    return found


def event_values(otel: Otel, name: str, key: str) -> list[Any]:
    """The key's value in the event of each span so named that has it, in span order."""
    events = events_by_span(otel)
    return [events[span.context.span_id][1][key] for span in otel.spans(name)
            if span.context.span_id in events and key in events[span.context.span_id][1]]


def span_has_content(span: ReadableSpan) -> bool:
    return any(key in span.attributes for key in CONTENT_KEYS)


def assert_events(otel: Otel) -> None:
    """What drive_everything sent and was answered, in the events of the spans it belongs to."""
    events = events_by_span(otel)
    assert sorted(span.name for span, _ in events.values()) == SPANS_WITH_CONTENT

    # Besides its content, an event repeats its span's gen_ai.*, error.type and server.* attributes.
    for span, attributes in events.values():
        about = {key: plain(value) for key, value in span.attributes.items()
                 if (key.startswith("gen_ai.") or key in ("error.type", "server.address", "server.port"))
                 and key not in CONTENT_KEYS}
        assert {key: value for key, value in attributes.items() if key not in CONTENT_KEYS} == about

    assert event_values(otel, "create_agent", INSTRUCTIONS) == [text_parts(f"Be brief {SECRET}")]
    assert event_values(otel, "create_thread", INPUT) == [sent(f"first {SECRET}")]
    assert event_values(otel, "create_message", INPUT) == [sent(f"second {SECRET}")]
    assert event_values(otel, "invoke_agent", INSTRUCTIONS) == [text_parts(f"Override {SECRET}", f"Also {SECRET}")]
    assert event_values(otel, "invoke_agent", INPUT) == [sent(f"third {SECRET}"), sent(f"fourth {SECRET}")]
    assert event_values(otel, "invoke_agent", OUTPUT) == [replied(f"{REPLY} streamed")]
    assert event_values(otel, "list_messages", OUTPUT) == [replied(REPLY)]

    # Tool arguments and results: an object when the text is a JSON object or array, else the text.
    [weather] = otel.spans("execute_tool get_weather")
    assert events[weather.context.span_id][1] == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.call.id": weather.attributes["gen_ai.tool.call.id"],
        "gen_ai.tool.name": "get_weather",
        "gen_ai.tool.type": "function",
        ARGUMENTS: {"city": "Paris"},
        RESULT: f'{{"temperature": 21}} {SECRET}',
    }
    assert event_values(otel, "execute_tool code_interpreter", ARGUMENTS) == ["print(sum(range(5)))"]
    assert event_values(otel, "execute_tool code_interpreter", RESULT) == ["10\n"]  # text, not the number 10
    [results] = event_values(otel, "execute_tool file_search", RESULT)
    assert results == [{"file_id": "file-emulated1", "file_name": "emulated-1.txt", "score": 0.92,
                        "content": "Excerpt 1 of emulated-1.txt."},
                       {"file_id": "file-emulated2", "file_name": "emulated-2.txt", "score": 0.71,
                        "content": "Excerpt 2 of emulated-2.txt."}]

    # A run's event: what the run span says of the run, and its content.
    [first] = [span for span in otel.run_spans() if INSTRUCTIONS in events.get(span.context.span_id, (0, {}))[1]]
    assert set(events[first.context.span_id][1]) == {
        "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.agent.id", "gen_ai.agent.name",
        "gen_ai.conversation.id", "gen_ai.response.model", "gen_ai.usage.input_tokens", "gen_ai.usage.output_tokens",
        "server.address", "server.port", INSTRUCTIONS, INPUT}
    assert events[first.context.span_id][1]["gen_ai.operation.name"] == "invoke_agent"


MODES = {
    False: ("nowhere", CaptureMode.OFF),
    True: ("spans", CaptureMode.SPAN_ONLY),
    "span_only": ("spans", CaptureMode.SPAN_ONLY),
    "event_only": ("events", CaptureMode.EVENT_ONLY),
    "span_and_event": ("both", CaptureMode.SPAN_AND_EVENT),
}


@pytest.mark.parametrize("mode", list(MODES), ids=[str(mode) for mode in MODES])
def test_each_mode_puts_the_content_where_it_says(make_otel: Callable[..., Otel], mode: Any, client: Any) -> None:
    with closing(make_otel(capture_content=mode)) as otel:
        drive_everything(client)
    where, resolved = MODES[mode]
    assert otel.instrumentor.settings is not None and otel.instrumentor.settings.capture_content is resolved
    assert len(otel.run_spans()) == 5
    if where in ("spans", "both"):
        assert_captured(otel, whole)
    else:  # not one byte of content on any span, event or metric point
        assert_no_content(otel)
    if where in ("events", "both") and content_sink.events_supported(api_version):
        assert_events(otel)
    else:
        assert otel.log_records() == []


@needs_events
def test_events_carry_what_the_spans_carry_cut_the_same_way(make_otel: Callable[..., Otel], client: Any) -> None:
    with closing(make_otel(capture_content="span_and_event", max_content_length=LIMIT)) as otel:
        drive_everything(client)
    assert_captured(otel, cut)
    events = events_by_span(otel)
    with_content = [span for span in otel.spans() if span_has_content(span)]
    assert sorted(span.name for span in with_content) == SPANS_WITH_CONTENT
    for span in with_content:
        content = {key: value for key, value in events[span.context.span_id][1].items() if key in CONTENT_KEYS}
        # Message shapes and file_search results are JSON on the span and structured in the event;
        # every other value was cut as one text, no longer JSON, and stays that text.
        shaped = (INSTRUCTIONS, INPUT, OUTPUT, RESULT) if span.name == "execute_tool file_search" else (
            INSTRUCTIONS, INPUT, OUTPUT)
        assert content == {key: json.loads(value) if key in shaped else value
                           for key, value in span.attributes.items() if key in CONTENT_KEYS}, span.name


@needs_events
def test_event_only_from_the_environment(make_otel: Callable[..., Otel], client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv(ENV_CAPTURE_CONTENT, "Event_Only")
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[WEATHER_TOOL])
    runs = client.beta.threads.runs
    with closing(make_otel()) as otel:
        run = runs.create_and_poll(thread_id=client.beta.threads.create().id, assistant_id=assistant.id,
                                   poll_interval_ms=1, additional_instructions=SECRET,
                                   metadata={"scenario": "tools=1"})
        runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=run.thread_id, poll_interval_ms=1,
                                          tool_outputs=outputs_for(run))
    assert not any(span_has_content(span) for span in otel.spans())
    events = events_by_span(otel)
    assert sorted(span.name for span, _ in events.values()) == ["execute_tool get_weather", "invoke_agent"]
    [tool] = otel.spans("execute_tool get_weather")
    assert events[tool.context.span_id][1][ARGUMENTS] == {"city": "Paris"}
    assert events[tool.context.span_id][1][RESULT] == {"temperature": 21}  # the emulator's JSON output
    [run_span] = otel.run_spans()
    assert events[run_span.context.span_id][1][INSTRUCTIONS] == text_parts(SECRET)


@needs_events
def test_keyword_wins_over_the_environment_for_modes(make_otel: Callable[..., Otel], client: Any,
                                                     monkeypatch: Any) -> None:
    monkeypatch.setenv(ENV_CAPTURE_CONTENT, "span_and_event")
    with closing(make_otel(capture_content="event_only")) as otel:
        client.beta.assistants.create(model="gpt-4o", instructions=SECRET)
    [span] = otel.spans("create_agent")
    assert not span_has_content(span)
    assert event_values(otel, "create_agent", INSTRUCTIONS) == [text_parts(SECRET)]


@pytest.mark.parametrize("old", ["1.27.0", "1.36.2"])
def test_without_event_support_event_only_records_nothing(make_otel: Callable[..., Otel], old: str, client: Any,
                                                          monkeypatch: Any,
                                                          caplog: Any) -> None:
    """On an opentelemetry-api that cannot carry the events, event_only finds no place for content:
    none is read, none recorded, and only a debug line says so."""
    monkeypatch.setattr(content_sink, "api_version", old)
    with (caplog.at_level(logging.DEBUG, logger="otel_assistants"),
          closing(make_otel(capture_content="event_only")) as otel):
        assert otel.instrumentor.tracker is not None and not otel.instrumentor.tracker.capture.enabled
        drive_everything(client)
    assert_no_content(otel)
    assert otel.log_records() == []
    said = [r for r in caplog.records if r.name == "otel_assistants.content_sink"]
    assert [(r.levelno, r.getMessage()) for r in said] == [
        (logging.DEBUG, f"otel_assistants: opentelemetry-api {old} cannot emit events; content events are off")]


def test_which_releases_carry_events() -> None:
    assert [content_sink.events_supported(v) for v in ("1.27.0", "1.36.2", "1.37.0", "1.45.2", "2.0.0", "dev")] == [
        False, False, True, True, True, False]


def test_unsampled_spans_get_no_event(make_otel: Callable[..., Otel], client: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")  # read by the harness's TracerProvider
    with closing(make_otel(capture_content="span_and_event")) as otel:
        client.beta.assistants.create(model="gpt-4o", instructions=SECRET)
        client.beta.threads.create_and_run_poll(assistant_id=client.beta.assistants.create(model="gpt-4o").id,
                                                poll_interval_ms=1, thread={"messages": [
                                                    {"role": "user", "content": SECRET}]})
    assert otel.spans() == []
    assert otel.log_records() == []


# ---- the setting's spellings -------------------------------------------------------------------

SPELLINGS = [
    (True, CaptureMode.SPAN_ONLY), (False, CaptureMode.OFF),
    ("true", CaptureMode.SPAN_ONLY), ("TRUE", CaptureMode.SPAN_ONLY), ("1", CaptureMode.SPAN_ONLY),
    ("yes", CaptureMode.SPAN_ONLY), ("on", CaptureMode.SPAN_ONLY),
    ("false", CaptureMode.OFF), ("False", CaptureMode.OFF), ("0", CaptureMode.OFF), ("no", CaptureMode.OFF),
    ("off", CaptureMode.OFF),
    ("span_only", CaptureMode.SPAN_ONLY), ("SPAN_ONLY", CaptureMode.SPAN_ONLY),
    (" event_only ", CaptureMode.EVENT_ONLY), ("EVENT_ONLY", CaptureMode.EVENT_ONLY),
    ("span_and_event", CaptureMode.SPAN_AND_EVENT), ("Span_And_Event", CaptureMode.SPAN_AND_EVENT),
    (CaptureMode.EVENT_ONLY, CaptureMode.EVENT_ONLY),
]


@pytest.mark.parametrize(("value", "mode"), SPELLINGS, ids=[repr(value) for value, _ in SPELLINGS])
def test_every_spelling_of_the_setting(value: Any, mode: CaptureMode, monkeypatch: Any) -> None:
    assert Settings.resolve(capture_content=value).capture_content is mode
    if not isinstance(value, (bool, CaptureMode)):
        monkeypatch.setenv(ENV_CAPTURE_CONTENT, value)
        assert Settings.resolve().capture_content is mode
    assert bool(mode) is (mode is not CaptureMode.OFF)


def test_content_stays_off_by_default(monkeypatch: Any) -> None:
    monkeypatch.delenv(ENV_CAPTURE_CONTENT, raising=False)
    assert Settings.resolve().capture_content is CaptureMode.OFF


@pytest.mark.parametrize("source", ["environment", "keyword"])
@pytest.mark.parametrize("value", ["spanonly", "events", "span-and-event", "2"])
def test_an_invalid_value_warns_and_captures_nothing(make_otel: Callable[..., Otel], value: str, source: str,
                                                     client: Any, monkeypatch: Any,
                                                     caplog: Any) -> None:
    settings: dict[str, Any] = {}
    if source == "environment":
        monkeypatch.setenv(ENV_CAPTURE_CONTENT, value)
    else:
        settings["capture_content"] = value
    with caplog.at_level(logging.WARNING, logger="otel_assistants"), closing(make_otel(**settings)) as otel:
        drive_everything(client)
    named = ENV_CAPTURE_CONTENT if source == "environment" else "capture_content"
    warnings = [r.getMessage() for r in caplog.records if r.name == "otel_assistants.config"]
    assert len(warnings) == 1 and named in warnings[0] and repr(value) in warnings[0]
    assert otel.instrumentor.settings is not None and otel.instrumentor.settings.capture_content is CaptureMode.OFF
    assert_no_content(otel)
    assert otel.log_records() == []


# ---- the global logger provider, set up by opentelemetry-instrument ------------------------------

def json_objects(text: str) -> list[dict[str, Any]]:
    """The top-level JSON objects the console exporters printed (each opens and closes on a line of its own)."""
    found, lines = [], []
    for line in text.splitlines():
        if line == "{" or lines:
            lines.append(line)
        if line == "}" and lines:
            found.append(json.loads("\n".join(lines)))
            lines = []
    return found


@needs_events
def test_opentelemetry_instrument_emits_events_through_the_global_logger_provider(emulator: Any,
                                                                                    tmp_path: Path) -> None:
    script = tmp_path / "app.py"
    script.write_text(textwrap.dedent(f"""
        import openai
        client = openai.OpenAI(base_url={emulator.base_url!r}, api_key="sk-test")
        assistant = client.beta.assistants.create(model="gpt-4o", name="auto")
        run = client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id, poll_interval_ms=1,
            thread={{"messages": [{{"role": "user", "content": {SECRET!r}}}]}})
        open({str(tmp_path / "status")!r}, "w").write(run.status)
    """))
    env = clean_environment(dict(OTEL_TRACES_EXPORTER="console", OTEL_METRICS_EXPORTER="none",
                                 OTEL_LOGS_EXPORTER="console", OTEL_SERVICE_NAME="auto-app", PYTHONWARNINGS="ignore",
                                 **{ENV_CAPTURE_CONTENT: "event_only"}))
    bin_dir = Path(sys.executable).parent
    result = subprocess.run([str(bin_dir / "opentelemetry-instrument"), sys.executable, str(script)],
                            capture_output=True, text=True, env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    # The run's status goes to a file: a print() is several writes, which the exporters' threads
    # could split on stdout.
    assert (tmp_path / "status").read_text() == "completed"
    printed = json_objects(result.stdout)
    [run] = [o for o in printed if o.get("name") == "invoke_agent auto"]
    assert not any(key in run["attributes"] for key in CONTENT_KEYS)
    [event] = [o for o in printed if o.get("event_name") == EVENT]
    assert (event["trace_id"], event["span_id"]) == (run["context"]["trace_id"], run["context"]["span_id"])
    assert event["attributes"][INPUT] == sent(SECRET)
    assert event["attributes"]["gen_ai.operation.name"] == "invoke_agent"
