"""The "vector stores" dashboard: files added to vector stores and how their indexing ends.

One ingestion job is one file added to a store (``ingest_file``) or one file batch
(``ingest_file_batch``); the contract (section 2.7) records a duration point per job and counts the
files per terminal status. It has no gauge of jobs still indexing, so nothing here can show them.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dash_m

from . import catalog as c
from . import promql as q
from .grafana import JOB, RATE, Layout, Query, _dashboard, _ratio_thresholds, row, stat_panel, timeseries_panel

WINDOW = c.INGESTION_WINDOW  # the stat panels show what the alert rule sees
FILES = q.INGESTION_FILES
JOBS = f"{q.INGESTION_DURATION}_count"  # one duration point per job
STATUS = q.INGESTION_STATUS
FAILED = q.eq(STATUS, "failed")
NONE_ENDED = "none ended"


def _or_zero(expr: str, label: str, value: str, window: str = RATE) -> str:
    """``expr``, or while it has no series at all, one series at 0 whose ``label`` reads ``value``.

    Ingestion series appear with the first file that ends; until then the service's Assistants API
    calls stand for "the service is up", and the panel reads 0 (named, so not taken for a measurement)
    instead of no data.
    """
    calls = q.sum_by([], q.rate(f"{q.OPERATION_DURATION}_count", [JOB, q.ASSISTANTS_OPERATIONS], window))
    return f'{expr} or on() label_replace({calls} * 0, "{label}", "{value}", "{label}", "")'


def _by_status(expr: str, window: str = RATE) -> str:
    return _or_zero(expr, STATUS, NONE_ENDED, window)


def _p(quantile: float) -> Query:
    return Query(
        _by_status(q.quantile(quantile, q.INGESTION_DURATION, [JOB], [STATUS], RATE)),
        f"p{round(quantile * 100)} {{{{{STATUS}}}}}",
    )


def ingestion_dashboard() -> dash_m.Dashboard:
    lay = Layout()
    thresholds = _ratio_thresholds(c.FAILED_FILES_RATIO_WARNING)
    failed_ratio = q.ratio([FAILED], [JOB], FILES, [], WINDOW, zero=True)
    board = _dashboard(
        c.VECTOR_STORES_UID,
        c.VECTOR_STORES_TITLE,
        "Files added to OpenAI vector stores (file search): how many are indexed, how many fail and why, "
        "and how long indexing takes, from the otel_assistants instrumentation.",
        "Filters nothing here: ingestion metrics carry no model or assistant name.",
    )
    board = (
        board.with_row(row(lay, "Now"))
        .with_panel(
            stat_panel(
                lay,
                "Files ended",
                "Files that reached a terminal status (completed, failed, cancelled) in the service's "
                "vector stores over the last 30 minutes; a batch whose end was never seen adds the files it "
                "last saw ended.",
                "short",
                Query(_by_status(q.sum_by([], q.increase(FILES, [JOB], WINDOW)), WINDOW)),
                span=8,
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Failed-file ratio",
                "Share of the files that ended over the last 30 minutes with status failed: the number "
                "AssistantsFileIngestionFailureRateHigh alerts on (orange: its threshold).",
                "percentunit",
                Query(_by_status(failed_ratio, WINDOW)),
                thresholds=thresholds,
                span=8,
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Jobs ended",
                "Ingestion jobs (one file added to a store, or one file batch) that ended over the last 30 minutes.",
                "short",
                Query(_by_status(q.sum_by([], q.increase(JOBS, [JOB], WINDOW)), WINDOW)),
                span=8,
            )
        )
        .with_row(row(lay, "Ingestion"))
        .with_panel(
            timeseries_panel(
                lay,
                "Files ingested by status",
                "Files per second that reached a terminal status, by status: completed, failed, "
                "cancelled. A batch adds its file_counts when it ends. "
                f"'{NONE_ENDED}': no file has ended in this service yet.",
                "suffix: files/s",
                [Query(_by_status(q.sum_by([STATUS], q.rate(FILES, [JOB], RATE))), f"{{{{{STATUS}}}}}")],
                stacked=True,
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                c.PANEL_FAILED_FILES,
                "Failed files as a share of all files that ended: in all, and by error_type, the failed "
                "file's last_error.code (unsupported_file, invalid_file, server_error, ...), "
                "files_failed for the failed files of a batch (a batch reports counts, not each file's "
                "code), or an SDK exception. Dashed line: the AssistantsFileIngestionFailureRateHigh threshold (which "
                f"judges 30 minutes). '{NONE_ENDED}' / 'none failed': nothing to divide yet.",
                "percentunit",
                [
                    Query(_by_status(q.ratio([FAILED], [JOB], FILES, [], RATE, zero=True)), "all failed"),
                    Query(
                        _or_zero(
                            q.sum_by([q.ERROR_TYPE], q.rate(FILES, [JOB, FAILED], RATE))
                            + " / on() group_left() "
                            + q.sum_by([], q.rate(FILES, [JOB], RATE)),
                            q.ERROR_TYPE,
                            "none failed",
                        ),
                        f"{{{{{q.ERROR_TYPE}}}}}",
                    ),
                ],
                thresholds=thresholds,
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Indexing duration by status",
                "p50 and p95 of ingestion job duration, from the create request to the first terminal "
                "status seen, by status. File and batch jobs are not told apart in the metrics (their "
                "spans are: ingest_file, ingest_file_batch); a batch takes as long as its slowest file.",
                "s",
                [_p(0.5), _p(0.95)],
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Ingestion jobs ended",
                "Jobs that ended per minute, by status. Not jobs in progress: the telemetry contract "
                "has no gauge of ingestion jobs still indexing (as openai.assistants.runs.active is for "
                "runs), so a job is seen only once it ends, here and as its ingest_file or "
                "ingest_file_batch span. A store that stays 'in_progress' for long shows as a gap here "
                "and late points in the duration panel.",
                "suffix: jobs/min",
                [Query(_by_status(q.sum_by([STATUS], q.rate(JOBS, [JOB], RATE)) + " * 60"), f"{{{{{STATUS}}}}}")],
                stacked=True,
            )
        )
    )
    return board.build()


DASHBOARDS = {"assistants-vector-stores.json": ingestion_dashboard}
