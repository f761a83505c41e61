"""Every series and label the dashboards and rules use exists in the contract and in Prometheus."""

from __future__ import annotations

import re
from types import ModuleType

import pytest

from . import contract, support

ADDED_LABELS = support.ADDED_LABELS
# Series Prometheus itself makes.
PROMETHEUS_SERIES = {"ALERTS"}


@pytest.fixture(scope="module")
def instruments() -> list[contract.Instrument]:
    if not contract.CONTRACT.is_file():
        support.missing(f"the telemetry contract is not at {contract.CONTRACT}")
    return contract.instruments()


@pytest.fixture(scope="module")
def exposed() -> dict[str, set[str]]:
    """sample name -> labels, from the recorded fixtures: the contract's instruments and the official
    OpenAI instrumentation's (which the migration dashboard reads too)."""
    support.require_module("prometheus_client")
    module = promnames()
    merged: dict[str, set[str]] = {}
    for fixture in (module.FIXTURE, module.OFFICIAL_FIXTURE):
        for name, labels in module.series_labels(fixture.read_text()).items():
            merged.setdefault(name, set()).update(labels)
    return merged


def promnames() -> ModuleType:
    # Imported late: the module needs the exporter, which only the dashboards extra brings.
    try:
        from . import promnames as module
    except ImportError as error:
        support.missing(f"opentelemetry-exporter-prometheus is needed ({error})")
        raise AssertionError("unreachable") from error
    return module


def test_the_fixture_is_what_the_exporter_produces(instruments: list[contract.Instrument]) -> None:
    module = promnames()

    def essentials(text: str) -> dict[str, tuple[str, frozenset[tuple[str, frozenset[str]]]]]:
        # Scope labels may come and go with exporter releases without touching any query.
        return {
            name: (kind, frozenset((sample, labels - ADDED_LABELS) for sample, labels in samples))
            for name, (kind, samples) in module.families(text).items()
        }

    fresh = essentials(module.exposition(instruments))
    recorded = essentials(module.FIXTURE.read_text())
    assert fresh == recorded, "the exporter names things differently now: python -m tests.dashboards.promnames"


def test_the_official_fixture_is_what_the_instrumentation_exposes() -> None:
    support.require_module("opentelemetry.instrumentation.genai.openai")
    module = promnames()

    def essentials(text: str) -> dict[str, tuple[str, frozenset[tuple[str, frozenset[str]]]]]:
        return {
            name: (kind, frozenset((sample, labels - ADDED_LABELS - {"server_port"}) for sample, labels in samples))
            for name, (kind, samples) in module.families(text).items()
        }

    fresh = module.official_exposition()
    assert essentials(fresh) == essentials(module.OFFICIAL_FIXTURE.read_text()), (
        "the official instrumentation exposes other names now: python -m tests.dashboards.promnames"
    )


def test_the_official_instrumentation_is_told_apart_as_dashgen_expects() -> None:
    # Responses calls: operation "chat", in a scope the migration dashboard's matcher accepts.
    support.generator()
    from dashgen import promql  # put on sys.path by support.generator()
    from prometheus_client.parser import text_string_to_metric_families

    text = promnames().OFFICIAL_FIXTURE.read_text()
    samples = [sample for family in text_string_to_metric_families(text) for sample in family.samples]
    assert samples
    assert {sample.labels["gen_ai_operation_name"] for sample in samples} == {promql.CHAT}
    scopes = {sample.labels["otel_scope_name"] for sample in samples}
    assert all(re.fullmatch(promql.OFFICIAL_SCOPES, scope) for scope in scopes), scopes
    assert not re.fullmatch(promql.OFFICIAL_SCOPES, "otel_assistants")
    assert {promql.OPERATION_DURATION + "_count", promql.TOKEN_USAGE + "_sum"} <= {s.name for s in samples}


def test_each_contract_instrument_is_one_family_in_the_fixture(instruments: list[contract.Instrument]) -> None:
    module = promnames()
    recorded = module.families(module.FIXTURE.read_text())
    kinds = support.PROMETHEUS_KINDS
    assert len(recorded) == len(instruments)
    for instrument in instruments:
        base = instrument.name.replace(".", "_")
        matches = [
            name for name, (kind, _) in recorded.items() if name.startswith(base) and kind == kinds[instrument.kind]
        ]
        assert len(matches) == 1, (instrument.name, sorted(recorded))
        _, samples = recorded[matches[0]]
        labels = set().union(*(names for _, names in samples)) - ADDED_LABELS
        attributes = (*instrument.attributes, *instrument.failure_attributes)
        assert labels == {a.replace(".", "_") for a in attributes}, instrument.name


def test_failed_requests_carry_the_error_reason(instruments: list[contract.Instrument]) -> None:
    # The contract's sentence under its table, read into the instrument it names (section 2.8).
    [operation] = [i for i in instruments if i.name == "gen_ai.client.operation.duration"]
    assert operation.failure_attributes == ("openai.assistants.error.reason",)
    assert all(not i.failure_attributes for i in instruments if i is not operation)


def test_contract_buckets_reach_past_run_expiry() -> None:
    if not contract.CONTRACT.is_file():
        support.missing(f"the telemetry contract is not at {contract.CONTRACT}")
    buckets = contract.duration_buckets()
    assert max(buckets) > 600
    # Thresholds on histogram quantiles sit on bucket boundaries, where interpolation is exact.
    queue = [r for r in support.prometheus_rules() if r["alert"] == "AssistantsRunQueueTimeHigh"]
    threshold = float(re.search(r"\n> ([\d.]+)", queue[0]["expr"]).group(1))  # type: ignore[union-attr]
    assert threshold in buckets


def _expressions() -> list[tuple[str, str]]:
    found = [
        (f"{name}: {title} {ref}", expr)
        for name, board in support.dashboards().items()
        for title, ref, expr in support.panel_queries(board)
    ]
    for name, board in support.dashboards().items():
        for variable in board["templating"]["list"]:
            match = re.fullmatch(r"label_values\((.*), (\w+)\)", str(variable.get("query", "")))
            if match:
                found.append((f"{name}: variable {variable['name']}", match.group(1)))
        for annotation in board["annotations"]["list"]:
            if annotation.get("expr"):
                found.append((f"{name}: annotation {annotation['name']}", annotation["expr"]))
    found += [(f"rule {r['alert']} {r['labels']['severity']}", r["expr"]) for r in support.prometheus_rules()]
    found += [(f"grafana rule {r['title']}", r["data"][0]["model"]["expr"]) for r in support.grafana_rules()]
    sources = support.load_yaml(support.DASHBOARDS / "provisioning/datasources/otel-assistants.yml")
    for source in sources["datasources"]:
        for query in source["jsonData"].get("tracesToMetrics", {}).get("queries", []):
            found.append((f"datasource {source['name']}: {query['name']}", query["query"].replace("$$__tags", "")))
    return found


def test_every_series_and_label_used_exists(
    instruments: list[contract.Instrument], exposed: dict[str, set[str]]
) -> None:
    contract_bases = {i.name.replace(".", "_") for i in instruments}
    problems = []
    for where, expr in _expressions():
        series, grouping = support.promql_names(support.substitute(expr))
        assert series, f"{where}: no series in {expr!r}"
        available: set[str] = set(ADDED_LABELS)
        # label_replace(v, "dst", "$1", "src", "(.*)") makes label dst from label src.
        for made, source in re.findall(r'"(\w+)", "\$\d+", "(\w+)"', expr):
            if not any(source in exposed.get(name, set()) for name in series):
                problems.append(f"{where}: label_replace reads {source}, which no series has")
            available.add(made)
        for name, labels in series.items():
            if name in PROMETHEUS_SERIES:
                available |= {"alertname", "alertstate"}
                continue
            if name not in exposed:
                problems.append(f"{where}: {name} is not a series the exporter makes")
                continue
            if not any(name.startswith(base) for base in contract_bases):
                problems.append(f"{where}: {name} is not a contract instrument")
            unknown = labels - exposed[name] - ADDED_LABELS
            if unknown:
                problems.append(f"{where}: {name} has no label {sorted(unknown)}")
            available |= exposed[name]
        if grouping - available:
            problems.append(f"{where}: groups by labels no series has: {sorted(grouping - available)}")
    assert not problems, "\n".join(problems)


def test_dashgen_names_are_the_fixture_names(exposed: dict[str, set[str]]) -> None:
    support.generator()
    from dashgen import promql  # put on sys.path by support.generator()

    for constant in ("RUNS", "RUNS_ACTIVE", "INGESTION_FILES"):
        assert getattr(promql, constant) in exposed
    for constant in (
        "RUN_DURATION", "QUEUE_DURATION", "RUN_POLLS", "STEP_DURATION", "TOOL_DURATION", "TOKEN_USAGE",
        "OPERATION_DURATION", "TIME_TO_FIRST_CHUNK", "INGESTION_DURATION",
    ):  # fmt: skip
        assert f"{getattr(promql, constant)}_bucket" in exposed, constant
    assert promql.ERROR_REASON in exposed[f"{promql.OPERATION_DURATION}_count"]
    assert promql.INGESTION_STATUS in exposed[f"{promql.INGESTION_FILES}"]
