"""Where each signal's exporter sends, whether anything listens there, and what came of each export.

The exporters only log what goes wrong. The demo keeps those records (printing none of them), ties
each to the export call it happened in, and counts what was delivered, so that its verdict can say
per signal what arrived and, when something did not, why.
"""

from __future__ import annotations

import enum
import functools
import logging
import socket
import threading
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# the exporters' entry point names (opentelemetry_{traces,metrics}_exporter) -> OTLP protocol
OTLP_PROTOCOLS = {"otlp_proto_http": "http/protobuf", "otlp_proto_grpc": "grpc"}
PROTOCOL_LABELS = {"http/protobuf": "OTLP/HTTP", "grpc": "OTLP/gRPC"}
# the OTLP exporters' defaults (OpenTelemetry specification, OTLP exporter configuration)
DEFAULT_ENDPOINTS = {"http/protobuf": "http://localhost:4318", "grpc": "http://localhost:4317"}
PROBE_TIMEOUT_S = 2.0


@dataclass
class Route:
    """One exporter of one signal: where it sends, and what became of what it sent."""

    signal: str  # "traces" or "metrics"
    exporter: str  # the exporter's entry point name, e.g. "otlp_proto_http", "console", "prometheus"
    destination: str  # the URL an OTLP exporter sends to, else the exporter's name
    protocol: str | None = None  # "http/protobuf" or "grpc" for OTLP
    pull: bool = False  # a reader that is scraped (Prometheus) rather than an exporter that pushes
    unreachable: str | None = None  # "host:port: why", when nothing could be connected to before the workload
    sent: int = 0  # spans (traces) or exports (metrics) handed to the exporter
    delivered: int = 0
    last_ok: bool | None = None  # the last export's result: metric points are cumulative, the last one counts
    error: BaseException | None = None  # what an export raised
    records: list[logging.LogRecord] = field(default_factory=list)  # what the exporter logged while exporting

    @property
    def label(self) -> str:
        return PROTOCOL_LABELS.get(self.protocol or "", self.exporter)

    @property
    def where(self) -> str:
        return f"{self.destination} ({self.label})" if self.protocol else self.destination

    def record(self, ok: bool, items: int) -> None:
        self.sent += items
        self.delivered += items if ok else 0
        self.last_ok = ok

    def arrived(self) -> bool:
        if self.pull:
            return True
        if self.signal == "traces":
            return self.sent > 0 and self.delivered == self.sent
        return bool(self.last_ok)

    def answer(self) -> str | None:
        """How the receiver answered a failed export: "HTTP 405", "gRPC UNIMPLEMENTED", or None if unknown.

        Read from the exporters' own log records: both OTLP exporters (1.27 to 1.45 at least) pass
        the HTTP status code, or the gRPC status, as an argument of the message they log.
        """
        for record in reversed(self.records):
            arguments = record.args if isinstance(record.args, tuple) else ()
            for argument in arguments:
                if isinstance(argument, int) and not isinstance(argument, bool) and 400 <= argument <= 599:
                    return f"HTTP {argument}"
                if isinstance(argument, enum.Enum) and type(argument).__module__.startswith("grpc"):
                    return f"gRPC {argument.name}"
        return None

    def reason(self) -> str:
        """The exporter's own last word on a failure, for failures the verdict has no sentence for."""
        if self.error is not None:
            return f"{type(self.error).__name__}: {self.error}"
        if self.records:
            return self.records[-1].getMessage()
        return "the exporter reported a failure"


def otlp_destination(signal: str, protocol: str, environ: Mapping[str, str]) -> str:
    """The URL the OTLP exporter of ``signal`` sends to, by the specification's rules.

    A signal's own endpoint is used as it is; the common one gets ``/v1/{signal}`` appended for
    OTLP/HTTP, and is used as it is for gRPC.
    """
    own = environ.get(f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
    if own:
        return own
    common = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINTS[protocol]
    if protocol == "grpc":
        return common
    return f"{common.removesuffix('/')}/v1/{signal}"


def host_and_port(url: str) -> tuple[str, int] | None:
    parts = urlsplit(url if "://" in url else f"//{url}")
    try:
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def probe(url: str) -> str | None:
    """Why nothing can be connected to at ``url`` ("nothing is listening on ..."), or None if something answers.

    Only a TCP connection, made once before the workload: the exporters retry an unreachable
    endpoint until their timeout, which would keep the demo waiting for nothing.
    """
    address = host_and_port(url)
    if address is None:
        return None
    host, port = address
    if urllib.request.getproxies() and not urllib.request.proxy_bypass(host):
        return None  # the exporter goes through a proxy: a direct connection proves nothing
    return _connect(host, port)


@functools.cache
def _connect(host: str, port: int) -> str | None:
    try:
        socket.create_connection((host, port), timeout=PROBE_TIMEOUT_S).close()
    except ConnectionRefusedError:
        return f"nothing is listening on {host}:{port}"
    except socket.gaierror:
        return f"the host name {host} cannot be resolved"
    except TimeoutError:
        return f"{host}:{port} does not answer (no connection within {PROBE_TIMEOUT_S:.0f} s)"
    except OSError as error:
        return f"{host}:{port} cannot be reached ({error.strerror or error})"
    return None


class ExportLog(logging.Handler):
    """Takes every record the OpenTelemetry SDK and exporters log, so that none reaches the terminal.

    Records logged inside a :meth:`during` block (one export call, on that thread) are kept on its
    route; the rest (retries announced, shutdown notices) are dropped.
    """

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self._current = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        route: Route | None = getattr(self._current, "route", None)
        if route is not None:
            route.records.append(record)

    @contextmanager
    def during(self, route: Route) -> Iterator[None]:
        self._current.route = route
        try:
            yield
        finally:
            self._current.route = None

    def install(self, logger_name: str = "opentelemetry") -> None:
        """Keep the records of ``logger_name`` and below: they stay out of the terminal for the process' life."""
        logger = logging.getLogger(logger_name)
        logger.addHandler(self)
        logger.propagate = False
