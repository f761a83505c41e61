"""The vector stores dashboard's queries, evaluated by promtool on known series.

Beside the live drill (one known mix), exact values here: on a service with ingestion the files'
rates and shares by status and error type, on a service without it the named zero series.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from . import support

OPERATIONS = 'gen_ai_client_operation_duration_seconds_count{{job="{job}", gen_ai_operation_name="list_files"}}'
FILES = 'openai_assistants_ingestion_files_total{{job="stores", openai_assistants_ingestion_status="{status}"{extra}}}'
# Per 15 s, so per second a quarter of the value: 2 completed, 1.5 failed (1 unsupported_file, 0.5
# files_failed) and 0.5 cancelled files per second; 4 in all.
SERIES = {
    FILES.format(status="completed", extra=""): "0+30x80",
    FILES.format(status="failed", extra=', error_type="unsupported_file"'): "0+15x80",
    FILES.format(status="failed", extra=', error_type="files_failed"'): "0+7.5x80",
    FILES.format(status="cancelled", extra=""): "0+7.5x80",
    OPERATIONS.format(job="stores"): "0+1x80",
    OPERATIONS.format(job="quiet"): "0+1x80",  # makes calls, has added no file yet
}


def _query(title: str, ref: str, job: str) -> str:
    board = support.dashboards()["assistants-vector-stores.json"]
    [expr] = [e for t, r, e in support.panel_queries(board) if (t, r) == (title, ref)]
    return support.substitute(expr.replace("$job", job))


# Rates are extrapolated and summed in no fixed order, so their last bits vary from run to run:
# compared on a grid of 1/1024, where every expected value here is exact.
GRID = 1 / 1024


def _case(title: str, ref: str, job: str, samples: list[tuple[str, float]]) -> dict[str, Any]:
    return {
        "expr": f"round(({_query(title, ref, job)}), {GRID})",
        "eval_time": "10m",
        "exp_samples": [{"labels": labels, "value": value} for labels, value in samples],
    }


def test_ingestion_queries_on_known_series(tmp_path: Path) -> None:
    promtool = support.require_binary("promtool")
    yaml = support.require_module("yaml")
    status = "openai_assistants_ingestion_status"
    none_ended = [(f'{{{status}="none ended"}}', 0.0)]
    cases = [
        _case(
            "Files ingested by status",
            "A",
            "stores",
            [(f'{{{status}="completed"}}', 2.0), (f'{{{status}="failed"}}', 1.5), (f'{{{status}="cancelled"}}', 0.5)],
        ),
        _case("Files ingested by status", "A", "quiet", none_ended),
        _case("Failed-file ratio by error type", "A", "stores", [("{}", 0.375)]),
        _case(
            "Failed-file ratio by error type",
            "B",
            "stores",
            [('{error_type="unsupported_file"}', 0.25), ('{error_type="files_failed"}', 0.125)],
        ),
        _case("Failed-file ratio by error type", "B", "quiet", [('{error_type="none failed"}', 0.0)]),
        _case("Failed-file ratio", "A", "stores", [("{}", 0.375)]),
        _case("Failed-file ratio", "A", "quiet", none_ended),
        _case("Indexing duration by status", "B", "quiet", none_ended),
        _case("Ingestion jobs ended", "A", "quiet", none_ended),
    ]
    tests = {
        "tests": [
            {
                "interval": "15s",
                "input_series": [{"series": series, "values": values} for series, values in SERIES.items()],
                "promql_expr_test": cases,
            }
        ]
    }
    path = tmp_path / "ingestion.test.yml"
    path.write_text(yaml.safe_dump(tests, sort_keys=False, width=10_000))
    result = subprocess.run(
        [promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
