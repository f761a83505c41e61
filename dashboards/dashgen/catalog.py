"""Names and numbers shared by the dashboards and the alert rules, so that the two cannot disagree."""

from __future__ import annotations

# Dashboards.
RUNS_UID = "otel-assistants-runs"
RUNS_TITLE = "OpenAI Assistants: runs"
TOOLS_UID = "otel-assistants-tools"
TOOLS_TITLE = "OpenAI Assistants: tools and streams"
MIGRATION_UID = "otel-assistants-migration"
MIGRATION_TITLE = "OpenAI Assistants → Responses"
VECTOR_STORES_UID = "otel-assistants-vector-stores"
VECTOR_STORES_TITLE = "OpenAI Assistants: vector stores"
TAG = "otel-assistants"

# Panels an alert points the on-call engineer at.
PANEL_FAILURE_RATIO = "Failure and expiry ratio"
PANEL_TOP_ERRORS = "Top error types"
PANEL_QUEUE = "Queue time"
PANEL_ACTIVE = "Active runs"
PANEL_TOOL_LATENCY = "Tool-call duration p95 by tool"
PANEL_NOT_SUBMITTED = "Tool calls not submitted"
PANEL_OPERATION_ERRORS = "Operation errors by type"
PANEL_ERROR_REASONS = "API errors by reason"
PANEL_FAILED_FILES = "Failed-file ratio by error type"

# Alert thresholds; the dashboards draw the same numbers as threshold lines and colours.
FAILURE_RATIO_WARNING = 0.05
FAILURE_RATIO_CRITICAL = 0.25
EXPIRY_RATIO_WARNING = 0.05
RATE_LIMITED_RATIO_WARNING = 0.05
QUEUE_P95_WARNING_SECONDS = 30.0  # a bucket boundary, so histogram_quantile is exact there
NOT_SUBMITTED_RATIO_WARNING = 0.05
SERVER_ERROR_RATIO_WARNING = 0.05
NOT_FOUND_RATIO_CRITICAL = 0.5
FAILED_FILES_RATIO_WARNING = 0.1
ACTIVE_RUN_CONFLICT_RATIO_WARNING = 0.02

# Ratios are only judged on enough traffic: this many ended runs (or calls) in the alert's window.
MIN_RUNS = 20
MIN_QUEUED_RUNS = 20
MIN_FUNCTION_CALLS = 10
MIN_OPERATIONS = 20
MIN_CALLS_PER_OPERATION = 10
MIN_INGESTED_FILES = 10
MIN_ACTIVE_RUN_CONFLICTS = 5  # besides MIN_OPERATIONS calls: a one-off double submit does not alert

# Files are added to vector stores in bursts (an upload, a batch), so their alert looks further back.
INGESTION_WINDOW = "30m"

# Runs expire on the server after 10 minutes; a function tool slower than this puts runs at risk.
RUN_EXPIRY_SECONDS = 600.0
TOOL_LATENCY_WARNING_SECONDS = 300.0
