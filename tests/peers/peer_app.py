"""An app mid-migration: Assistants API runs and Responses API calls against one server.

Run in a child process, usually under ``opentelemetry-instrument`` (which sets up the providers and
loads every installed instrumentor), with the emulator's base URL:

    opentelemetry-instrument python -m tests.peers.peer_app http://127.0.0.1:8000/v1
    python -m tests.peers.peer_app URL --instrument openinference,ours   # by hand, in this order

It prints one JSON line, ``result {...}``, with what the app itself saw, so a test can tell that no
instrumentation changed what the SDK returned.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import warnings
from typing import Any

import openai

FAILED = {"scenario": "outcome=failed;error_code=server_error"}
HTTP_500 = {"scenario": "http_status=500"}
MODEL = "gpt-4.1-mini"


def instrument(names: list[str]) -> None:
    """Instrument by hand, in the order given, with the global providers (set up by the distro)."""
    for name in names:
        if name == "ours":
            from otel_assistants import AssistantsInstrumentor

            AssistantsInstrumentor().instrument()
        elif name == "official":
            from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor

            OpenAIInstrumentor().instrument()
        elif name == "openinference":
            from openinference.instrumentation.openai import OpenAIInstrumentor as OpenInferenceInstrumentor

            OpenInferenceInstrumentor().instrument()
        else:
            raise SystemExit(f"unknown instrumentation {name!r}")


def assistants(client: openai.OpenAI, seen: dict[str, Any]) -> None:
    runs = client.beta.threads.runs
    assistant = client.beta.assistants.create(model="gpt-4o", name="helpdesk")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "Hello"}])
    seen["polled"] = runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=1).status
    seen["failed"] = runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, metadata=FAILED, poll_interval_ms=1
    ).status
    with runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        stream.until_done()
        seen["stream_helper"] = stream.get_final_run().status
    events = [event.event for event in runs.create(thread_id=thread.id, assistant_id=assistant.id, stream=True)]
    seen["stream_events"] = events[-1]
    seen["messages"] = len(client.beta.threads.messages.list(thread_id=thread.id).data)


def responses(client: openai.OpenAI, seen: dict[str, Any]) -> None:
    created = client.responses.create(model=MODEL, input="Hello", metadata={"scenario": "usage=40,8"})
    seen["response"] = [created.status, created.output_text, created.usage.total_tokens if created.usage else None]
    with client.responses.create(model=MODEL, input="Hello", stream=True) as stream:
        kinds = [event.type for event in stream]
    seen["response_stream"] = [kinds[0], kinds[-1], len(kinds)]
    with client.responses.stream(model=MODEL, input="Hello") as helper:
        seen["response_helper"] = helper.get_final_response().output_text
    seen["response_failed"] = client.responses.create(model=MODEL, input="Hello", metadata=FAILED).status
    try:
        client.responses.create(model=MODEL, input="Hello", metadata=HTTP_500)
    except openai.InternalServerError as error:
        seen["response_http_error"] = error.status_code


async def asynchronous(base_url: str, seen: dict[str, Any]) -> None:
    async with openai.AsyncOpenAI(base_url=base_url, api_key="sk-peer", max_retries=0) as client:
        assistant = await client.beta.assistants.create(model="gpt-4o", name="helpdesk")
        thread = await client.beta.threads.create()
        run = await client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, poll_interval_ms=1
        )
        seen["async_run"] = run.status
        events = [event.event async for event in await client.beta.threads.runs.create(
            thread_id=thread.id, assistant_id=assistant.id, stream=True
        )]
        seen["async_stream_events"] = events[-1]
        response = await client.responses.create(model=MODEL, input="Hello")
        seen["async_response"] = response.status
        stream = await client.responses.create(model=MODEL, input="Hello", stream=True)
        seen["async_response_stream"] = [event.type async for event in stream][-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("--instrument", default="", help="comma-separated: ours, official, openinference")
    args = parser.parse_args()
    warnings.simplefilter("ignore", DeprecationWarning)  # the SDK's notice that Assistants is deprecated
    instrument([name for name in args.instrument.split(",") if name])
    seen: dict[str, Any] = {}
    with openai.OpenAI(base_url=args.base_url, api_key="sk-peer", max_retries=0) as client:
        assistants(client, seen)
        responses(client, seen)
    asyncio.run(asynchronous(args.base_url, seen))
    print("result " + json.dumps(seen, sort_keys=True), flush=True)


if __name__ == "__main__":
    main()
