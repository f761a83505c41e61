"""The terminal view of the demo's telemetry: every trace as an indented tree, and the metric totals."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# attribute -> how the tree labels it
_SHOWN = {
    "openai.assistants.run.status": "status", "openai.assistants.run_step.status": "status",
    "openai.assistants.ingestion.status": "status", "error.type": "error", "openai.assistants.error.reason": "reason",
    "http.response.status_code": "http",
    "gen_ai.usage.input_tokens": "in", "gen_ai.usage.output_tokens": "out",
    "openai.assistants.ingestion.files.completed": "files.completed",
    "openai.assistants.ingestion.files.failed": "files.failed",
    "openai.assistants.ingestion.files.total": "files.total",
    "openai.assistants.run.poll_count": "polls", "openai.assistants.ingestion.poll_count": "polls",
    "gen_ai.request.stream": "stream", "openai.assistants.file_search.result_count": "results",
}


@dataclass(frozen=True)
class TreeSpan:
    """What a tree line needs of a span, whichever process or exporter it came from."""

    trace_id: int
    span_id: int
    parent_id: int | None
    name: str
    start_ns: int
    end_ns: int
    error: bool
    attributes: Mapping[str, Any]

    @classmethod
    def from_sdk(cls, span: Any) -> TreeSpan:
        """From an SDK ``ReadableSpan``."""
        return cls(trace_id=span.context.trace_id, span_id=span.context.span_id,
                   parent_id=span.parent.span_id if span.parent is not None else None, name=span.name,
                   start_ns=span.start_time, end_ns=span.end_time, error=span.status.status_code.name == "ERROR",
                   attributes=dict(span.attributes or {}))


def render_traces(spans: Iterable[TreeSpan]) -> str:
    """Every trace as an indented tree: name, duration and the attributes that tell the story."""
    spans = list(spans)
    ids = {s.span_id for s in spans}
    by_parent: dict[int | None, list[TreeSpan]] = defaultdict(list)
    for span in spans:
        by_parent[span.parent_id if span.parent_id in ids else None].append(span)
    lines: list[str] = []

    def walk(span: TreeSpan, depth: int) -> None:
        duration = (span.end_ns - span.start_ns) / 1e6
        details = " ".join(f"{label}={span.attributes[key]}" for key, label in _SHOWN.items() if key in span.attributes)
        status = " ERROR" if span.error else ""
        lines.append(f"{'  ' * depth}{span.name}  [{duration:.1f} ms]{status}  {details}".rstrip())
        for child in sorted(by_parent.get(span.span_id, []), key=lambda s: s.start_ns):
            walk(child, depth + 1)

    for root in sorted(by_parent[None], key=lambda s: s.start_ns):
        lines.append(f"trace {root.trace_id:032x}")
        walk(root, 1)
    return "\n".join(lines) + "\n"


def render_metrics(data: Any) -> str:
    """Each data point of the SDK's ``MetricsData``: a counter's value, a histogram's count and sum."""
    if data is None:
        return "metric totals: none\n"
    lines = ["metric totals:"]
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                for point in metric.data.data_points:
                    labels = ", ".join(f"{k}={v}" for k, v in sorted((point.attributes or {}).items()))
                    if hasattr(point, "bucket_counts"):
                        value = f"count={point.count} sum={point.sum:.3f}"
                    else:
                        value = f"{point.value}"
                    lines.append(f"  {metric.name}{{{labels}}} {value}")
    return "\n".join(lines) + "\n"
