"""Grafana provisioning files: data sources, the dashboard provider and Grafana-managed alert rules."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from grafana_foundation_sdk.builders import alerting as alert_b
from grafana_foundation_sdk.builders import expr as expr_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import alerting as alert_m
from grafana_foundation_sdk.models import dashboard as dash_m

from .alerts import ALERTS, GRAFANA_DATASOURCE_UID, GRAFANA_FOLDER, GROUPS, Alert

TEMPO_UID = "tempo"
JAEGER_UID = "jaeger"
DASHBOARDS_PATH = "/var/lib/grafana/dashboards/otel-assistants"
EXPRESSIONS = dash_m.DataSourceRef(type_val="__expr__", uid="__expr__")

# Grafana expands $NAME from the environment in provisioning files (except in alert annotations);
# $$ stands for a literal $. Grafana's own $__tags placeholder has to be written that way.
TAGS = "$$__tags"

# Opened from a span in Tempo or Jaeger: the outcome of the runs of the span's service around it.
_TRACE_TO_METRICS = {
    "datasourceUid": GRAFANA_DATASOURCE_UID,
    "spanStartTimeShift": "-10m",
    "spanEndTimeShift": "10m",
    "tags": [{"key": "service.name", "value": "job"}],
    "queries": [
        {
            "name": "Runs by status",
            "query": f"sum by (openai_assistants_run_status) (rate(openai_assistants_runs_total{{{TAGS}}}[5m]))",
        },
        {
            "name": "Run duration p95",
            "query": "histogram_quantile(0.95, sum by (le) "
            f"(rate(openai_assistants_run_duration_seconds_bucket{{{TAGS}}}[5m])))",
        },
    ],
}


def datasources() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "Prometheus",
                "uid": GRAFANA_DATASOURCE_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": "http://prometheus:9090",
                "isDefault": True,
                "jsonData": {
                    "httpMethod": "POST",
                    # The scrape interval: Grafana derives $__rate_interval from it.
                    "timeInterval": "15s",
                    # Exemplars (through an OpenTelemetry Collector) link a latency point to its trace.
                    "exemplarTraceIdDestinations": [
                        {"name": "trace_id", "datasourceUid": TEMPO_UID, "urlDisplayLabel": "Trace in Tempo"},
                        {"name": "trace_id", "datasourceUid": JAEGER_UID, "urlDisplayLabel": "Trace in Jaeger"},
                    ],
                },
            },
            {
                "name": "Tempo",
                "uid": TEMPO_UID,
                "type": "tempo",
                "access": "proxy",
                "url": "http://tempo:3200",
                "jsonData": {
                    "tracesToMetrics": _TRACE_TO_METRICS,
                    "serviceMap": {"datasourceUid": GRAFANA_DATASOURCE_UID},
                    "nodeGraph": {"enabled": True},
                    "search": {"hide": False},
                },
            },
            {
                "name": "Jaeger",
                "uid": JAEGER_UID,
                "type": "jaeger",
                "access": "proxy",
                "url": "http://jaeger:16686",
                "jsonData": {
                    "tracesToMetrics": _TRACE_TO_METRICS,
                    "nodeGraph": {"enabled": True},
                },
            },
        ],
    }


def dashboard_provider() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "otel-assistants",
                "orgId": 1,
                "folder": GRAFANA_FOLDER,
                "type": "file",
                "disableDeletion": False,
                "allowUiUpdates": False,
                "updateIntervalSeconds": 60,
                "options": {"path": DASHBOARDS_PATH, "foldersFromFilesStructure": False},
            }
        ],
    }


def _titles() -> dict[tuple[str, str], str]:
    # Grafana wants rule titles unique within a folder; Prometheus is happy with one alert name at
    # two severities. The severity is added only where a name repeats.
    repeats = Counter(alert.name for alert in ALERTS)
    return {(a.name, a.severity): a.name if repeats[a.name] == 1 else f"{a.name} ({a.severity})" for a in ALERTS}


def _grafana_rule(alert: Alert, title: str, panel_ids: dict[tuple[str, str], int]) -> dict[str, Any]:
    query = (
        alert_b.Query("A")
        .datasource_uid(GRAFANA_DATASOURCE_UID)
        .relative_time_range(alert_m.RelativeTimeRange(from_val=alert.window_seconds, to=0))
        .model(
            prom_b.Dataquery()
            .ref_id("A")
            .expr(alert.grafana_query)
            .instant()
            .datasource(dash_m.DataSourceRef(type_val="prometheus", uid=GRAFANA_DATASOURCE_UID))
        )
    )
    reduce = (
        alert_b.Query("B")
        .datasource_uid("__expr__")
        .model(
            expr_b.TypeReduce()
            .ref_id("B")
            .datasource(EXPRESSIONS)
            .expression("A")
            .reducer("last")
            .settings(expr_b.ExprTypeReduceSettings().mode("dropNN"))
        )
    )
    threshold = (
        alert_b.Query("C")
        .datasource_uid("__expr__")
        .model(
            expr_b.TypeThreshold()
            .ref_id("C")
            .datasource(EXPRESSIONS)
            .expression("B")
            .conditions(
                [
                    expr_b.ExprTypeThresholdConditions().evaluator(
                        expr_b.ExprTypeThresholdConditionsEvaluator().type("gt").params([alert.threshold])
                    )
                ]
            )
        )
    )
    rule = (
        alert_b.Rule(title)
        .uid(alert.uid)
        .rule_group(GROUPS[alert.group])
        .queries([query, reduce, threshold])
        .condition("C")
        .for_val(alert.for_)
        # No series means the condition does not hold (the expressions return only offending series).
        .no_data_state("OK")
        .exec_err_state("Error")
        .is_paused(False)
        .labels({"severity": alert.severity})
        .annotations(
            {
                "summary": alert.summary,
                # Grafana names the value of the reduced query B instead of Prometheus' $value.
                "description": alert.description.replace("$value", "$values.B.Value"),
                "runbook_url": alert.runbook_url,
            }
        )
    )
    payload: dict[str, Any] = json.loads(json.dumps(rule.build(), cls=JSONEncoder))
    # The SDK models the HTTP API; file provisioning takes folder, group and org from the group.
    for key in ("folderUID", "ruleGroup", "orgID"):
        payload.pop(key, None)
    payload["dashboardUid"] = alert.dashboard_uid
    payload["panelId"] = panel_ids[(alert.dashboard_uid, alert.panel)]
    return payload


def grafana_alert_rules(panel_ids: dict[tuple[str, str], int]) -> dict[str, Any]:
    titles = _titles()
    groups = []
    for key, group_name in GROUPS.items():
        rules = [
            _grafana_rule(alert, titles[(alert.name, alert.severity)], panel_ids)
            for alert in ALERTS
            if alert.group == key
        ]
        groups.append({"orgId": 1, "name": group_name, "folder": GRAFANA_FOLDER, "interval": "1m", "rules": rules})
    return {"apiVersion": 1, "groups": groups}


def panel_ids(dashboards: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """(dashboard uid, panel title) -> panel id, for linking alerts to the panel they are about."""
    found: dict[tuple[str, str], int] = {}
    for board in dashboards:
        for panel in board["panels"]:
            found[(board["uid"], panel["title"])] = panel["id"]
    return found
