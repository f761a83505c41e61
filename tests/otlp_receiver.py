"""An OTLP/HTTP receiver on loopback, standing in for a collector in tests that run an app in a child process."""

from __future__ import annotations

import gzip
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span


class Received:
    """The export requests a receiver decoded, and what the tests read of them."""

    def __init__(self) -> None:
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.endpoint = ""

    def spans(self) -> list[Span]:
        return [span for _, span in self.scoped_spans()]

    def scoped_spans(self) -> list[tuple[str, Span]]:
        """Every span with the name of the instrumentation scope that made it."""
        return [(scope.scope.name, span) for request in self.traces for resource in request.resource_spans
                for scope in resource.scope_spans for span in scope.spans]

    def service_names(self) -> set[str]:
        resources = [r.resource for request in self.traces for r in request.resource_spans]
        resources += [r.resource for request in self.metrics for r in request.resource_metrics]
        return {a.value.string_value for resource in resources for a in resource.attributes if a.key == "service.name"}

    def last_points(self, name: str, scope: str | None = None) -> list[Any]:
        """The data points of ``name`` (made by ``scope``, if given) in the last metrics export carrying it
        (points are cumulative)."""
        for request in reversed(self.metrics):
            found = [point for resource in request.resource_metrics for scoped in resource.scope_metrics
                     if scope is None or scoped.scope.name == scope
                     for metric in scoped.metrics if metric.name == name
                     for point in getattr(metric, metric.WhichOneof("data")).data_points]
            if found:
                return found
        return []


class Collector(Received):
    """An OTLP/HTTP receiver on loopback: keeps the decoded export requests and answers each path with
    ``statuses[path]`` (else ``status``); a path other than /v1/traces and /v1/metrics gets 404."""

    def __init__(self, status: int = 200, statuses: dict[str, int] | None = None) -> None:
        super().__init__()
        self.content_types: set[str] = set()
        collector = self
        answers = {"/v1/traces": status, "/v1/metrics": status, **(statuses or {})}

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                collector.content_types.add(self.headers.get("Content-Type", ""))
                answer = answers.get(self.path, 404)
                if answer != 200:
                    self.send_error(answer)
                    return
                if self.path == "/v1/traces":
                    collector.traces.append(ExportTraceServiceRequest.FromString(body))
                    reply = ExportTraceServiceResponse().SerializeToString()
                else:
                    collector.metrics.append(ExportMetricsServiceRequest.FromString(body))
                    reply = ExportMetricsServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def attributes(items: Any) -> dict[str, Any]:
    """OTLP key-values as a dict of plain values."""
    return {item.key: getattr(item.value, item.value.WhichOneof("value")) for item in items}
