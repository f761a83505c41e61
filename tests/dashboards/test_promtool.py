"""The Prometheus rules pass promtool's checks and unit tests, and the unit tests cover every alert."""

from __future__ import annotations

import subprocess
from typing import Any

from . import support

# Jobs in the unit tests that must never fire: below the threshold, or too little traffic.
SILENT_JOBS = {"cool", "tiny"}
SILENT_JOBS_OF = {"AssistantsRunsStuck": {"busy", "idle", "slow"}}


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    promtool = support.require_binary("promtool")
    return subprocess.run([promtool, *args], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_check_rules() -> None:
    assert support.RULES
    result = _promtool("check", "rules", *map(str, support.RULES))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests() -> None:
    assert support.RULE_TESTS
    result = _promtool("test", "rules", *map(str, support.RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def _cases() -> list[dict[str, Any]]:
    cases = []
    for path in support.RULE_TESTS:
        for group in support.load_yaml(path)["tests"]:
            jobs = {
                series["series"].split('job="', 1)[1].split('"', 1)[0]
                for series in group["input_series"]
                if 'job="' in series["series"]
            }
            for case in group.get("alert_rule_test", []):
                cases.append({**case, "jobs": jobs})
    return cases


def test_unit_tests_cover_every_alert() -> None:
    cases = _cases()
    for rule in support.prometheus_rules():
        name, severity = rule["alert"], rule["labels"]["severity"]
        mine = [c for c in cases if c["alertname"] == name]
        assert mine, f"no promtool test for {name}"
        # It fires, after its for: ...
        fired = [c for c in mine for a in c.get("exp_alerts") or [] if a["exp_labels"].get("severity") == severity]
        assert fired, f"no test sees {name} ({severity}) fire"
        # ... is silent before its for: has passed ...
        assert any(not c.get("exp_alerts") for c in mine), f"no test sees {name} silent before its for:"
        # ... and never fires for the jobs below its threshold or with too little traffic.
        silent = SILENT_JOBS_OF.get(name, SILENT_JOBS)
        for case in mine:
            assert silent <= case["jobs"], f"{name}: the test lacks the jobs {silent - case['jobs']}"
            firing_jobs = {a["exp_labels"]["job"] for a in case.get("exp_alerts") or []}
            assert not firing_jobs & silent, f"{name} expected to fire for {firing_jobs & silent}"
