"""The committed dashboards, rules and provisioning files: up to date, well formed, consistent."""

from __future__ import annotations

import re
from typing import Any

import pytest

from otel_assistants import bundle

from . import support

SEVERITIES = {"warning", "critical"}
VARIABLES = {"datasource", "job", "model", "assistant"}


def test_committed_files_match_the_generator() -> None:
    rendered = support.generator().render()
    stale = [
        path
        for path, text in rendered.items()
        if not (support.DASHBOARDS / path).is_file() or (support.DASHBOARDS / path).read_text() != text
    ]
    assert not stale, f"run `python dashboards/generate.py` and commit the result; stale: {stale}"


def test_every_generated_file_is_committed_and_nothing_else_is_shipped() -> None:
    rendered = set(support.generator().render())
    shipped = {
        str(path.relative_to(support.DASHBOARDS))
        for folder, pattern, _ in bundle.LAYOUT
        for path in (support.DASHBOARDS / folder).glob(pattern)
    }
    assert shipped == rendered


@pytest.mark.parametrize("name", sorted(support.dashboards()))
def test_dashboard_imports_as_is(name: str) -> None:
    board = support.dashboards()[name]
    # Import into another Grafana: no instance-specific id, a stable uid, the data source a variable.
    assert board.get("id") is None
    assert re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"])
    assert board["annotations"]["list"] is not None
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert set(variables) == VARIABLES
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for name_ in VARIABLES - {"datasource"}:
        variable = variables[name_]
        assert variable["type"] == "query"
        assert variable["includeAll"] and variable["allValue"] == ".*"
        assert variable["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert variable["id"] == name_

    ids = [p["id"] for p in support.panels(board)]
    assert len(ids) == len(set(ids)) and all(isinstance(i, int) and i > 0 for i in ids)
    occupied: set[tuple[int, int]] = set()
    for panel in support.panels(board):
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {
            (x, y) for x in range(grid["x"], grid["x"] + grid["w"]) for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not cells & occupied, f"{panel['title']} overlaps another panel"
        occupied |= cells
        if panel["type"] == "row":
            continue
        assert panel["title"] and panel.get("description"), panel
        assert panel["options"], f"{panel['title']}: Grafana wants panel options, not null"
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        targets = panel["targets"]
        assert targets, panel["title"]
        assert [t["refId"] for t in targets] == [chr(ord("A") + i) for i in range(len(targets))]
        for target in targets:
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
            # $1 and the like are label_replace's references to its regex groups, not variables.
            used = {name for name in re.findall(r"\$(\w+)", target["expr"]) if not name.isdigit()}
            assert used <= {"job", "model", "assistant", "__rate_interval", "__range"}, used


def test_dashboards_link_each_other_by_tag() -> None:
    for board in support.dashboards().values():
        assert "otel-assistants" in board["tags"]
        assert any(link["type"] == "dashboards" and "otel-assistants" in link["tags"] for link in board["links"])


def _alert_key(rule: dict[str, Any]) -> tuple[str, str]:
    return rule["alert"], rule["labels"]["severity"]


def test_prometheus_rules_carry_what_on_call_needs() -> None:
    rules = support.prometheus_rules()
    assert len({_alert_key(r) for r in rules}) == len(rules)
    for rule in rules:
        assert rule["labels"]["severity"] in SEVERITIES
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert re.fullmatch(r"\d+[sm]", rule["for"]) and rule["for"] != "0s", rule["alert"]
        url = rule["annotations"]["runbook_url"]
        assert url == f"{bundle.RUNBOOK_BASE_URL}/{rule['alert']}.md"


def test_the_required_alerts_are_there() -> None:
    keys = {_alert_key(r) for r in support.prometheus_rules()}
    assert {
        ("AssistantsRunFailureRateHigh", "warning"),
        ("AssistantsRunFailureRateHigh", "critical"),
        ("AssistantsRunExpiryRateHigh", "warning"),
        ("AssistantsRunsRateLimited", "warning"),
        ("AssistantsRunQueueTimeHigh", "warning"),
        ("AssistantsToolOutputsNotSubmitted", "warning"),
        ("AssistantsAPIServerErrors", "warning"),
        ("AssistantsAPIEndpointNotFound", "critical"),
        ("AssistantsRunsStuck", "warning"),
        ("AssistantsThreadActiveRunConflicts", "warning"),
        ("AssistantsFileIngestionFailureRateHigh", "warning"),
    } <= keys


def test_ratio_alerts_have_a_traffic_floor() -> None:
    for rule in support.prometheus_rules():
        if "\n/\n" in rule["expr"]:
            assert re.search(r"\nand\n.*increase\(.*>= \d+", rule["expr"]), rule["alert"]


# Read with a regex so that collecting works without PyYAML (the tests then skip or fail cleanly).
ALERT_NAMES = sorted(
    {name for path in support.RULES for name in re.findall(r"^\s*- alert: (\w+)$", path.read_text(), re.M)}
)


@pytest.mark.parametrize("name", ALERT_NAMES)
def test_every_alert_has_a_runbook(name: str) -> None:
    text = (support.RUNBOOKS / f"{name}.md").read_text()
    assert text.startswith(f"# {name}\n")
    for heading in ("## Meaning", "## Likely causes", "## First checks", "## Dashboard"):
        assert heading in text, f"{name}.md lacks {heading}"
    panels = {p["title"] for board in support.dashboards().values() for p in support.panels(board)}
    named = set(re.findall(r"panel\s+\*\*([^*]+)\*\*", text))
    assert named, f"{name}.md names no dashboard panel (as: panel **Title**)"
    assert named <= panels, f"{name}.md names panels that do not exist: {named - panels}"


def test_grafana_rules_are_the_prometheus_rules() -> None:
    prometheus = {_alert_key(r): r for r in support.prometheus_rules()}
    grafana = support.grafana_rules()
    assert len(grafana) == len(prometheus)
    titles = set()
    for rule in grafana:
        titles.add(rule["title"])
        name = rule["title"].split(" (")[0]
        key = (name, rule["labels"]["severity"])
        source = prometheus[key]
        assert rule["for"] == source["for"]
        assert rule["annotations"]["summary"] == source["annotations"]["summary"]
        assert rule["annotations"]["runbook_url"] == source["annotations"]["runbook_url"]
        assert rule["annotations"]["description"] == source["annotations"]["description"].replace(
            "$value", "$values.B.Value"
        )
        assert rule["condition"] == "C" and rule["noDataState"] == "OK"
        data = {q["refId"]: q for q in rule["data"]}
        # The Prometheus expression is A with the threshold C applies written out.
        threshold = data["C"]["model"]["conditions"][0]["evaluator"]
        assert threshold["type"] == "gt"
        (value,) = threshold["params"]
        comparison = f"\n> {value:g}"
        assert comparison in source["expr"], key
        assert data["A"]["model"]["expr"] == source["expr"].replace(comparison, "", 1), key
        assert data["A"]["datasourceUid"] == "prometheus"
        board = next(b for b in support.dashboards().values() if b["uid"] == rule["dashboardUid"])
        assert rule["panelId"] in {p["id"] for p in support.panels(board)}
    assert len(titles) == len(grafana), "Grafana wants rule titles unique within the folder"


def test_grafana_datasources_and_provider() -> None:
    sources = support.load_yaml(support.DASHBOARDS / "provisioning/datasources/otel-assistants.yml")["datasources"]
    by_uid = {s["uid"]: s for s in sources}
    assert {s["type"] for s in sources} == {"prometheus", "tempo", "jaeger"}
    destinations = {d["datasourceUid"] for d in by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]}
    assert destinations == {"tempo", "jaeger"}
    for uid in ("tempo", "jaeger"):
        assert by_uid[uid]["jsonData"]["tracesToMetrics"]["datasourceUid"] == "prometheus"
    providers = support.load_yaml(support.DASHBOARDS / "provisioning/dashboards/otel-assistants.yml")["providers"]
    assert providers[0]["type"] == "file" and providers[0]["options"]["path"]


def test_dashboard_thresholds_are_the_alert_thresholds() -> None:
    thresholds = {
        rule["alert"]: float(re.search(r"\n> ([\d.]+)", rule["expr"]).group(1))  # type: ignore[union-attr]
        for rule in support.prometheus_rules()
        if rule["labels"]["severity"] == "warning"
    }
    runs = next(b for b in support.dashboards().values() if b["uid"] == "otel-assistants-runs")
    by_title = {p["title"]: p for p in support.panels(runs)}
    steps = [s["value"] for s in by_title["Failure ratio"]["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert thresholds["AssistantsRunFailureRateHigh"] in steps
    steps = [s["value"] for s in by_title["Expiry ratio"]["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert thresholds["AssistantsRunExpiryRateHigh"] in steps
    steps = [s["value"] for s in by_title["Queue time"]["fieldConfig"]["defaults"]["thresholds"]["steps"]]
    assert thresholds["AssistantsRunQueueTimeHigh"] in steps
    stores = next(b for b in support.dashboards().values() if b["uid"] == "otel-assistants-vector-stores")
    for title in ("Failed-file ratio", "Failed-file ratio by error type"):
        panel = next(p for p in support.panels(stores) if p["title"] == title)
        steps = [s["value"] for s in panel["fieldConfig"]["defaults"]["thresholds"]["steps"]]
        assert thresholds["AssistantsFileIngestionFailureRateHigh"] in steps, title


def test_api_errors_by_reason_name_each_reason_and_link_its_runbooks() -> None:
    tools = next(b for b in support.dashboards().values() if b["uid"] == "otel-assistants-tools")
    panel = next(p for p in support.panels(tools) if p["title"] == "API errors by reason")
    [target] = panel["targets"]
    assert "sum by (openai_assistants_error_reason, gen_ai_operation_name)" in target["expr"]
    assert target["legendFormat"] == "{{openai_assistants_error_reason}} {{gen_ai_operation_name}}"
    assert [link["url"] for link in panel["links"]] == [f"{bundle.RUNBOOK_BASE_URL}/errors/"]


def test_ingestion_panels_state_what_the_contract_does_not_record() -> None:
    # No gauge of ingestion jobs in progress exists: the panel that stands in for one says so.
    stores = next(b for b in support.dashboards().values() if b["uid"] == "otel-assistants-vector-stores")
    panel = next(p for p in support.panels(stores) if p["title"] == "Ingestion jobs ended")
    assert "Not jobs in progress" in panel["description"]
    assert "openai_assistants_ingestion_duration_seconds_count" in panel["targets"][0]["expr"]



def _lone_dollars(value: Any, skip: frozenset[str] = frozenset()) -> list[str]:
    """Strings with a `$` that Grafana's provisioning would expand from the environment."""
    if isinstance(value, dict):
        return [hit for key, item in value.items() if key not in skip for hit in _lone_dollars(item, skip)]
    if isinstance(value, list):
        return [hit for item in value for hit in _lone_dollars(item, skip)]
    if isinstance(value, str) and "$" in value.replace("$$", ""):
        return [value]
    return []


def test_provisioning_files_escape_dollars() -> None:
    # Grafana expands $NAME from the environment everywhere in provisioning files except alert
    # annotations; a literal $ is written $$.
    for path in ("provisioning/datasources/otel-assistants.yml", "provisioning/dashboards/otel-assistants.yml"):
        assert not _lone_dollars(support.load_yaml(support.DASHBOARDS / path)), path
    assert not _lone_dollars(support.load_yaml(support.GRAFANA_RULES), skip=frozenset({"annotations"}))
