"""The contract's instruments: names, units, attributes, buckets, and caps."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from .support.flows import create_and_poll
from .support.processes import run_script
from .support.telemetry import Otel

DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200)
TOKEN_BUCKETS = tuple(4**i for i in range(14))
ID_PREFIXES = ("asst_", "thread_", "run_", "msg_", "call_", "step_", "vs_", "file-")


def test_run_metrics(otel: Otel, client: Any) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", name="metered")
    for scenario in ("polls=2", "tools=1", "outcome=failed;error_code=server_error"):
        create_and_poll(client, assistant.id, client.beta.threads.create().id, scenario)

    completed = {"openai.assistants.run.status": "completed", "gen_ai.response.model": "gpt-4o",
                 "gen_ai.agent.name": "metered", "gen_ai.provider.name": "openai"}
    failed = dict(completed, **{"openai.assistants.run.status": "failed", "error.type": "server_error"})
    runs = otel.points("openai.assistants.runs")
    assert {frozenset(p.attributes.items()): p.value for p in runs} == {
        frozenset(completed.items()): 2, frozenset(failed.items()): 1}
    assert {p.unit for p in runs} == {"{run}"}

    duration = otel.points("openai.assistants.run.duration")
    assert sum(p.count for p in duration) == 3
    assert {p.unit for p in duration} == {"s"} and {p.buckets for p in duration} == {DURATION_BUCKETS}

    queue = otel.points("openai.assistants.run.queue_duration")
    assert [p.attributes for p in queue] == [{"gen_ai.response.model": "gpt-4o", "gen_ai.provider.name": "openai"}]
    assert queue[0].count == 3 and queue[0].buckets == DURATION_BUCKETS and queue[0].unit == "s"

    polls = otel.points("openai.assistants.run.polls")
    assert {p.attributes["openai.assistants.run.status"]: p.count for p in polls} == {"completed": 2, "failed": 1}
    assert {p.unit for p in polls} == {"{request}"}
    assert sum(p.sum for p in polls) == sum(s.attributes["openai.assistants.run.poll_count"]
                                            for s in otel.run_spans())

    active = otel.points("openai.assistants.runs.active")
    assert [(p.attributes, p.value, p.unit) for p in active] == [({"gen_ai.provider.name": "openai"}, 0, "{run}")]

    tokens = otel.points("gen_ai.client.token.usage")
    by_type = {p.attributes["gen_ai.token.type"]: p for p in tokens}
    assert set(by_type) == {"input", "output"}
    assert by_type["input"].attributes == {"gen_ai.token.type": "input", "gen_ai.operation.name": "invoke_agent",
                                           "gen_ai.response.model": "gpt-4o", "gen_ai.provider.name": "openai"}
    assert by_type["input"].sum == 200 and by_type["output"].sum == 40  # two completed runs, 100 + 20 each
    assert by_type["input"].buckets == TOKEN_BUCKETS and by_type["input"].unit == "{token}"

    tool = otel.points("openai.assistants.tool_call.duration")
    assert [(p.attributes, p.count) for p in tool] == [
        ({"gen_ai.tool.name": "get_weather", "gen_ai.tool.type": "function"}, 1)]


def test_operation_duration(otel: Otel, client: Any, emulator: Any) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", name="ops")
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread_id=thread.id, role="user", content="hello")
    client.beta.threads.messages.list(thread_id=thread.id)
    create_and_poll(client, assistant.id, thread.id, "polls=1")
    points = {p.attributes["gen_ai.operation.name"]: p for p in otel.points("gen_ai.client.operation.duration")}
    assert set(points) == {"create_agent", "create_thread", "create_message", "list_messages", "invoke_agent"}
    assert points["create_agent"].attributes == {
        "gen_ai.operation.name": "create_agent", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o", "server.address": "127.0.0.1"}
    assert points["create_thread"].attributes == {
        "gen_ai.operation.name": "create_thread", "gen_ai.provider.name": "openai", "server.address": "127.0.0.1"}
    assert points["invoke_agent"].buckets == DURATION_BUCKETS
    assert all(p.unit == "s" for p in points.values())


def test_agent_names_are_capped(otel: Otel, client: Any) -> None:
    thread_ids = []
    for index in range(55):
        assistant = client.beta.assistants.create(model="gpt-4o", name=f"bot-{index}")
        thread = client.beta.threads.create()
        thread_ids.append(thread.id)
        client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                 poll_interval_ms=1)
    names = [p.attributes["gen_ai.agent.name"] for p in otel.points("openai.assistants.runs")]
    assert len(names) == 51
    assert names.count("_OTHER") == 1
    assert otel.total("openai.assistants.runs", {"gen_ai.agent.name": "_OTHER"}) == 5
    # spans keep the real name: the cap is for metric cardinality only
    assert {s.attributes["gen_ai.agent.name"] for s in otel.run_spans()} == {f"bot-{i}" for i in range(55)}


def test_no_id_is_ever_a_metric_attribute(otel: Otel, client: Any) -> None:
    assistant = client.beta.assistants.create(model="gpt-4o", name="ids")
    for scenario in ("tools=2", "outcome=failed", "outcome=expired", "http_status=500"):
        with contextlib.suppress(Exception):
            create_and_poll(client, assistant.id, client.beta.threads.create().id, scenario)
    data = otel.reader.get_metrics_data()
    values = [str(v) for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
              for p in m.data.data_points for v in (p.attributes or {}).values()]
    assert values, "metrics were recorded"
    assert not [v for v in values if v.startswith(ID_PREFIXES)]
    keys = {k for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            for p in m.data.data_points for k in (p.attributes or {})}
    assert not keys & {"gen_ai.agent.id", "gen_ai.conversation.id", "openai.assistants.run.id",
                       "gen_ai.tool.call.id", "openai.assistants.run_step.id"}


def test_server_strings_in_metrics_are_capped(otel: Otel, client: Any) -> None:
    """Statuses, error codes and models come from the server: however many distinct ones it sends,
    each metric attribute keeps at most 50 values (the rest count as _OTHER)."""
    assistant = client.beta.assistants.create(model="gpt-4o", name="capped")
    for index in range(55):
        thread = client.beta.threads.create()
        client.beta.threads.runs.create_and_poll(
            thread_id=thread.id, assistant_id=assistant.id, model=f"model-{index}", poll_interval_ms=1,
            metadata={"scenario": f"outcome=failed;error_code=code_{index}"})
    runs = otel.points("openai.assistants.runs")
    models = {p.attributes["gen_ai.response.model"] for p in runs}
    errors = {p.attributes["error.type"] for p in runs}
    assert len(models) == 51 and "_OTHER" in models
    assert len(errors) == 51 and "_OTHER" in errors
    assert sum(p.value for p in runs) == 55
    # spans keep the real values
    assert {s.attributes["error.type"] for s in otel.run_spans()} == {f"code_{i}" for i in range(55)}


def test_run_counts_go_on_when_instrumented_again(make_otel: Callable[..., Otel], client: Any) -> None:
    """The run counter and the active-runs count are read from the instrumentation at collection;
    instrumenting again on the same providers carries on from the same counts."""
    otel = make_otel()
    try:
        assistant = client.beta.assistants.create(model="gpt-4o", name="again")
        create_and_poll(client, assistant.id, client.beta.threads.create().id, "polls=1")
        client.beta.threads.runs.create(thread_id=client.beta.threads.create().id, assistant_id=assistant.id,
                                        metadata={"scenario": "hold=1"})
        assert otel.total("openai.assistants.runs.active") == 1
        otel.instrumentor.uninstrument()  # the open run ends as abandoned
        assert otel.total("openai.assistants.runs.active") == 0
        otel.instrumentor.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
        create_and_poll(client, assistant.id, client.beta.threads.create().id, "polls=1")
        # (the new tracker has not learnt the assistant's name: that run's points lack it)
        assert otel.total("openai.assistants.runs") == 3
        assert otel.total("openai.assistants.runs", {"error.type": "abandoned"}) == 1
        assert otel.total("openai.assistants.runs", {"openai.assistants.run.status": "completed"}) == 2
        assert [p.value for p in otel.points("openai.assistants.runs.active")] == [0]
    finally:
        otel.close()


# The app instruments before it sets its global meter provider (the instruments are made on the
# API's proxy then), and again after: one set of counts, seen through the provider it set.
GLOBAL_METERS = """
import json, sys
import openai
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from otel_assistants import AssistantsInstrumentor

instrumentor = AssistantsInstrumentor()
instrumentor.instrument(run_steps="off")
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
client = openai.OpenAI(base_url=sys.argv[1], api_key="sk-test", max_retries=0)
assistant = client.beta.assistants.create(model="gpt-4o", name="global")
for again in (False, True):
    if again:
        instrumentor.uninstrument()
        instrumentor.instrument(run_steps="off")
    client.beta.threads.create_and_run_poll(assistant_id=assistant.id, poll_interval_ms=1)
points = {metric.name: [(dict(p.attributes), p.value) for p in metric.data.data_points]
          for rm in reader.get_metrics_data().resource_metrics for sm in rm.scope_metrics for metric in sm.metrics
          if metric.name in ("openai.assistants.runs", "openai.assistants.runs.active")}
print(json.dumps(points))
"""


def test_run_counts_through_the_global_meter_provider(emulator: Any, tmp_path: Any) -> None:
    result = run_script(tmp_path / "app.py", GLOBAL_METERS, emulator.base_url)
    assert result.returncode == 0, result.stderr
    points = json.loads(result.stdout.strip().splitlines()[-1])
    completed = {"openai.assistants.run.status": "completed", "gen_ai.response.model": "gpt-4o",
                 "gen_ai.provider.name": "openai"}
    # the second instrumentation has not learnt the assistant's name: its run's point lacks it
    assert sorted(points["openai.assistants.runs"], key=lambda point: -len(point[0])) == [
        [dict(completed, **{"gen_ai.agent.name": "global"}), 1], [completed, 1]]
    assert points["openai.assistants.runs.active"] == [[{"gen_ai.provider.name": "openai"}, 0]]
    assert "already been created" not in result.stderr and "registered" not in result.stderr
