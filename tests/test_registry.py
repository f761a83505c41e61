"""The run registry's schedule: a run still known by a placeholder (its create not answered yet) is
never due, whatever happens to the deadline heap meanwhile."""

from __future__ import annotations

import time

from opentelemetry.trace import INVALID_SPAN, INVALID_SPAN_CONTEXT

from otel_assistants.registry import RunRegistry
from otel_assistants.runstate import ClientInfo, RunState

CLIENT = ClientInfo("openai", "127.0.0.1", 8000)


def state(now: float, run_id: str | None) -> RunState:
    return RunState(span=INVALID_SPAN, span_context=INVALID_SPAN_CONTEXT, context=None, start_ns=int(now * 1e9),
                    client=CLIENT, deadline=now + 660, seen_at=now, api=object(), run_id=run_id,
                    thread_id="thread_1", seen_ns=int(now * 1e9))


def test_a_run_awaiting_its_id_is_never_due_even_after_the_heap_is_rebuilt() -> None:
    registry = RunRegistry(cap=1000, adopt=False, wake_at=lambda when: None)
    now = time.time()
    pending = [state(now, None) for _ in range(50)]
    for run in pending:
        assert registry.add(object(), run) == []
    # Known runs rescheduled many times pile up heap entries until the heap is rebuilt.
    known = [state(now, f"run_{i}") for i in range(10)]
    for run in known:
        registry.add(run.run_id, run)
    for _ in range(20):
        for run in known:
            registry.schedule(run)
    due = registry.due(now + 1)  # before any known run's first look-up (a fifth of 660 s)
    assert due == ([], [], [])
    assert not any(run.ended for run in pending)
    assert len(registry) == 60
