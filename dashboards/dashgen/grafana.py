"""The runs and tools-and-streams dashboards, and the panel builders all dashboards use (grafana-foundation-sdk)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from grafana_foundation_sdk.builders import bargauge, stat, timeseries
from grafana_foundation_sdk.builders import common as common_b
from grafana_foundation_sdk.builders import dashboard as dash_b
from grafana_foundation_sdk.builders import prometheus as prom_b
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as dash_m

from otel_assistants.bundle import RUNBOOK_BASE_URL

from . import catalog as c
from . import promql as q

DATASOURCE = dash_m.DataSourceRef(type_val="prometheus", uid="${datasource}")
RATE = "$__rate_interval"
ALERT_WINDOW = "10m"  # stat panels show what the alert rules see

# Dashboard variables as label matchers.
JOB = q.match("job", "$job")
MODEL = q.match(q.RESPONSE_MODEL, "$model")
ASSISTANT = q.match(q.AGENT_NAME, "$assistant")
RUN_FILTER = (JOB, MODEL, ASSISTANT)
FAILED = q.eq(q.STATUS, "failed")
EXPIRED = q.eq(q.STATUS, "expired")
HAS_ERROR = q.ne(q.ERROR_TYPE, "")
NO_REASON = "(no reason)"
ERROR_RUNBOOKS_URL = f"{RUNBOOK_BASE_URL}/errors/"  # one page per error reason

GREEN, ORANGE, RED = "green", "orange", "red"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False


class Layout:
    """Hands out panel ids and query refIds, which Grafana expects unique and set."""

    def __init__(self) -> None:
        self._next_id = 0

    def panel_id(self) -> int:
        self._next_id += 1
        return self._next_id


def _targets(queries: Sequence[Query]) -> list[prom_b.Dataquery]:
    built = []
    for index, query in enumerate(queries):
        target = prom_b.Dataquery().expr(query.expr).ref_id(chr(ord("A") + index)).datasource(DATASOURCE)
        target = target.legend_format(query.legend or "__auto")
        built.append(target.instant() if query.instant else target.range())
    return built


def _thresholds(*steps: tuple[float | None, str]) -> dash_b.ThresholdsConfig:
    return (
        dash_b.ThresholdsConfig()
        .mode(dash_m.ThresholdsMode.ABSOLUTE)
        .steps([dash_m.Threshold(value=value, color=color) for value, color in steps])
    )


def _ratio_thresholds(warning: float, critical: float | None = None) -> dash_b.ThresholdsConfig:
    steps: list[tuple[float | None, str]] = [(None, GREEN), (warning, ORANGE)]
    if critical is not None:
        steps.append((critical, RED))
    return _thresholds(*steps)


def timeseries_panel(
    layout: Layout,
    title: str,
    description: str,
    unit: str,
    queries: Sequence[Query],
    *,
    span: int = 12,
    height: int = 8,
    stacked: bool = False,
    thresholds: dash_b.ThresholdsConfig | None = None,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(layout.panel_id())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .min(0)
        .span(span)
        .height(height)
        .line_width(1)
        .fill_opacity(25 if stacked else 10)
        .show_points(common.VisibilityMode.NEVER)
        .legend(
            common_b.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "max", "lastNotNull"])
        )
        .tooltip(common_b.VizTooltipOptions().mode(common.TooltipDisplayMode.MULTI).sort(common.SortOrder.DESCENDING))
    )
    if stacked:
        panel = panel.stacking(common_b.StackingConfig().mode(common.StackingMode.NORMAL))
    if thresholds is not None:
        # Drawn as dashed lines: the same numbers the alert rules use.
        panel = panel.thresholds(thresholds).thresholds_style(
            common_b.GraphThresholdsStyleConfig().mode(common.GraphTresholdsStyleMode.DASHED)
        )
    return panel


def stat_panel(
    layout: Layout,
    title: str,
    description: str,
    unit: str,
    query: Query,
    *,
    thresholds: dash_b.ThresholdsConfig | None = None,
    span: int = 4,
    height: int = 4,
) -> stat.Panel:
    panel = (
        stat.Panel()
        .id(layout.panel_id())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets([query]))
        .unit(unit)
        .span(span)
        .height(height)
        .graph_mode(common.BigValueGraphMode.AREA)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(thresholds or _thresholds((None, GREEN)))
    )
    return panel


def bars_panel(
    layout: Layout, title: str, description: str, unit: str, query: Query, *, span: int = 12, height: int = 8
) -> bargauge.Panel:
    return (
        bargauge.Panel()
        .id(layout.panel_id())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets([query]))
        .unit(unit)
        .span(span)
        .height(height)
        .orientation(common.VizOrientation.HORIZONTAL)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .show_unfilled(True)
        .reduce_options(common_b.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(_thresholds((None, RED)))
        .no_value("none")
    )


def row(layout: Layout, title: str) -> dash_b.Row:
    return dash_b.Row(title).id(layout.panel_id())


def _variables(with_assistant_filter_note: str) -> list[dash_b.QueryVariable | dash_b.DatasourceVariable]:
    everything = dash_m.VariableOption(selected=True, text="All", value="$__all")

    def label_variable(name: str, label: str, query: str, description: str) -> dash_b.QueryVariable:
        return (
            dash_b.QueryVariable(name)
            .id(name)
            .label(label)
            .description(description)
            .datasource(DATASOURCE)
            .query(query)
            .multi(True)
            .include_all(True)
            # Regex-all instead of Grafana's default list of seen values: series without the
            # label (e.g. a run whose model is not known yet) still match.
            .all_value(".*")
            .current(everything)
            .refresh(dash_m.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dash_m.VariableSort.ALPHABETICAL_CASE_INSENSITIVE_ASC)
        )

    return [
        dash_b.DatasourceVariable("datasource")
        .id("datasource")
        .label("Data source")
        .description("Prometheus (or compatible) data source holding the otel_assistants metrics.")
        .type("prometheus"),
        label_variable(
            "job",
            "Service",
            f"label_values({q.RUNS_ACTIVE}, job)",
            "Prometheus job of the instrumented service (with an OpenTelemetry Collector: the "
            "service.name resource attribute).",
        ),
        label_variable(
            "model",
            "Model",
            f"label_values({q.selector(q.RUNS, [JOB])}, {q.RESPONSE_MODEL})",
            "Model that ran the runs (gen_ai.response.model).",
        ),
        label_variable(
            "assistant",
            "Assistant",
            f"label_values({q.selector(q.RUNS, [JOB, MODEL])}, {q.AGENT_NAME})",
            "Assistant name (gen_ai.agent.name; names past the 50th per process show as _OTHER). "
            + with_assistant_filter_note,
        ),
    ]


def _dashboard(uid: str, title: str, description: str, assistant_note: str) -> dash_b.Dashboard:
    return (
        dash_b.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags([c.TAG, "openai", "opentelemetry"])
        .editable()
        .tooltip(dash_m.DashboardCursorSync.CROSSHAIR)
        .time("now-3h", "now")
        .refresh("1m")
        .timezone("browser")
        .variables(_variables(assistant_note))
        .annotation(
            # Shows when this project's Prometheus alerts were firing, right on the graphs.
            dash_b.AnnotationQuery()
            .name("Assistants alerts")
            .datasource(DATASOURCE)
            .enable(True)
            .hide(False)
            .icon_color("red")
            .expr('ALERTS{alertstate="firing", alertname=~"Assistants.+"}')
        )
        .link(
            dash_b.DashboardLink("OpenAI Assistants")
            .type(dash_m.DashboardLinkType.DASHBOARDS)
            .tags([c.TAG])
            .as_dropdown(False)
            .include_vars(True)
            .keep_time(True)
            .icon("dashboard")
        )
    )


def runs_dashboard() -> dash_m.Dashboard:
    lay = Layout()
    runs = q.RUNS
    ended = q.sum_by([], q.rate(runs, RUN_FILTER, RATE))
    by_status = [q.STATUS]

    def p(quantile: float) -> Query:
        return Query(
            q.quantile(quantile, q.RUN_DURATION, RUN_FILTER, by_status, RATE),
            f"p{round(quantile * 100)} {{{{{q.STATUS}}}}}",
        )

    failure_thresholds = _ratio_thresholds(c.FAILURE_RATIO_WARNING, c.FAILURE_RATIO_CRITICAL)
    expiry_thresholds = _ratio_thresholds(c.EXPIRY_RATIO_WARNING)
    board = _dashboard(
        c.RUNS_UID,
        c.RUNS_TITLE,
        "Outcome, latency and token use of OpenAI Assistants API runs, from the otel_assistants instrumentation.",
        "Filters the panels about runs and run duration (queue time, polls, active runs and tokens "
        "carry no assistant name).",
    )
    board = (
        board.with_row(row(lay, "Now"))
        .with_panel(
            stat_panel(
                lay,
                "Runs ended",
                "Runs that reached a terminal status (or were abandoned), per second, over the last 10 minutes.",
                "suffix: runs/s",
                Query(q.sum_by([], q.rate(runs, RUN_FILTER, ALERT_WINDOW))),
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Failure ratio",
                "Share of ended runs with status failed over the last 10 minutes: the number "
                "AssistantsRunFailureRateHigh alerts on (orange: warning, red: critical).",
                "percentunit",
                Query(q.ratio([FAILED], RUN_FILTER, runs, [], ALERT_WINDOW, zero=True)),
                thresholds=failure_thresholds,
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Expiry ratio",
                "Share of ended runs with status expired over the last 10 minutes: the number "
                "AssistantsRunExpiryRateHigh alerts on. Runs expire when tool outputs are not "
                "submitted within 10 minutes.",
                "percentunit",
                Query(q.ratio([EXPIRED], RUN_FILTER, runs, [], ALERT_WINDOW, zero=True)),
                thresholds=expiry_thresholds,
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Runs in progress",
                "Runs started and not yet seen to end, summed over all processes of the service.",
                "short",
                Query(q.sum_by([], q.selector(q.RUNS_ACTIVE, [JOB]))),
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Run duration p95",
                "95th percentile of run duration (creation to observed end) over the last 10 minutes.",
                "s",
                Query(q.quantile(0.95, q.RUN_DURATION, RUN_FILTER, [], ALERT_WINDOW)),
            )
        )
        .with_panel(
            stat_panel(
                lay,
                "Queue time p95",
                "95th percentile of the time runs waited in queued before starting (started_at - "
                "created_at) over the last 10 minutes.",
                "s",
                Query(q.quantile(0.95, q.QUEUE_DURATION, [JOB, MODEL], [], ALERT_WINDOW)),
                thresholds=_thresholds((None, GREEN), (c.QUEUE_P95_WARNING_SECONDS, ORANGE)),
            )
        )
        .with_row(row(lay, "Outcomes"))
        .with_panel(
            timeseries_panel(
                lay,
                "Run rate by status",
                "Ended runs per second by final status (completed, failed, cancelled, expired, "
                "incomplete; abandoned runs keep the last status seen).",
                "suffix: runs/s",
                [Query(q.sum_by(by_status, q.rate(runs, RUN_FILTER, RATE)), f"{{{{{q.STATUS}}}}}")],
                stacked=True,
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                c.PANEL_FAILURE_RATIO,
                "Failed and expired runs as a share of all ended runs. Dashed lines: the alert thresholds.",
                "percentunit",
                [
                    Query(q.ratio([FAILED], RUN_FILTER, runs, [], RATE, zero=True), "failed"),
                    Query(q.ratio([EXPIRED], RUN_FILTER, runs, [], RATE, zero=True), "expired"),
                ],
                thresholds=failure_thresholds,
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Cancelled and incomplete runs",
                "Runs cancelled (by the app or on the server) and runs that ended incomplete (token "
                "limits, content filter), per second. Not errors, but they return no full answer.",
                "suffix: runs/s",
                [
                    Query(
                        q.sum_by(
                            by_status,
                            q.rate(runs, [*RUN_FILTER, q.match(q.STATUS, "cancelled|incomplete")], RATE),
                        ),
                        f"{{{{{q.STATUS}}}}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Run errors by type",
                "Ended runs with an error.type per second: last_error.code of failed runs "
                "(server_error, rate_limit_exceeded, invalid_prompt, ...), expired, abandoned, or the "
                "SDK exception (openai.RateLimitError, ...).",
                "suffix: runs/s",
                [
                    Query(
                        q.sum_by([q.ERROR_TYPE], q.rate(runs, [*RUN_FILTER, HAS_ERROR], RATE)),
                        f"{{{{{q.ERROR_TYPE}}}}}",
                    )
                ],
            )
        )
        .with_panel(
            bars_panel(
                lay,
                c.PANEL_TOP_ERRORS,
                "The ten most frequent error types of ended runs over the dashboard's time range.",
                "short",
                Query(
                    "topk(10, "
                    + q.sum_by([q.ERROR_TYPE], q.increase(runs, [*RUN_FILTER, HAS_ERROR], "$__range"))
                    + ")",
                    f"{{{{{q.ERROR_TYPE}}}}}",
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
                "Run duration by status",
                "p50, p95 and p99 of run duration (creation to observed end) by final status. Runs "
                "near 600 s are expiring.",
                "s",
                [p(0.5), p(0.95), p(0.99)],
                span=24,
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                c.PANEL_QUEUE,
                "Time runs spent queued before they started (started_at - created_at), by model. "
                "Dashed line: the AssistantsRunQueueTimeHigh threshold.",
                "s",
                [
                    Query(
                        q.quantile(0.95, q.QUEUE_DURATION, [JOB, MODEL], [q.RESPONSE_MODEL], RATE),
                        f"p95 {{{{{q.RESPONSE_MODEL}}}}}",
                    ),
                    Query(
                        q.quantile(0.5, q.QUEUE_DURATION, [JOB, MODEL], [q.RESPONSE_MODEL], RATE),
                        f"p50 {{{{{q.RESPONSE_MODEL}}}}}",
                    ),
                ],
                thresholds=_thresholds((None, GREEN), (c.QUEUE_P95_WARNING_SECONDS, ORANGE)),
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Polls per run",
                "Run retrieve requests the app made per ended run, by final status: average and p95. "
                "A high count means a short poll interval (each poll is a billed API request).",
                "short",
                [
                    Query(
                        q.sum_by(by_status, q.rate(f"{q.RUN_POLLS}_sum", [JOB], RATE))
                        + " / "
                        + q.sum_by(by_status, q.rate(f"{q.RUN_POLLS}_count", [JOB], RATE)),
                        f"avg {{{{{q.STATUS}}}}}",
                    ),
                    Query(
                        q.quantile(0.95, q.RUN_POLLS, [JOB], by_status, RATE),
                        f"p95 {{{{{q.STATUS}}}}}",
                    ),
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                c.PANEL_ACTIVE,
                "Runs started and not yet seen to end, by provider. Flat above zero while no run "
                "ends means runs are stuck (AssistantsRunsStuck).",
                "short",
                [
                    Query(q.sum_by([q.PROVIDER], q.selector(q.RUNS_ACTIVE, [JOB])), f"{{{{{q.PROVIDER}}}}}"),
                    Query(ended, "ended runs/s"),
                ],
                span=24,
            )
        )
        .with_row(row(lay, "Tokens"))
        .with_panel(
            timeseries_panel(
                lay,
                "Token usage rate by model and type",
                "Tokens per second reported in run usage, by model and token type (input, output).",
                "suffix: tokens/s",
                [
                    Query(
                        q.sum_by(
                            [q.RESPONSE_MODEL, q.TOKEN_TYPE],
                            q.rate(f"{q.TOKEN_USAGE}_sum", [JOB, MODEL, q.eq(q.OPERATION, q.INVOKE_AGENT)], RATE),
                        ),
                        f"{{{{{q.RESPONSE_MODEL}}}}} {{{{{q.TOKEN_TYPE}}}}}",
                    )
                ],
                stacked=True,
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Tokens per run p95",
                "95th percentile of tokens one run used, by token type.",
                "short",
                [
                    Query(
                        q.quantile(
                            0.95,
                            q.TOKEN_USAGE,
                            [JOB, MODEL, q.eq(q.OPERATION, q.INVOKE_AGENT)],
                            [q.TOKEN_TYPE],
                            RATE,
                        ),
                        f"p95 {{{{{q.TOKEN_TYPE}}}}}",
                    )
                ],
            )
        )
    )
    return board.build()


def tools_dashboard() -> dash_m.Dashboard:
    lay = Layout()
    tool = q.TOOL_DURATION
    function_tools = q.eq(q.TOOL_TYPE, "function")
    ops = (JOB, q.ASSISTANTS_OPERATIONS)
    board = _dashboard(
        c.TOOLS_UID,
        c.TOOLS_TITLE,
        "Tool calls, run steps, streaming and per-operation API latency and errors of OpenAI "
        "Assistants API apps, from the otel_assistants instrumentation.",
        "Filters only the expired-runs panel (tool, step and operation metrics carry no assistant name).",
    )
    board = (
        board.with_row(row(lay, "Tool calls"))
        .with_panel(
            timeseries_panel(
                lay,
                c.PANEL_TOOL_LATENCY,
                "p95 time from the requires_action that asks for a function call to the "
                "submit_tool_outputs that answers it: the app's own tool latency, the usual cause of "
                "expired runs (dashed: 5 minutes, and the 10-minute run expiry). code_interpreter and "
                "file_search calls span their run step on the server.",
                "s",
                [
                    Query(
                        q.quantile(0.95, tool, [JOB], [q.TOOL_NAME, q.TOOL_TYPE], RATE),
                        f"{{{{{q.TOOL_NAME}}}}} ({{{{{q.TOOL_TYPE}}}}})",
                    )
                ],
                thresholds=_thresholds(
                    (None, GREEN), (c.TOOL_LATENCY_WARNING_SECONDS, ORANGE), (c.RUN_EXPIRY_SECONDS, RED)
                ),
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Tool calls by tool",
                "Tool calls per second by tool name and type (function, extension = code_interpreter, "
                "datastore = file_search).",
                "suffix: calls/s",
                [
                    Query(
                        q.sum_by([q.TOOL_NAME, q.TOOL_TYPE], q.rate(f"{tool}_count", [JOB], RATE)),
                        f"{{{{{q.TOOL_NAME}}}}} ({{{{{q.TOOL_TYPE}}}}})",
                    )
                ],
                stacked=True,
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                c.PANEL_NOT_SUBMITTED,
                "Function calls whose output was never submitted before the run ended "
                "(error.type tool_output_not_submitted), per second by tool: the tool crashed, hung, "
                "or the app gave up on the run.",
                "suffix: calls/s",
                [
                    Query(
                        q.sum_by(
                            [q.TOOL_NAME],
                            q.rate(f"{tool}_count", [JOB, q.eq(q.ERROR_TYPE, q.NOT_SUBMITTED)], RATE),
                        )
                        + " or "
                        + q.sum_by([q.TOOL_NAME], q.rate(f"{tool}_count", [JOB, function_tools], RATE))
                        + " * 0",
                        f"{{{{{q.TOOL_NAME}}}}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Expired runs",
                "Runs of the selected models and assistants that expired, per second; compare with "
                "the tool latency above.",
                "suffix: runs/s",
                [
                    Query(
                        q.sum_by([q.AGENT_NAME], q.rate(q.RUNS, [*RUN_FILTER, EXPIRED], RATE))
                        + " or "
                        + q.sum_by([q.AGENT_NAME], q.rate(q.RUNS, RUN_FILTER, RATE))
                        + " * 0",
                        f"{{{{{q.AGENT_NAME}}}}}",
                    )
                ],
            )
        )
        .with_row(row(lay, "Run steps"))
        .with_panel(
            timeseries_panel(
                lay,
                "Step duration p95 by type",
                "95th percentile of run step duration by step type (message_creation, tool_calls) and status.",
                "s",
                [
                    Query(
                        q.quantile(0.95, q.STEP_DURATION, [JOB], [q.STEP_TYPE, q.STEP_STATUS], RATE),
                        f"{{{{{q.STEP_TYPE}}}}} {{{{{q.STEP_STATUS}}}}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Steps by type and status",
                "Run steps per second by type and final status.",
                "suffix: steps/s",
                [
                    Query(
                        q.sum_by([q.STEP_TYPE, q.STEP_STATUS], q.rate(f"{q.STEP_DURATION}_count", [JOB], RATE)),
                        f"{{{{{q.STEP_TYPE}}}}} {{{{{q.STEP_STATUS}}}}}",
                    )
                ],
                stacked=True,
            )
        )
        .with_row(row(lay, "Streams"))
        .with_panel(
            timeseries_panel(
                lay,
                "Time to first chunk",
                "Streamed runs: time from the request that creates the run to the first message "
                "delta, p50 and p95 by model.",
                "s",
                [
                    Query(
                        q.quantile(
                            quantile_value,
                            q.TIME_TO_FIRST_CHUNK,
                            [JOB, MODEL, q.eq(q.OPERATION, q.INVOKE_AGENT)],
                            [q.RESPONSE_MODEL],
                            RATE,
                        ),
                        f"p{round(quantile_value * 100)} {{{{{q.RESPONSE_MODEL}}}}}",
                    )
                    for quantile_value in (0.95, 0.5)
                ],
                span=24,
            )
        )
        .with_row(row(lay, "API operations"))
        .with_panel(
            timeseries_panel(
                lay,
                "Operation latency p95",
                "95th percentile latency of each Assistants API operation (gen_ai.operation.name; "
                "invoke_agent is a whole run).",
                "s",
                [
                    Query(
                        q.quantile(0.95, q.OPERATION_DURATION, ops, [q.OPERATION], RATE),
                        f"{{{{{q.OPERATION}}}}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Operation error ratio",
                "Share of each operation's calls that ended with an error.type.",
                "percentunit",
                [
                    Query(
                        q.ratio([HAS_ERROR], ops, f"{q.OPERATION_DURATION}_count", [q.OPERATION], RATE, zero=True),
                        f"{{{{{q.OPERATION}}}}}",
                    )
                ],
                thresholds=_ratio_thresholds(c.SERVER_ERROR_RATIO_WARNING),
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                c.PANEL_OPERATION_ERRORS,
                "Failed calls per second by operation and error type: openai.InternalServerError is "
                "a 5xx, openai.NotFoundError a 404 (how a retired endpoint answers), "
                "openai.RateLimitError a 429.",
                "suffix: calls/s",
                [
                    Query(
                        q.sum_by(
                            [q.OPERATION, q.ERROR_TYPE],
                            q.rate(f"{q.OPERATION_DURATION}_count", [*ops, HAS_ERROR], RATE),
                        ),
                        f"{{{{{q.OPERATION}}}}} {{{{{q.ERROR_TYPE}}}}}",
                    )
                ],
            )
        )
        .with_panel(
            timeseries_panel(
                lay,
                "Operation rate",
                "Calls per second of each Assistants API operation.",
                "suffix: calls/s",
                [
                    Query(
                        q.sum_by([q.OPERATION], q.rate(f"{q.OPERATION_DURATION}_count", ops, RATE)),
                        f"{{{{{q.OPERATION}}}}}",
                    )
                ],
                stacked=True,
            )
        )
        .with_panel(error_reasons_panel(lay, ops))
    )
    return board.build()


def error_reasons_panel(lay: Layout, ops: Sequence[str]) -> timeseries.Panel:
    """Failed calls by the contract's error reason (section 2.8), each reason with its runbook page."""
    failed = q.sum_by(
        [q.ERROR_REASON, q.OPERATION], q.rate(f"{q.OPERATION_DURATION}_count", [*ops, HAS_ERROR], RATE)
    )
    # Failures that got no API error answer carry no reason: named, so they do not read as a blank.
    named = f'label_replace({failed}, "{q.ERROR_REASON}", "{NO_REASON}", "{q.ERROR_REASON}", "")'
    return timeseries_panel(
        lay,
        c.PANEL_ERROR_REASONS,
        "Failed calls per second by openai.assistants.error.reason and operation: "
        f"{q.THREAD_HAS_ACTIVE_RUN} (a message or run added to a thread whose run is still active: an "
        "app bug), unsupported_parameter, invalid_batch_id, no_files_provided, not_found, rate_limited, "
        f"the API's own error code, _OTHER. '{NO_REASON}': no API error answer (connection errors, "
        "timeouts) or a run that ended failed or expired (invoke_agent). What each reason means and how "
        "to fix it: the panel link, one runbook page per reason.",
        "suffix: calls/s",
        [Query(named, f"{{{{{q.ERROR_REASON}}}}} {{{{{q.OPERATION}}}}}")],
        span=24,
        stacked=True,
    ).links(
        [
            dash_b.DashboardLink("Runbooks: API errors by reason")
            .type(dash_m.DashboardLinkType.LINK)
            .url(ERROR_RUNBOOKS_URL)
            .target_blank(True)
        ]
    )


DASHBOARDS = {
    "assistants-runs.json": runs_dashboard,
    "assistants-tools-streams.json": tools_dashboard,
}
