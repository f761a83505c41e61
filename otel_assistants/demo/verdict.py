"""The demo's last word: per signal, what was sent where and whether it arrived; for each problem, one
sentence that says how to fix it; and the exit code.

A backend that takes traces but refuses metrics (Jaeger, Tempo, Phoenix) is a success as long as
the traces arrived: that is what such a backend is for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .delivery import Route, host_and_port

# how a receiver answers a signal it does not take at all
NOT_TAKEN = {"HTTP 404", "HTTP 405", "HTTP 501", "gRPC UNIMPLEMENTED"}
SIGNAL_PATHS = ("/v1/traces", "/v1/metrics", "/v1/logs")
PORT_HINT = "OTLP/HTTP usually listens on port 4318, OTLP/gRPC on 4317"


@dataclass(frozen=True)
class Judgement:
    status: str  # one line: what was sent where, and what came of it
    hint: str | None  # one sentence with the fix, when something went wrong
    ok: bool


def verdict(routes: list[Route], environ: Mapping[str, str]) -> tuple[list[str], int]:
    """The lines to print (status lines, then each distinct fix once) and the exit code."""
    traces_arrived = any(r.signal == "traces" and r.arrived() and not r.pull for r in routes)
    judgements = [judge(route, traces_arrived, environ) for route in routes]
    hints = list(dict.fromkeys(j.hint for j in judgements if j.hint))
    return [j.status for j in judgements] + hints, 0 if all(j.ok for j in judgements) else 1


def judge(route: Route, traces_arrived: bool, environ: Mapping[str, str]) -> Judgement:
    where = route.where
    if route.pull:
        return Judgement(f"{route.signal}: read by {route.destination} while the demo ran", None, True)
    if route.unreachable is not None:
        cause = route.unreachable[0].upper() + route.unreachable[1:]
        variable = endpoint_variable(route, environ)
        return Judgement(f"{route.signal}: not sent to {where}",
                         f"{cause}: start your collector or backend there, or set {variable} to where it listens "
                         f"({PORT_HINT}).", False)
    if route.arrived():
        count = f"{route.delivered} spans " if route.signal == "traces" else ""
        verb = "arrived at" if route.protocol else "handed to"
        return Judgement(f"{route.signal}: {count}{verb} {where}", None, True)
    if route.sent == 0:
        return Judgement(f"{route.signal}: nothing to send to {where}", None, True)
    answer = route.answer()
    status = f"{route.signal}: refused by {where}: {answer}" if answer else f"{route.signal}: did not arrive at {where}"
    pasted = pasted_signal_path(route, environ)
    if pasted:
        return Judgement(status, pasted, False)
    if answer in NOT_TAKEN and route.signal == "metrics":
        return Judgement(status, f"{route.destination} does not take metrics ({answer}), as a traces-only backend "
                                 "does: set OTEL_METRICS_EXPORTER=none, or send metrics to an OpenTelemetry Collector "
                                 "or Prometheus with OTEL_EXPORTER_OTLP_METRICS_ENDPOINT.", traces_arrived)
    return Judgement(status, failure_hint(route, answer, environ), False)


def failure_hint(route: Route, answer: str | None, environ: Mapping[str, str]) -> str:
    signal, destination = route.signal, route.destination
    wrong_port = protocol_mismatch(route)
    if wrong_port:
        return wrong_port
    if answer in NOT_TAKEN:
        return (f"{destination} is not an OTLP {signal} endpoint ({answer}): check the host, port and path "
                f"in {endpoint_variable(route, environ)} ({PORT_HINT}; the OTLP/HTTP paths are /v1/traces "
                "and /v1/metrics).")
    if answer in ("HTTP 401", "HTTP 403", "gRPC UNAUTHENTICATED", "gRPC PERMISSION_DENIED"):
        return (f"{destination} refused the {signal} ({answer}): give the credentials it expects in "
                "OTEL_EXPORTER_OTLP_HEADERS, for example OTEL_EXPORTER_OTLP_HEADERS=api-key=YOUR-KEY.")
    if answer == "gRPC UNAVAILABLE":
        return (f"{destination} did not take OTLP/gRPC ({answer}): check that it receives OTLP/gRPC on that port, "
                "or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf for an OTLP/HTTP receiver.")
    if answer is not None and answer.startswith("HTTP 4"):
        return f"{destination} rejected the {signal} ({answer}): check that it is an {route.label} receiver of them."
    if answer is not None:
        return f"{destination} failed to take the {signal} ({answer}): see the receiver's own logs."
    return f"The {signal} did not arrive at {destination}: {route.reason()}."


def endpoint_variable(route: Route, environ: Mapping[str, str]) -> str:
    """The variable that decides where ``route`` sends (or would, once set)."""
    own = f"OTEL_EXPORTER_OTLP_{route.signal.upper()}_ENDPOINT"
    return own if environ.get(own) else "OTEL_EXPORTER_OTLP_ENDPOINT"


def pasted_signal_path(route: Route, environ: Mapping[str, str]) -> str | None:
    """The fix when the common endpoint was given a signal's path, which OTLP/HTTP exporters append themselves."""
    common = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    if route.protocol != "http/protobuf" or endpoint_variable(route, environ) != "OTEL_EXPORTER_OTLP_ENDPOINT":
        return None
    path = urlsplit(common).path.rstrip("/")
    suffix = next((p for p in SIGNAL_PATHS if path.endswith(p)), None)
    if suffix is None:
        return None
    base = common.rstrip("/")[: -len(suffix)]
    return (f"OTEL_EXPORTER_OTLP_ENDPOINT ends in {suffix}, but the exporter appends /v1/traces and /v1/metrics "
            f"itself: set OTEL_EXPORTER_OTLP_ENDPOINT={base}, or put the full URL in "
            f"OTEL_EXPORTER_OTLP_{suffix.rsplit('/', 1)[1].upper()}_ENDPOINT.")


def protocol_mismatch(route: Route) -> str | None:
    """The fix when an exporter speaks one OTLP protocol to the other protocol's well-known port."""
    address = host_and_port(route.destination)
    if address is None:
        return None
    port = address[1]
    if route.protocol == "http/protobuf" and port == 4317:
        return (f"Port 4317 is the OTLP/gRPC port, and the {route.signal} went there over OTLP/HTTP: use port 4318, "
                "or set OTEL_EXPORTER_OTLP_PROTOCOL=grpc (pip install opentelemetry-exporter-otlp-proto-grpc).")
    if route.protocol == "grpc" and port == 4318:
        return (f"Port 4318 is the OTLP/HTTP port, and the {route.signal} went there over OTLP/gRPC: use port 4317, "
                "or set OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf.")
    return None
