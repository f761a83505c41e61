"""Helpers shared by the dashboard and alerting tests."""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import socket
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = REPO / "dashboards"
RULES = sorted((DASHBOARDS / "alerts").glob("*.yml"))
RULE_TESTS = sorted((DASHBOARDS / "alerts" / "tests").glob("*.yml"))
GRAFANA_RULES = DASHBOARDS / "provisioning" / "alerting" / "otel-assistants.yml"
RUNBOOKS = REPO / "docs" / "runbooks"

APT_HINT = "apt-get install prometheus prometheus-alertmanager"
# How each kind of contract instrument shows in the Prometheus exposition.
PROMETHEUS_KINDS = {"counter": "counter", "up-down counter": "gauge", "histogram": "histogram"}
# Labels Prometheus or the exporter add, and the histogram bucket label: not contract attributes.
ADDED_LABELS = {"job", "instance", "le", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}


def missing(reason: str) -> None:
    """Skip locally, fail in CI: CI must never pass by leaving a check out."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
    pytest.skip(reason)


def require_binary(*names: str) -> str:
    for name in names:
        path = shutil.which(name)
        if path:
            return path
    missing(f"{' or '.join(names)} not found on PATH ({APT_HINT})")
    raise AssertionError("unreachable")


def require_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"Python module {name} is missing (pip install -e '.[dashboards]')")
        raise AssertionError("unreachable") from None


@cache
def generator() -> ModuleType:
    """dashboards/generate.py, loaded as a module (it puts dashboards/ on sys.path for dashgen)."""
    require_module("grafana_foundation_sdk")
    require_module("yaml")
    if str(DASHBOARDS) not in sys.path:
        sys.path.insert(0, str(DASHBOARDS))
    spec = importlib.util.spec_from_file_location("otel_assistants_dashboards_generate", DASHBOARDS / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_yaml(path: Path) -> Any:
    yaml = require_module("yaml")
    return yaml.safe_load(path.read_text())


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((DASHBOARDS / "grafana").glob("*.json"))}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in board["panels"]:
        found.append(panel)
        found.extend(panel.get("panels") or [])  # panels of collapsed rows
    return found


def panel_queries(board: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(panel title, refId, expr) of every query of every panel."""
    return [
        (panel["title"], target["refId"], target["expr"])
        for panel in panels(board)
        for target in panel.get("targets") or []
    ]


def prometheus_rules() -> list[dict[str, Any]]:
    return [rule for path in RULES for group in load_yaml(path)["groups"] for rule in group["rules"]]


def grafana_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(GRAFANA_RULES)["groups"] for rule in group["rules"]]


# Grafana's template variables, replaced by what Grafana would send with "All" selected.
SUBSTITUTIONS = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "5m",
    "$job": ".*",
    "$model": ".*",
    "$assistant": ".*",
}


def substitute(expr: str) -> str:
    # Longest names first: $__rate_interval before $__range and $__interval.
    for name in sorted(SUBSTITUTIONS, key=len, reverse=True):
        expr = expr.replace(name, SUBSTITUTIONS[name])
    return expr


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- a small PromQL reader, enough to list the series and labels an expression uses -------------

_KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset", "and", "or",
    "unless", "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk", "bottomk", "quantile",
    "count_values", "group", "inf", "nan",
}  # fmt: skip
_TOKEN = re.compile(
    r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`'  # strings
    r"|\[[^\]]*\]"  # range and subquery brackets
    r"|[A-Za-z_:][A-Za-z0-9_:]*"  # identifiers
    r"|=~|!~|!=|==|>=|<=|[{}(),=<>+\-*/%^]"
    r"|\d+(?:\.\d+)?(?:e[+-]?\d+)?"
    r"|\s+"
)


def _tokens(expr: str) -> list[str]:
    tokens, position = [], 0
    while position < len(expr):
        match = _TOKEN.match(expr, position)
        assert match, f"cannot read PromQL at {expr[position : position + 20]!r} in {expr!r}"
        if not match.group().isspace():
            tokens.append(match.group())
        position = match.end()
    return tokens


def promql_names(expr: str) -> tuple[dict[str, set[str]], set[str]]:
    """(series -> label names matched in its selector, label names used in by/without/on/ignoring)."""
    tokens = _tokens(expr)
    series: dict[str, set[str]] = {}
    grouping: set[str] = set()
    index = 0
    while index < len(tokens):
        token = tokens[index]
        following = tokens[index + 1] if index + 1 < len(tokens) else ""
        if token in {"by", "without", "on", "ignoring", "group_left", "group_right"} and following == "(":
            close = tokens.index(")", index)
            grouping.update(t for t in tokens[index + 2 : close] if t != ",")
            index = close + 1
            continue
        if re.fullmatch(r"[A-Za-z_:][A-Za-z0-9_:]*", token) and token not in _KEYWORDS and following != "(":
            labels = series.setdefault(token, set())
            if following == "{":
                close = tokens.index("}", index)
                inside = tokens[index + 2 : close]
                labels.update(inside[i] for i in range(0, len(inside), 4))  # name op "value" ,
                index = close + 1
                continue
        index += 1
    return series, grouping
