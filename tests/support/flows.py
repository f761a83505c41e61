"""The ways an app drives a run, each written once for the sync and once for the async client."""

from __future__ import annotations

import json
from typing import Any

from otel_assistants.attributes import TERMINAL_STATUSES as TERMINAL

QUESTION = {"messages": [{"role": "user", "content": "What is the weather in Paris?"}]}
WEATHER_TOOL = {"type": "function", "function": {"name": "get_weather"}}
# With parameters: what the reliability tests' assistants declare.
WEATHER = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}


def outputs_for(run: Any, output: str = json.dumps({"temperature": 21})) -> list[dict[str, str]]:
    """An output for each tool call a run in requires_action asks for."""
    calls = run.required_action.submit_tool_outputs.tool_calls
    return [{"tool_call_id": c.id, "output": output} for c in calls]


# ---- sync -------------------------------------------------------------------------------------

def manual_polling(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    runs = client.beta.threads.runs
    run = runs.create(thread_id=thread_id, assistant_id=assistant_id, metadata={"scenario": scenario})
    while run.status not in TERMINAL:
        if run.status == "requires_action":
            run = runs.submit_tool_outputs(run.id, thread_id=thread_id, tool_outputs=outputs_for(run))
        else:
            run = runs.retrieve(run.id, thread_id=thread_id)
    return run


def create_and_poll(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    runs = client.beta.threads.runs
    run = runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id, metadata={"scenario": scenario},
                               poll_interval_ms=1)
    while run.status == "requires_action":
        run = runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=thread_id, tool_outputs=outputs_for(run),
                                                poll_interval_ms=1)
    return run


def create_and_run_poll(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    del thread_id  # this helper makes its own thread
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant_id, metadata={"scenario": scenario}, poll_interval_ms=1,
        thread=QUESTION,
    )
    while run.status == "requires_action":
        run = client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run), poll_interval_ms=1)
    return run


def raw_response(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    runs = client.beta.threads.runs
    raw = runs.with_raw_response.create(thread_id=thread_id, assistant_id=assistant_id,
                                        metadata={"scenario": scenario})
    run = raw.parse()
    while run.status not in TERMINAL:
        if run.status == "requires_action":
            run = runs.with_raw_response.submit_tool_outputs(
                run.id, thread_id=thread_id, tool_outputs=outputs_for(run)).parse()
        else:
            run = runs.with_raw_response.retrieve(run.id, thread_id=thread_id).parse()
    return run


SYNC_FLOWS = [manual_polling, create_and_poll, create_and_run_poll, raw_response]


# ---- async ------------------------------------------------------------------------------------

async def async_manual_polling(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    runs = client.beta.threads.runs
    run = await runs.create(thread_id=thread_id, assistant_id=assistant_id, metadata={"scenario": scenario})
    while run.status not in TERMINAL:
        if run.status == "requires_action":
            run = await runs.submit_tool_outputs(run.id, thread_id=thread_id, tool_outputs=outputs_for(run))
        else:
            run = await runs.retrieve(run.id, thread_id=thread_id)
    return run


async def async_create_and_poll(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    runs = client.beta.threads.runs
    run = await runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id,
                                     metadata={"scenario": scenario}, poll_interval_ms=1)
    while run.status == "requires_action":
        run = await runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=thread_id,
                                                      tool_outputs=outputs_for(run), poll_interval_ms=1)
    return run


async def async_create_and_run_poll(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    del thread_id
    run = await client.beta.threads.create_and_run_poll(
        assistant_id=assistant_id, metadata={"scenario": scenario}, poll_interval_ms=1,
        thread=QUESTION,
    )
    while run.status == "requires_action":
        run = await client.beta.threads.runs.submit_tool_outputs_and_poll(
            run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run), poll_interval_ms=1)
    return run


async def async_raw_response(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    runs = client.beta.threads.runs
    raw = await runs.with_raw_response.create(thread_id=thread_id, assistant_id=assistant_id,
                                              metadata={"scenario": scenario})
    run = raw.parse()
    while run.status not in TERMINAL:
        if run.status == "requires_action":
            raw = await runs.with_raw_response.submit_tool_outputs(
                run.id, thread_id=thread_id, tool_outputs=outputs_for(run))
        else:
            raw = await runs.with_raw_response.retrieve(run.id, thread_id=thread_id)
        run = raw.parse()
    return run


ASYNC_FLOWS = [async_manual_polling, async_create_and_poll, async_create_and_run_poll, async_raw_response]


# ---- streams ----------------------------------------------------------------------------------
# A starter creates a run through one stream surface and returns the last Run it saw; a submitter
# answers a requires_action through one and returns the last Run of that stream. None: no run seen.


def last_run(events: list[Any]) -> Any:
    """The last Run carried by a stream's events (run step events carry steps, not runs)."""
    runs = [e.data for e in events if e.event.startswith("thread.run.") and not e.event.startswith("thread.run.step.")]
    return runs[-1] if runs else None


def stream_until_done(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    with client.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id,
                                         metadata={"scenario": scenario}) as stream:
        stream.until_done()
        return stream.current_run


def stream_iterated(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    with client.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id,
                                         metadata={"scenario": scenario}) as stream:
        return last_run(list(stream))


def stream_with_handler(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    from openai.lib.streaming import AssistantEventHandler

    class Handler(AssistantEventHandler):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        def on_event(self, event: Any) -> None:
            self.seen.append(event.event)

    handler = Handler()
    with client.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id,
                                         metadata={"scenario": scenario}, event_handler=handler) as stream:
        assert stream is handler
        stream.until_done()
    assert handler.seen and handler.seen[0] == "thread.run.created"
    return handler.get_final_run()


def create_and_stream(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    with client.beta.threads.runs.create_and_stream(thread_id=thread_id, assistant_id=assistant_id,
                                                    metadata={"scenario": scenario}) as stream:
        stream.until_done()
        return stream.get_final_run()


def create_stream_true(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    stream = client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant_id,
                                             metadata={"scenario": scenario}, stream=True)
    return last_run([event for event in stream])  # no `with`: the stream ends at its last event


def create_stream_true_with(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    with client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant_id,
                                         metadata={"scenario": scenario}, stream=True) as stream:
        return last_run(list(stream))


def create_and_run_stream(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    del thread_id  # these make their own thread
    with client.beta.threads.create_and_run_stream(assistant_id=assistant_id, metadata={"scenario": scenario},
                                                   thread=QUESTION) as stream:
        stream.until_done()
        return stream.get_final_run()


def create_and_run_stream_true(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    del thread_id
    return last_run(list(client.beta.threads.create_and_run(assistant_id=assistant_id, stream=True,
                                                            metadata={"scenario": scenario}, thread=QUESTION)))


def streaming_response(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    with client.beta.threads.runs.with_streaming_response.create(
            thread_id=thread_id, assistant_id=assistant_id, metadata={"scenario": scenario}, stream=True) as response:
        return last_run(list(response.parse()))


def raw_response_stream(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    raw = client.beta.threads.runs.with_raw_response.create(thread_id=thread_id, assistant_id=assistant_id,
                                                            metadata={"scenario": scenario}, stream=True)
    return last_run(list(raw.parse()))


SYNC_STREAM_STARTERS = [stream_until_done, stream_iterated, stream_with_handler, create_and_stream,
                        create_stream_true, create_stream_true_with, create_and_run_stream,
                        create_and_run_stream_true, streaming_response, raw_response_stream]


def submit_stream(client: Any, run: Any) -> Any:
    with client.beta.threads.runs.submit_tool_outputs_stream(run_id=run.id, thread_id=run.thread_id,
                                                             tool_outputs=outputs_for(run)) as stream:
        stream.until_done()
        return stream.get_final_run()


def submit_stream_true(client: Any, run: Any) -> Any:
    return last_run(list(client.beta.threads.runs.submit_tool_outputs(
        run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run), stream=True)))


def submit_raw_response_stream(client: Any, run: Any) -> Any:
    raw = client.beta.threads.runs.with_raw_response.submit_tool_outputs(
        run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run), stream=True)
    return last_run(list(raw.parse()))


def submit_streaming_response(client: Any, run: Any) -> Any:
    with client.beta.threads.runs.with_streaming_response.submit_tool_outputs(
            run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run), stream=True) as response:
        return last_run(list(response.parse()))


SYNC_STREAM_SUBMITTERS = [submit_stream, submit_stream_true, submit_raw_response_stream, submit_streaming_response]



async def async_stream_until_done(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    async with client.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id,
                                               metadata={"scenario": scenario}) as stream:
        await stream.until_done()
        return stream.current_run


async def async_stream_iterated(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    async with client.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id,
                                               metadata={"scenario": scenario}) as stream:
        return last_run([event async for event in stream])


async def async_stream_with_handler(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    from openai.lib.streaming import AsyncAssistantEventHandler

    class Handler(AsyncAssistantEventHandler):
        def __init__(self) -> None:
            super().__init__()
            self.seen: list[str] = []

        async def on_event(self, event: Any) -> None:
            self.seen.append(event.event)

    handler = Handler()
    async with client.beta.threads.runs.stream(thread_id=thread_id, assistant_id=assistant_id,
                                               metadata={"scenario": scenario}, event_handler=handler) as stream:
        assert stream is handler
        await stream.until_done()
    assert handler.seen and handler.seen[0] == "thread.run.created"
    return await handler.get_final_run()


async def async_create_and_stream(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    async with client.beta.threads.runs.create_and_stream(thread_id=thread_id, assistant_id=assistant_id,
                                                          metadata={"scenario": scenario}) as stream:
        await stream.until_done()
        return await stream.get_final_run()


async def async_create_stream_true(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    stream = await client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant_id,
                                                   metadata={"scenario": scenario}, stream=True)
    return last_run([event async for event in stream])


async def async_create_stream_true_with(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    async with await client.beta.threads.runs.create(thread_id=thread_id, assistant_id=assistant_id,
                                                     metadata={"scenario": scenario}, stream=True) as stream:
        return last_run([event async for event in stream])


async def async_create_and_run_stream(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    del thread_id
    async with client.beta.threads.create_and_run_stream(assistant_id=assistant_id, metadata={"scenario": scenario},
                                                         thread=QUESTION) as stream:
        await stream.until_done()
        return await stream.get_final_run()


async def async_create_and_run_stream_true(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    del thread_id
    stream = await client.beta.threads.create_and_run(assistant_id=assistant_id, stream=True,
                                                      metadata={"scenario": scenario}, thread=QUESTION)
    return last_run([event async for event in stream])


async def async_streaming_response(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    async with client.beta.threads.runs.with_streaming_response.create(
            thread_id=thread_id, assistant_id=assistant_id, metadata={"scenario": scenario}, stream=True) as response:
        return last_run([event async for event in await response.parse()])


async def async_raw_response_stream(client: Any, assistant_id: str, thread_id: str, scenario: str) -> Any:
    raw = await client.beta.threads.runs.with_raw_response.create(thread_id=thread_id, assistant_id=assistant_id,
                                                                  metadata={"scenario": scenario}, stream=True)
    return last_run([event async for event in raw.parse()])  # the legacy raw response parses synchronously


ASYNC_STREAM_STARTERS = [async_stream_until_done, async_stream_iterated, async_stream_with_handler,
                         async_create_and_stream, async_create_stream_true, async_create_stream_true_with,
                         async_create_and_run_stream, async_create_and_run_stream_true, async_streaming_response,
                         async_raw_response_stream]


async def async_submit_stream(client: Any, run: Any) -> Any:
    async with client.beta.threads.runs.submit_tool_outputs_stream(run_id=run.id, thread_id=run.thread_id,
                                                                   tool_outputs=outputs_for(run)) as stream:
        await stream.until_done()
        return await stream.get_final_run()


async def async_submit_stream_true(client: Any, run: Any) -> Any:
    stream = await client.beta.threads.runs.submit_tool_outputs(
        run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run), stream=True)
    return last_run([event async for event in stream])


async def async_submit_raw_response_stream(client: Any, run: Any) -> Any:
    raw = await client.beta.threads.runs.with_raw_response.submit_tool_outputs(
        run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run), stream=True)
    return last_run([event async for event in raw.parse()])


async def async_submit_streaming_response(client: Any, run: Any) -> Any:
    async with client.beta.threads.runs.with_streaming_response.submit_tool_outputs(
            run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run), stream=True) as response:
        return last_run([event async for event in await response.parse()])


ASYNC_STREAM_SUBMITTERS = [async_submit_stream, async_submit_stream_true, async_submit_raw_response_stream,
                           async_submit_streaming_response]


def vector_stores(client: Any) -> Any:
    """Where the SDK keeps vector stores: under beta before openai 1.66, top level after."""
    return client.vector_stores if hasattr(client, "vector_stores") else client.beta.vector_stores
