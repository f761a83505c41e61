"""The alerts, defined once and rendered both as Prometheus rules and as Grafana-managed rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from otel_assistants.bundle import RUNBOOK_BASE_URL

from . import catalog as c
from . import promql as q

# Grafana provisioning: the Prometheus data source the rules query (see provisioning.py) and the
# folder they are filed under.
GRAFANA_DATASOURCE_UID = "prometheus"
GRAFANA_FOLDER = "OpenAI Assistants"


@dataclass(frozen=True)
class Alert:
    name: str
    severity: str
    group: str
    value: str  # PromQL for the measured number, one series per alerting label set
    threshold: float  # fires while value > threshold ...
    guard: str | None  # ... and this traffic floor holds (joined with "and")
    unless: str | None  # ... unless this holds
    for_: str
    window_seconds: int  # longest range in the expressions, for Grafana's query time range
    summary: str
    description: str  # Prometheus template; $value is the measured number
    dashboard_uid: str
    panel: str  # the panel the runbook opens

    @property
    def uid(self) -> str:
        return f"oa-{self.name.removeprefix('Assistants').lower()}-{self.severity}"[:40]

    @property
    def runbook_url(self) -> str:
        return f"{RUNBOOK_BASE_URL}/{self.name}.md"

    @property
    def expr(self) -> str:
        """The Prometheus rule expression: value, threshold, traffic floor and exception."""
        text = f"{self.value}\n> {self.threshold:g}"
        if self.guard:
            text += f"\nand\n{self.guard}"
        if self.unless:
            text += f"\nunless\n{self.unless}"
        return text

    @property
    def grafana_query(self) -> str:
        """The same series for Grafana, whose threshold expression does the "> threshold" part."""
        text = self.value
        if self.guard:
            text += f"\nand\n{self.guard}"
        if self.unless:
            text += f"\nunless\n{self.unless}"
        return text


_ACTIVE_RUN_CONFLICT = q.eq(q.ERROR_REASON, q.THREAD_HAS_ACTIVE_RUN)


def _ended_ratio(part: str, window: str) -> str:
    return q.sum_by(["job"], q.rate(q.RUNS, [part], window)) + "\n/\n" + q.sum_by(["job"], q.rate(q.RUNS, [], window))


def _min_runs(window: str) -> str:
    return f"{q.sum_by(['job'], q.increase(q.RUNS, [], window))} >= {c.MIN_RUNS}"


def _operations(extra: list[str]) -> list[str]:
    return [q.ASSISTANTS_OPERATIONS, *extra]


def _calls_ratio(part: str, by: list[str], window: str) -> str:
    """Assistants API calls matching ``part`` as a share of all of them."""
    calls = f"{q.OPERATION_DURATION}_count"
    return (
        q.sum_by(by, q.rate(calls, _operations([part]), window))
        + "\n/\n"
        + q.sum_by(by, q.rate(calls, _operations([]), window))
    )


def _min_calls(by: list[str], window: str, floor: int, part: str | None = None) -> str:
    matchers = _operations([part] if part else [])
    return f"{q.sum_by(by, q.increase(f'{q.OPERATION_DURATION}_count', matchers, window))} >= {floor}"


def _failure(severity: str, threshold: float, for_: str) -> Alert:
    return Alert(
        name="AssistantsRunFailureRateHigh",
        severity=severity,
        group="runs",
        value=_ended_ratio(q.eq(q.STATUS, "failed"), "10m"),
        threshold=threshold,
        guard=_min_runs("10m"),
        unless=None,
        for_=for_,
        window_seconds=600,
        summary="Assistants runs are failing in {{ $labels.job }}",
        description=(
            "{{ $value | humanizePercentage }} of the runs that ended in {{ $labels.job }} over the last "
            f"10 minutes have status failed (threshold {threshold:.0%}). The run's last_error.code is "
            "its error_type: see the Top error types panel."
        ),
        dashboard_uid=c.RUNS_UID,
        panel=c.PANEL_FAILURE_RATIO,
    )


ALERTS: list[Alert] = [
    _failure("warning", c.FAILURE_RATIO_WARNING, "10m"),
    _failure("critical", c.FAILURE_RATIO_CRITICAL, "5m"),
    Alert(
        name="AssistantsRunExpiryRateHigh",
        severity="warning",
        group="runs",
        value=_ended_ratio(q.eq(q.STATUS, "expired"), "10m"),
        threshold=c.EXPIRY_RATIO_WARNING,
        guard=_min_runs("10m"),
        unless=None,
        for_="10m",
        window_seconds=600,
        summary="Assistants runs are expiring in {{ $labels.job }}",
        description=(
            "{{ $value | humanizePercentage }} of the runs that ended in {{ $labels.job }} over the last "
            f"10 minutes expired (threshold {c.EXPIRY_RATIO_WARNING:.0%}). Runs expire when their "
            "tool outputs are not submitted within 10 minutes."
        ),
        dashboard_uid=c.RUNS_UID,
        panel=c.PANEL_FAILURE_RATIO,
    ),
    Alert(
        name="AssistantsRunsRateLimited",
        severity="warning",
        group="runs",
        value=_ended_ratio(q.match(q.ERROR_TYPE, q.RATE_LIMIT_ERRORS), "10m"),
        threshold=c.RATE_LIMITED_RATIO_WARNING,
        guard=_min_runs("10m"),
        unless=None,
        for_="10m",
        window_seconds=600,
        summary="Assistants runs are rate limited in {{ $labels.job }}",
        description=(
            "{{ $value | humanizePercentage }} of the runs that ended in {{ $labels.job }} over the last "
            f"10 minutes failed on rate limits (threshold {c.RATE_LIMITED_RATIO_WARNING:.0%}): "
            "last_error.code rate_limit_exceeded, or a 429 (openai.RateLimitError) creating the run."
        ),
        dashboard_uid=c.RUNS_UID,
        panel=c.PANEL_TOP_ERRORS,
    ),
    Alert(
        name="AssistantsRunQueueTimeHigh",
        severity="warning",
        group="runs",
        value=q.quantile(0.95, q.QUEUE_DURATION, [], ["job", q.RESPONSE_MODEL], "10m"),
        threshold=c.QUEUE_P95_WARNING_SECONDS,
        guard=(
            q.sum_by(["job", q.RESPONSE_MODEL], q.increase(f"{q.QUEUE_DURATION}_count", [], "10m"))
            + f" >= {c.MIN_QUEUED_RUNS}"
        ),
        unless=None,
        for_="15m",
        window_seconds=600,
        summary="Assistants runs wait long in the queue for {{ $labels.gen_ai_response_model }}",
        description=(
            "p95 queue time (started_at - created_at) of {{ $labels.gen_ai_response_model }} runs in "
            "{{ $labels.job }} is {{ $value | humanizeDuration }} over the last 10 minutes "
            f"(threshold {c.QUEUE_P95_WARNING_SECONDS:g}s)."
        ),
        dashboard_uid=c.RUNS_UID,
        panel=c.PANEL_QUEUE,
    ),
    Alert(
        name="AssistantsRunsStuck",
        severity="warning",
        group="runs",
        value=q.sum_by(["job"], q.RUNS_ACTIVE),
        threshold=0,
        guard=None,
        unless=q.sum_by(["job"], q.increase(q.RUNS, [], "10m")) + " > 0",
        for_="10m",
        window_seconds=600,
        summary="Assistants runs are not ending in {{ $labels.job }}",
        description=(
            "{{ $value }} runs are in progress in {{ $labels.job }} but none has been seen to end "
            "for at least 20 minutes, although the server expires runs after 10."
        ),
        dashboard_uid=c.RUNS_UID,
        panel=c.PANEL_ACTIVE,
    ),
    Alert(
        name="AssistantsToolOutputsNotSubmitted",
        severity="warning",
        group="tools",
        value=(
            q.sum_by(["job"], q.rate(f"{q.TOOL_DURATION}_count", [q.eq(q.ERROR_TYPE, q.NOT_SUBMITTED)], "15m"))
            + "\n/\n"
            + q.sum_by(["job"], q.rate(f"{q.TOOL_DURATION}_count", [q.eq(q.TOOL_TYPE, "function")], "15m"))
        ),
        threshold=c.NOT_SUBMITTED_RATIO_WARNING,
        guard=(
            q.sum_by(["job"], q.increase(f"{q.TOOL_DURATION}_count", [q.eq(q.TOOL_TYPE, "function")], "15m"))
            + f" >= {c.MIN_FUNCTION_CALLS}"
        ),
        unless=None,
        for_="10m",
        window_seconds=900,
        summary="Function tool outputs are not submitted in {{ $labels.job }}",
        description=(
            "{{ $value | humanizePercentage }} of the function calls runs asked {{ $labels.job }} for "
            "over the last 15 minutes never got their output submitted before the run ended "
            f"(threshold {c.NOT_SUBMITTED_RATIO_WARNING:.0%}). Those runs expire or are abandoned."
        ),
        dashboard_uid=c.TOOLS_UID,
        panel=c.PANEL_NOT_SUBMITTED,
    ),
    Alert(
        name="AssistantsAPIServerErrors",
        severity="warning",
        group="api",
        value=_calls_ratio(q.eq(q.ERROR_TYPE, q.SERVER_ERROR_EXCEPTION), ["job"], "10m"),
        threshold=c.SERVER_ERROR_RATIO_WARNING,
        guard=_min_calls(["job"], "10m", c.MIN_OPERATIONS),
        unless=None,
        for_="10m",
        window_seconds=600,
        summary="The Assistants API answers {{ $labels.job }} with server errors",
        description=(
            "{{ $value | humanizePercentage }} of the Assistants API calls {{ $labels.job }} made over "
            "the last 10 minutes failed with a 5xx (openai.InternalServerError), threshold "
            f"{c.SERVER_ERROR_RATIO_WARNING:.0%}."
        ),
        dashboard_uid=c.TOOLS_UID,
        panel=c.PANEL_OPERATION_ERRORS,
    ),
    Alert(
        name="AssistantsAPIEndpointNotFound",
        severity="critical",
        group="api",
        value=_calls_ratio(q.eq(q.ERROR_TYPE, q.NOT_FOUND_EXCEPTION), ["job", q.OPERATION], "15m"),
        threshold=c.NOT_FOUND_RATIO_CRITICAL,
        guard=_min_calls(["job", q.OPERATION], "15m", c.MIN_CALLS_PER_OPERATION),
        unless=None,
        for_="15m",
        window_seconds=900,
        summary="Assistants API {{ $labels.gen_ai_operation_name }} answers 404 in {{ $labels.job }}",
        description=(
            "{{ $value | humanizePercentage }} of the {{ $labels.gen_ai_operation_name }} calls "
            "{{ $labels.job }} made over the last 15 minutes got a 404 (openai.NotFoundError), "
            f"threshold {c.NOT_FOUND_RATIO_CRITICAL:.0%}. A retired endpoint answers this way."
        ),
        dashboard_uid=c.TOOLS_UID,
        panel=c.PANEL_OPERATION_ERRORS,
    ),
    Alert(
        name="AssistantsThreadActiveRunConflicts",
        severity="warning",
        group="api",
        value=_calls_ratio(_ACTIVE_RUN_CONFLICT, ["job"], "15m"),
        threshold=c.ACTIVE_RUN_CONFLICT_RATIO_WARNING,
        guard=(
            _min_calls(["job"], "15m", c.MIN_OPERATIONS)
            + "\nand\n"
            + _min_calls(["job"], "15m", c.MIN_ACTIVE_RUN_CONFLICTS, _ACTIVE_RUN_CONFLICT)
        ),
        unless=None,
        for_="10m",
        window_seconds=900,
        summary="{{ $labels.job }} writes to threads whose run is still active",
        description=(
            "{{ $value | humanizePercentage }} of the Assistants API calls {{ $labels.job }} made over "
            "the last 15 minutes were refused because the thread still had an active run (error reason "
            f"thread_has_active_run), threshold {c.ACTIVE_RUN_CONFLICT_RATIO_WARNING:.0%}. The app adds "
            "messages or starts runs before the thread's last run has ended."
        ),
        dashboard_uid=c.TOOLS_UID,
        panel=c.PANEL_ERROR_REASONS,
    ),
    Alert(
        name="AssistantsFileIngestionFailureRateHigh",
        severity="warning",
        group="ingestion",
        value=(
            q.sum_by(["job"], q.rate(q.INGESTION_FILES, [q.eq(q.INGESTION_STATUS, "failed")], c.INGESTION_WINDOW))
            + "\n/\n"
            + q.sum_by(["job"], q.rate(q.INGESTION_FILES, [], c.INGESTION_WINDOW))
        ),
        threshold=c.FAILED_FILES_RATIO_WARNING,
        guard=(
            q.sum_by(["job"], q.increase(q.INGESTION_FILES, [], c.INGESTION_WINDOW)) + f" >= {c.MIN_INGESTED_FILES}"
        ),
        unless=None,
        for_="15m",
        window_seconds=1800,
        summary="Files fail to index in the vector stores of {{ $labels.job }}",
        description=(
            "{{ $value | humanizePercentage }} of the files that finished indexing in the vector stores "
            "of {{ $labels.job }} over the last 30 minutes failed (threshold "
            f"{c.FAILED_FILES_RATIO_WARNING:.0%}), so file_search cannot find them. A failed file's "
            "last_error.code is its error_type: see the Failed-file ratio by error type panel."
        ),
        dashboard_uid=c.VECTOR_STORES_UID,
        panel=c.PANEL_FAILED_FILES,
    ),
]

GROUPS = {
    "runs": "otel-assistants-runs",
    "tools": "otel-assistants-tools",
    "api": "otel-assistants-api",
    "ingestion": "otel-assistants-ingestion",
}


def prometheus_rules() -> dict[str, Any]:
    groups = []
    for key, group_name in GROUPS.items():
        rules = []
        for alert in (a for a in ALERTS if a.group == key):
            rules.append(
                {
                    "alert": alert.name,
                    "expr": alert.expr,
                    "for": alert.for_,
                    "labels": {"severity": alert.severity},
                    "annotations": {
                        "summary": alert.summary,
                        "description": alert.description,
                        "runbook_url": alert.runbook_url,
                    },
                }
            )
        groups.append({"name": group_name, "rules": rules})
    return {"groups": groups}
