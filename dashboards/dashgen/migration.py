"""The "Assistants → Responses" dashboard: Assistants runs next to Responses API calls, per model.

Runs come from this package's metrics (docs/telemetry-contract.md); Responses calls from the official
OpenAI instrumentation's (opentelemetry-instrumentation-genai-openai), which records each call in the
gen_ai.client.* instruments this package shares for its own operations. ``promql.py`` says how the two
are told apart; docs/metrics-and-dashboards.md lists what each panel assumes.
"""

from __future__ import annotations

from grafana_foundation_sdk.models import dashboard as dash_m

from . import catalog as c
from . import promql as q
from .grafana import (
    HAS_ERROR,
    JOB,
    RATE,
    RUN_FILTER,
    Layout,
    Query,
    _dashboard,
    _ratio_thresholds,
    bars_panel,
    row,
    stat_panel,
    timeseries_panel,
)

WINDOW = "1h"  # the stat panels: the last hour, long enough to hold both kinds of traffic
MODEL_LABEL = "model"  # runs' gen_ai_response_model and calls' gen_ai_request_model, side by side

# Responses API calls: the official instrumentation's "chat" operations, filtered by model like runs.
CALLS = (
    JOB,
    q.match(q.REQUEST_MODEL, "$model"),
    q.eq(q.OPERATION, q.CHAT),
    q.match(q.SCOPE, q.OFFICIAL_SCOPES),
)
CALL_COUNT = f"{q.OPERATION_DURATION}_count"
# This package's token usage of runs (invoke_agent), kept apart from any other instrumentation's.
RUN_TOKENS = (
    JOB,
    q.match(q.RESPONSE_MODEL, "$model"),
    q.eq(q.OPERATION, q.INVOKE_AGENT),
    q.match(q.SCOPE, q.OUR_SCOPES),
)
INPUT = q.eq(q.TOKEN_TYPE, "input")


def _either(part: str, other: str) -> str:
    """``part``, or zero for each series only ``other`` has: a side with no traffic reads 0, not no data."""
    return f"({part} or {other} * 0)"


def share(calls: str, runs: str) -> str:
    """Responses calls as a share of calls and runs together."""
    return f"{_either(calls, runs)}\n/\n({_either(calls, runs)} + {_either(runs, calls)})"


def call_rate(by: list[str], window: str) -> str:
    return q.sum_by(by, q.rate(CALL_COUNT, CALLS, window))


def run_rate(by: list[str], window: str) -> str:
    return q.sum_by(by, q.rate(q.RUNS, RUN_FILTER, window))


def tokens_per(matchers: tuple[str, ...], by: list[str], window: str) -> str:
    """Tokens (input and output) per call that reported usage: every such call records one input point."""
    total = q.sum_by(by, q.rate(f"{q.TOKEN_USAGE}_sum", matchers, window))
    calls = q.sum_by([b for b in by if b != q.TOKEN_TYPE], q.rate(f"{q.TOKEN_USAGE}_count", [*matchers, INPUT], window))
    return f"{total} / {calls}" if q.TOKEN_TYPE not in by else f"{total} / ignoring({q.TOKEN_TYPE}) group_left {calls}"


def migration_dashboard() -> dash_m.Dashboard:
    lay = Layout()
    error_thresholds = _ratio_thresholds(c.FAILURE_RATIO_WARNING, c.FAILURE_RATIO_CRITICAL)
    calls_by_model = q.as_label(call_rate([q.REQUEST_MODEL], RATE), MODEL_LABEL, q.REQUEST_MODEL)
    runs_by_model = q.as_label(run_rate([q.RESPONSE_MODEL], RATE), MODEL_LABEL, q.RESPONSE_MODEL)
    board = _dashboard(
        c.MIGRATION_UID,
        c.MIGRATION_TITLE,
        "A migration from the Assistants API to the Responses API, per model: runs (otel_assistants) next to "
        "Responses API calls (the official OpenAI instrumentation, opentelemetry-instrumentation-genai-openai): "
        "volume, latency, errors and tokens, before and after.",
        "Filters the panels about runs (Responses calls carry no assistant name).",
    )
    board = (
        board.with_row(row(lay, "Last hour"))
        .with_panel(
            stat_panel(
                lay,
                "Responses share",
                "Responses API calls as a share of Responses calls and Assistants runs together, over the "
                "last hour: 0 % before the migration, 100 % when it is done.",
                "percentunit",
                Query(share(call_rate([], WINDOW), run_rate([], WINDOW))),
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Run error ratio",
                "Share of ended Assistants runs with an error.type (failed, expired, abandoned, or an SDK "
                "exception) over the last hour.",
                "percentunit",
                Query(q.ratio([HAS_ERROR], RUN_FILTER, q.RUNS, [], WINDOW, zero=True)),
                thresholds=error_thresholds,
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Responses error ratio",
                "Share of Responses API calls with an error.type (an SDK exception, or a response that "
                "failed) over the last hour.",
                "percentunit",
                Query(q.ratio([HAS_ERROR], CALLS, CALL_COUNT, [], WINDOW, zero=True)),
                thresholds=error_thresholds,
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Run duration p95",
                "95th percentile of Assistants run duration (creation to observed end) over the last hour.",
                "s",
                Query(q.quantile(0.95, q.RUN_DURATION, RUN_FILTER, [], WINDOW)),
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Responses call p95",
                "95th percentile of Responses API call duration over the last hour (a streamed call "
                "lasts until its last event).",
                "s",
                Query(q.quantile(0.95, q.OPERATION_DURATION, CALLS, [], WINDOW)),
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Tokens per run",
                "Input and output tokens per Assistants run that reported usage, over the last hour.",
                "short",
                Query(tokens_per(RUN_TOKENS, [], WINDOW)),
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Tokens per Responses call",
                "Input and output tokens per Responses API call that reported usage, over the last hour.",
                "short",
                Query(tokens_per(CALLS, [], WINDOW)),
                span=3,
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Assistants still on runs",
                "Assistants (gen_ai.agent.name) that ended at least one run in the last hour: what is "
                "left to migrate.",
                "short",
                Query(f"count({q.sum_by([q.AGENT_NAME], q.increase(q.RUNS, RUN_FILTER, WINDOW))} > 0)"),
                span=3,
            )
        )
        .with_row(row(lay, "Volume"))
        .with_panel(
            timeseries_panel(
                lay,
                "Runs and Responses calls by model",
                "Ended Assistants runs and Responses API calls per second, by model (runs: the run's "
                "model; calls: the model asked for).",
                "suffix: /s",
                [
                    Query(run_rate([q.RESPONSE_MODEL], RATE), f"runs {{{{{q.RESPONSE_MODEL}}}}}"),
                    Query(call_rate([q.REQUEST_MODEL], RATE), f"responses {{{{{q.REQUEST_MODEL}}}}}"),
                ],
                stacked=True,
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Responses share by model",
                "Responses API calls as a share of calls and runs together, per model.",
                "percentunit",
                [Query(share(f"sum by ({MODEL_LABEL}) ({calls_by_model})", f"sum by ({MODEL_LABEL}) ({runs_by_model})"),
                       f"{{{{{MODEL_LABEL}}}}}")],
            )
        )
        .with_panel(
            bars_panel(
                lay,
                "Runs by assistant",
                "Runs each assistant ended over the dashboard's time range: the assistants still to move "
                "to the Responses API (the ten busiest).",
                "short",
                Query(
                    "topk(10, " + q.sum_by([q.AGENT_NAME], q.increase(q.RUNS, RUN_FILTER, "$__range")) + ")",
                    f"{{{{{q.AGENT_NAME}}}}}",
                    instant=True,
                ),
                span=24,
                height=7,
            )
        )
        .with_row(row(lay, "Latency"))
        .with_panel(
            timeseries_panel(
                lay,
                "Latency by model",
                "p50 and p95 of Assistants run duration (creation to observed end, tool round trips "
                "included) and of Responses API call duration, by model.",
                "s",
                [
                    Query(
                        q.quantile(quantile, q.RUN_DURATION, RUN_FILTER, [q.RESPONSE_MODEL], RATE),
                        f"runs p{round(quantile * 100)} {{{{{q.RESPONSE_MODEL}}}}}",
                    )
                    for quantile in (0.5, 0.95)
                ]
                + [
                    Query(
                        q.quantile(quantile, q.OPERATION_DURATION, CALLS, [q.REQUEST_MODEL], RATE),
                        f"responses p{round(quantile * 100)} {{{{{q.REQUEST_MODEL}}}}}",
                    )
                    for quantile in (0.5, 0.95)
                ],
                span=24,
            )
        )
        .with_row(row(lay, "Errors"))
        .with_panel(
            timeseries_panel(
                lay,
                "Error ratio by model",
                "Share of ended runs and of Responses API calls with an error.type, by model.",
                "percentunit",
                [
                    Query(
                        q.ratio([HAS_ERROR], RUN_FILTER, q.RUNS, [q.RESPONSE_MODEL], RATE, zero=True),
                        f"runs {{{{{q.RESPONSE_MODEL}}}}}",
                    ),
                    Query(
                        q.ratio([HAS_ERROR], CALLS, CALL_COUNT, [q.REQUEST_MODEL], RATE, zero=True),
                        f"responses {{{{{q.REQUEST_MODEL}}}}}",
                    ),
                ],
                thresholds=error_thresholds,
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Errors by type",
                "Failed runs and Responses calls per second by error.type: a failed run's or response's "
                "error code (server_error, rate_limit_exceeded, ...), expired, or the SDK exception "
                "(openai.RateLimitError, ...).",
                "suffix: /s",
                [
                    Query(
                        q.sum_by([q.ERROR_TYPE], q.rate(q.RUNS, [*RUN_FILTER, HAS_ERROR], RATE)),
                        f"runs {{{{{q.ERROR_TYPE}}}}}",
                    ),
                    Query(
                        q.sum_by([q.ERROR_TYPE], q.rate(CALL_COUNT, [*CALLS, HAS_ERROR], RATE)),
                        f"responses {{{{{q.ERROR_TYPE}}}}}",
                    ),
                ],
            )
        )
        .with_row(row(lay, "Tokens"))
        .with_panel(
            timeseries_panel(
                lay,
                "Tokens per call by model and type",
                "Input and output tokens per run and per Responses call that reported usage, by model.",
                "short",
                [
                    Query(
                        tokens_per(RUN_TOKENS, [q.RESPONSE_MODEL, q.TOKEN_TYPE], RATE),
                        f"runs {{{{{q.RESPONSE_MODEL}}}}} {{{{{q.TOKEN_TYPE}}}}}",
                    ),
                    Query(
                        tokens_per(CALLS, [q.REQUEST_MODEL, q.TOKEN_TYPE], RATE),
                        f"responses {{{{{q.REQUEST_MODEL}}}}} {{{{{q.TOKEN_TYPE}}}}}",
                    ),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Token rate by model",
                "Tokens per second used by runs and by Responses API calls, by model.",
                "suffix: tokens/s",
                [
                    Query(
                        q.sum_by([q.RESPONSE_MODEL], q.rate(f"{q.TOKEN_USAGE}_sum", RUN_TOKENS, RATE)),
                        f"runs {{{{{q.RESPONSE_MODEL}}}}}",
                    ),
                    Query(
                        q.sum_by([q.REQUEST_MODEL], q.rate(f"{q.TOKEN_USAGE}_sum", CALLS, RATE)),
                        f"responses {{{{{q.REQUEST_MODEL}}}}}",
                    ),
                ],
                stacked=True,
            )
        )
    )
    return board.build()


DASHBOARDS = {"assistants-to-responses.json": migration_dashboard}
