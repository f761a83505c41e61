"""Many runs at once: 64 threads on one sync client and 500 asyncio tasks on one async client,
including runs polled by two workers at the same time. Every run span ends exactly once with the
status the server gave the run, under the worker that created it, and the run metrics add up to
the emulator's own record of its runs."""

from __future__ import annotations

import asyncio
import queue
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

import openai
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import StatusCode

from otel_assistants.emulator import Emulator

from ..support.flows import QUESTION, TERMINAL, WEATHER, outputs_for
from .support import LogTrap, Watched, run_spans

API_KEY = "sk-busy"
# (how the app drives it, scenario): every outcome, tool calls, streams and the SDK's poll helpers.
# No "incomplete" for the helpers: openai 1.21's poll helper does not know that status.
MIX = (
    ("loop", "polls=2"), ("loop", "tools=1"), ("loop", "outcome=failed;error_code=rate_limit_exceeded"),
    ("loop", "outcome=cancelled"), ("loop", "outcome=expired"), ("loop", "outcome=incomplete"),
    ("helper", "polls=3"), ("helper", "tools=2"), ("helper", "outcome=failed"), ("stream", "deltas=2"),
    ("stream", "tools=1;outcome=incomplete"), ("shared", "polls=6"),
)
EXPECTED_ERRORS = {"failed": None, "expired": "expired"}  # failed: its last_error.code
TURNS = 3  # runs per thread
ORIGIN = "origin"  # run metadata: the name of the worker span that created the run


# ---- sync --------------------------------------------------------------------------------------

def poll_until_done(client: openai.OpenAI, run: Any, submit: bool = True) -> Any:
    runs = client.beta.threads.runs
    while run.status not in TERMINAL:
        if run.status == "requires_action" and submit:
            run = runs.submit_tool_outputs(run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run))
        else:
            run = runs.retrieve(run.id, thread_id=run.thread_id)
    return run


class StreamedTools(openai.AssistantEventHandler):
    """Answers tool calls from inside the stream, the way the SDK's docs show."""

    def __init__(self, client: openai.OpenAI) -> None:
        super().__init__()
        self._client = client

    def on_event(self, event: Any) -> None:
        if event.event == "thread.run.requires_action":
            run = event.data
            with self._client.beta.threads.runs.submit_tool_outputs_stream(
                    run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run),
                    event_handler=StreamedTools(self._client)) as stream:
                stream.until_done()


def drive(client: openai.OpenAI, assistant: str, kind: str, scenario: str, partner: queue.Queue[Any] | None,
          origin: str) -> None:
    threads = client.beta.threads
    metadata = {"scenario": scenario, ORIGIN: origin}
    if kind == "loop":
        poll_until_done(client, threads.create_and_run(assistant_id=assistant, thread=QUESTION, metadata=metadata))
    elif kind == "helper":
        run = threads.create_and_run_poll(assistant_id=assistant, thread=QUESTION, metadata=metadata,
                                          poll_interval_ms=0)
        while run.status == "requires_action":
            run = threads.runs.submit_tool_outputs_and_poll(run_id=run.id, thread_id=run.thread_id,
                                                            tool_outputs=outputs_for(run), poll_interval_ms=0)
    elif kind == "stream":
        thread = threads.create()
        with threads.runs.stream(thread_id=thread.id, assistant_id=assistant, metadata=metadata,
                                 event_handler=StreamedTools(client)) as stream:
            stream.until_done()
    else:  # shared: this worker creates the run, its partner polls it too, both until it ends
        assert partner is not None
        run = threads.create_and_run(assistant_id=assistant, thread=QUESTION, metadata=metadata)
        partner.put(run)
        poll_until_done(client, run)


def follow(client: openai.OpenAI, partner: queue.Queue[Any]) -> None:
    """The second poller of a shared run (it did not create it)."""
    poll_until_done(client, partner.get(timeout=60), submit=False)


# ---- checks ------------------------------------------------------------------------------------

def server_runs(emu: Emulator) -> dict[str, dict[str, Any]]:
    """The emulator's own record: every run it holds, by id."""
    store = emu.api.store
    with store.lock:
        return {run_id: dict(state.run) for record in store.threads.values() for run_id, state in record.runs.items()}


def server_owners(emu: Emulator) -> dict[str, str]:
    """The emulator's own record of which run each step and each tool call belongs to."""
    owners: dict[str, str] = {}
    store = emu.api.store
    with store.lock:
        for record in store.threads.values():
            for run_id, state in record.runs.items():
                for step_id, step in state.steps.items():
                    owners[step_id] = run_id
                    for call in (step.get("step_details") or {}).get("tool_calls") or []:
                        owners[call["id"]] = run_id
    return owners


def polls_of(emu: Emulator) -> Counter[str]:
    return Counter(r.path.rsplit("/", 1)[-1] for r in emu.requests
                   if r.method == "GET" and r.status == 200 and r.path.count("/") == 4 and "/runs/" in r.path)


def check_everything(otel: Watched, emu: Emulator, workers: dict[int, ReadableSpan], shared: set[str]) -> None:
    assert otel.ledger.problems() == []
    spans = otel.spans()
    runs = run_spans(spans)
    truth = server_runs(emu)
    assert sorted(s.attributes["openai.assistants.run.id"] for s in runs) == sorted(truth), "one span per run"
    by_id = {s.context.span_id: s for s in spans}
    polls = polls_of(emu)
    for span in runs:
        run = truth[span.attributes["openai.assistants.run.id"]]
        status = run["status"]
        assert span.attributes["openai.assistants.run.status"] == status
        expected_error = (run["last_error"] or {}).get("code") if status == "failed" else EXPECTED_ERRORS.get(status)
        assert span.attributes.get("error.type") == expected_error
        assert span.status.status_code is (StatusCode.ERROR if expected_error else StatusCode.UNSET)
        assert span.parent is not None and span.parent.span_id in workers
        assert workers[span.parent.span_id].name == run["metadata"][ORIGIN], "under the span of its creator"
        count = span.attributes["openai.assistants.run.poll_count"]
        if run["id"] in shared:
            assert 1 <= count <= polls[run["id"]]
        else:
            assert count == polls[run["id"]]
    owners = server_owners(emu)
    for span in spans:  # tools, steps and run operations hang under their own run
        if not span.name.startswith(("execute_tool", "run_step", "submit_tool_outputs")):
            continue
        parent = by_id.get(span.parent.span_id) if span.parent else None
        assert parent is not None, span.name
        if parent.name.startswith("run_step"):  # a built-in tool call under its step
            parent = by_id[parent.parent.span_id]
        assert parent in runs, span.name
        attributes = span.attributes
        owner = (attributes.get("openai.assistants.run.id") or owners.get(attributes.get("gen_ai.tool.call.id"))
                 or owners.get(attributes.get("openai.assistants.run_step.id")))
        assert owner is not None and parent.attributes["openai.assistants.run.id"] == owner, span.name
    statuses = Counter(run["status"] for run in truth.values())
    counted = Counter()
    for point in otel.points("openai.assistants.runs"):
        counted[point.attributes["openai.assistants.run.status"]] += int(point.value or 0)
    assert counted == statuses, "one runs point per run, by status"
    assert otel.total("openai.assistants.run.polls") == len(truth)
    recorded_polls = sum(point.sum for point in otel.points("openai.assistants.run.polls"))
    assert recorded_polls == sum(span.attributes["openai.assistants.run.poll_count"] for span in runs)
    assert otel.total("openai.assistants.run.duration") == len(truth)
    assert otel.total("openai.assistants.runs.active") == 0


@pytest.fixture
def clean_emulator(module_emulator: Emulator) -> Emulator:
    module_emulator.reset()
    return module_emulator


def test_64_threads(make_watched: Callable[..., Watched], clean_emulator: Emulator) -> None:
    emu = clean_emulator
    client = openai.OpenAI(base_url=emu.base_url, api_key=API_KEY, max_retries=0, timeout=60)
    assistant = client.beta.assistants.create(model="gpt-4o", name="busy", tools=[WEATHER]).id
    otel = make_watched()
    tracer = otel.tracer_provider.get_tracer("app")
    start = threading.Barrier(64)
    errors: list[BaseException] = []
    workers: dict[int, ReadableSpan] = {}
    pairs: dict[int, queue.Queue[Any]] = {}

    def worker(index: int) -> None:
        try:
            with tracer.start_as_current_span(f"worker {index}") as span:
                workers[span.get_span_context().span_id] = span  # type: ignore[assignment]
                start.wait(timeout=60)
                for turn in range(TURNS):
                    kind, scenario = MIX[(index // 2 + turn) % len(MIX)]  # the two of a pair share their kind
                    if kind == "shared" and index % 2:  # odd workers follow their even neighbour's run
                        follow(client, pairs.setdefault(index - 1, queue.Queue()))
                    else:
                        drive(client, assistant, kind, scenario, pairs.setdefault(index, queue.Queue()), span.name)
        except BaseException as error:  # reported below, with the others
            errors.append(error)

    trap = LogTrap()
    with trap.installed():
        threads = [threading.Thread(target=worker, args=(i,), name=f"worker-{i}") for i in range(64)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    try:
        assert [f"{error!r} <- {error.__cause__!r}" for error in errors] == []
        assert trap.messages() == []
        assert otel.ledger.open_spans() == [], "every run was seen to end"
        shared = {run["id"] for run in server_runs(emu).values() if run["metadata"].get("scenario") == "polls=6"}
        assert len(shared) == sum(1 for pair in range(32) for turn in range(TURNS)
                                  if MIX[(pair + turn) % len(MIX)][0] == "shared")
        check_everything(otel, emu, workers, shared)
    finally:
        otel.close()
        client.close()


# ---- async -------------------------------------------------------------------------------------

async def apoll_until_done(client: openai.AsyncOpenAI, run: Any, submit: bool = True) -> Any:
    runs = client.beta.threads.runs
    while run.status not in TERMINAL:
        if run.status == "requires_action" and submit:
            run = await runs.submit_tool_outputs(run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run))
        else:
            run = await runs.retrieve(run.id, thread_id=run.thread_id)
    return run


async def adrive(client: openai.AsyncOpenAI, assistant: str, kind: str, scenario: str,
                 partner: asyncio.Future[Any] | None, origin: str) -> None:
    threads = client.beta.threads
    metadata = {"scenario": scenario, ORIGIN: origin}
    if kind == "loop":
        run = await threads.create_and_run(assistant_id=assistant, thread=QUESTION, metadata=metadata)
        await apoll_until_done(client, run)
    elif kind == "helper":
        run = await threads.create_and_run_poll(assistant_id=assistant, thread=QUESTION, metadata=metadata,
                                                poll_interval_ms=0)
        while run.status == "requires_action":
            run = await threads.runs.submit_tool_outputs_and_poll(
                run_id=run.id, thread_id=run.thread_id, tool_outputs=outputs_for(run), poll_interval_ms=0)
    elif kind == "stream":
        thread = await threads.create()
        run = None
        async with threads.runs.stream(thread_id=thread.id, assistant_id=assistant, metadata=metadata) as stream:
            async for event in stream:
                if event.event == "thread.run.requires_action":
                    run = event.data
        while run is not None:
            waiting, run = run, None
            stream = await threads.runs.submit_tool_outputs(waiting.id, thread_id=waiting.thread_id,
                                                            tool_outputs=outputs_for(waiting), stream=True)
            async with stream:
                async for event in stream:
                    if event.event == "thread.run.requires_action":
                        run = event.data
    else:
        assert partner is not None
        run = await threads.create_and_run(assistant_id=assistant, thread=QUESTION, metadata=metadata)
        partner.set_result(run)
        await apoll_until_done(client, run)


async def test_500_tasks(make_watched: Callable[..., Watched], clean_emulator: Emulator) -> None:
    emu = clean_emulator
    otel = make_watched()
    tracer = otel.tracer_provider.get_tracer("app")
    workers: dict[int, ReadableSpan] = {}
    loop = asyncio.get_running_loop()
    pairs: dict[int, asyncio.Future[Any]] = {index: loop.create_future() for index in range(0, 500, 2)}
    gate = asyncio.Event()
    # Ten clients of 50 tasks each: httpx's pool scans every queued request against every
    # connection, which one client with 500 connections turns into most of the test's time.
    clients = [openai.AsyncOpenAI(base_url=emu.base_url, api_key=API_KEY, max_retries=0, timeout=120)
               for _ in range(10)]
    assistant = (await clients[0].beta.assistants.create(model="gpt-4o", name="busy", tools=[WEATHER])).id

    async def task(index: int) -> None:
        kind, scenario = MIX[(index // 2) % len(MIX)]  # both tasks of a pair share their kind
        client = clients[index // 2 % len(clients)]
        with tracer.start_as_current_span(f"task {index}") as span:
            workers[span.get_span_context().span_id] = span  # type: ignore[assignment]
            await gate.wait()
            if kind == "shared" and index % 2:
                await apoll_until_done(client, await pairs[index - 1], submit=False)
            else:
                await adrive(client, assistant, kind, scenario, pairs.get(index), span.name)

    trap = LogTrap()
    try:
        with trap.installed():
            tasks = [asyncio.ensure_future(task(i)) for i in range(500)]
            await asyncio.sleep(0)
            gate.set()  # all at once
            results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=240)
        assert [r for r in results if r is not None] == []
        assert trap.messages() == []
        assert otel.ledger.open_spans() == [], "every run was seen to end"
        shared = {run["id"] for run in server_runs(emu).values() if run["metadata"].get("scenario") == "polls=6"}
        assert len(shared) == sum(1 for pair in range(250) if MIX[pair % len(MIX)][0] == "shared")
        check_everything(otel, emu, workers, shared)
    finally:
        for client in clients:
            await client.close()
        otel.close()

