"""Series and label names as Prometheus sees the contract's instruments, and small PromQL builders.

Names follow what opentelemetry-exporter-prometheus exposes (dots become underscores, ``s`` becomes
``_seconds``, counters get ``_total``, curly-brace units are dropped); the fixture
``tests/dashboards/fixtures/contract_metrics.prom`` records it and the tests hold these names to it.
"""

from __future__ import annotations

from collections.abc import Sequence

# Series, one per contract instrument (histograms without their _bucket/_sum/_count suffix).
RUNS = "openai_assistants_runs_total"
RUN_DURATION = "openai_assistants_run_duration_seconds"
QUEUE_DURATION = "openai_assistants_run_queue_duration_seconds"
RUN_POLLS = "openai_assistants_run_polls"
RUNS_ACTIVE = "openai_assistants_runs_active"
STEP_DURATION = "openai_assistants_run_step_duration_seconds"
TOOL_DURATION = "openai_assistants_tool_call_duration_seconds"
TOKEN_USAGE = "gen_ai_client_token_usage"
OPERATION_DURATION = "gen_ai_client_operation_duration_seconds"
TIME_TO_FIRST_CHUNK = "gen_ai_client_operation_time_to_first_chunk_seconds"
INGESTION_DURATION = "openai_assistants_ingestion_duration_seconds"
INGESTION_FILES = "openai_assistants_ingestion_files_total"

# Labels.
REQUEST_MODEL = "gen_ai_request_model"
SCOPE = "otel_scope_name"
STATUS = "openai_assistants_run_status"
ERROR_TYPE = "error_type"
RESPONSE_MODEL = "gen_ai_response_model"
AGENT_NAME = "gen_ai_agent_name"
PROVIDER = "gen_ai_provider_name"
OPERATION = "gen_ai_operation_name"
TOKEN_TYPE = "gen_ai_token_type"
TOOL_NAME = "gen_ai_tool_name"
TOOL_TYPE = "gen_ai_tool_type"
STEP_TYPE = "openai_assistants_run_step_type"
STEP_STATUS = "openai_assistants_run_step_status"
INGESTION_STATUS = "openai_assistants_ingestion_status"
ERROR_REASON = "openai_assistants_error_reason"  # on failed requests' operation duration points only

# Label values the instrumentation writes.
INVOKE_AGENT = "invoke_agent"
NOT_SUBMITTED = "tool_output_not_submitted"
SERVER_ERROR_EXCEPTION = "openai.InternalServerError"
NOT_FOUND_EXCEPTION = "openai.NotFoundError"
RATE_LIMIT_ERRORS = "rate_limit_exceeded|openai.RateLimitError"
THREAD_HAS_ACTIVE_RUN = "thread_has_active_run"

# gen_ai_client_* series are shared with other GenAI instrumentations (chat completions, embeddings)
# in the same process: panels and alerts about Assistants API operations leave those out.
OTHER_GENAI_OPERATIONS = "chat|text_completion|embeddings|generate_content"
ASSISTANTS_OPERATIONS = f'{OPERATION}!~"{OTHER_GENAI_OPERATIONS}"'

# The official OpenAI instrumentation (opentelemetry-instrumentation-genai-openai 1.3b0, and
# opentelemetry-instrumentation-openai-v2 before it) records each Responses API call, like each Chat
# Completions call, as gen_ai.operation.name "chat" in the shared gen_ai.client.* instruments, under
# its own instrumentation scope. A scope matcher that also accepts no scope label keeps other
# instrumentations' "chat" out where the scope is exported (exporter, Collector) and still matches
# where it is not.
CHAT = "chat"
OFFICIAL_SCOPES = "opentelemetry.instrumentation.genai.openai|opentelemetry.instrumentation.openai_v2|"
OUR_SCOPES = "otel_assistants|"


def eq(label: str, value: str) -> str:
    return f'{label}="{value}"'


def ne(label: str, value: str) -> str:
    return f'{label}!="{value}"'


def match(label: str, regex: str) -> str:
    return f'{label}=~"{regex}"'


def selector(series: str, matchers: Sequence[str] = ()) -> str:
    return f"{series}{{{', '.join(matchers)}}}" if matchers else series


def rate(series: str, matchers: Sequence[str], window: str) -> str:
    return f"rate({selector(series, matchers)}[{window}])"


def increase(series: str, matchers: Sequence[str], window: str) -> str:
    return f"increase({selector(series, matchers)}[{window}])"


def sum_by(labels: Sequence[str], inner: str) -> str:
    # An empty grouping is written as plain sum(): "sum by () (x)" is valid but reads like a mistake.
    return f"sum by ({', '.join(labels)}) ({inner})" if labels else f"sum({inner})"


def quantile(q: float, histogram: str, matchers: Sequence[str], by: Sequence[str], window: str) -> str:
    buckets = sum_by(["le", *by], rate(f"{histogram}_bucket", matchers, window))
    return f"histogram_quantile({q:g}, {buckets})"


def as_label(expr: str, new: str, old: str) -> str:
    """``expr`` with label ``old`` copied to ``new``: series of two instrumentations that name the
    model differently can then be matched."""
    return f'label_replace({expr}, "{new}", "$1", "{old}", "(.*)")'


def ratio(part: Sequence[str], whole: Sequence[str], series: str, by: Sequence[str], window: str, zero: bool) -> str:
    """``part`` over ``whole`` of one counter; with ``zero`` a missing part reads as 0, not as no data."""
    numerator = sum_by(by, rate(series, [*whole, *part], window))
    denominator = sum_by(by, rate(series, whole, window))
    if zero:
        # Keeps the panel at 0 instead of "No data" while nothing matches the part.
        numerator = f"({numerator} or {denominator} * 0)"
    return f"{numerator} / {denominator}"
