"""The ways an app drives a run, each written once for the sync and once for the async client."""

from __future__ import annotations

import json
from typing import Any

TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}


def outputs_for(run: Any) -> list[dict[str, str]]:
    calls = run.required_action.submit_tool_outputs.tool_calls
    return [{"tool_call_id": c.id, "output": json.dumps({"temperature": 21})} for c in calls]


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
        thread={"messages": [{"role": "user", "content": "What is the weather in Paris?"}]},
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
        thread={"messages": [{"role": "user", "content": "What is the weather in Paris?"}]},
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
