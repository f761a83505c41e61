"""The demo's tracer and meter providers, configured as ``opentelemetry-instrument`` configures an app.

Which exporters run comes from ``OTEL_TRACES_EXPORTER`` / ``OTEL_METRICS_EXPORTER`` and the OTLP
protocol variables, resolved to exporter classes by the SDK's own configurator code through the
exporters' entry points; each exporter then reads its endpoint, headers, timeout, compression and
certificates from the environment itself. The demo adds an in-memory copy of all telemetry for the
terminal, and a record of what each exporter achieved, for the verdict.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader, MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from .delivery import OTLP_PROTOCOLS, ExportLog, Route, otlp_destination, probe

DEMO_SERVICE_NAME = "otel-assistants-demo"
SIGNALS = ("traces", "metrics")
EXPORTER_VARIABLES = {"traces": "OTEL_TRACES_EXPORTER", "metrics": "OTEL_METRICS_EXPORTER"}
# the OTLP exporters' entry point names -> (the package to install, the modules it brings)
EXPORTER_PACKAGES = {"otlp_proto_http": ("'otel-assistants[demo]'", ("opentelemetry.exporter.otlp.proto.http",)),
                     "otlp_proto_grpc": ("opentelemetry-exporter-otlp-proto-grpc",
                                         ("opentelemetry.exporter.otlp.proto.grpc", "grpc"))}


class ConfigurationError(Exception):
    """The OpenTelemetry environment asks for something this installation cannot do."""


def apply_demo_defaults(environ: MutableMapping[str, str]) -> None:
    """The demo's defaults, set in its own environment as a distro sets its own (opentelemetry-distro
    does the same): a signal is exported over OTLP when an endpoint for it is given, and shown only in
    the terminal otherwise; OTLP goes over HTTP, the specification's default protocol, unless told.
    """
    if not environ.get("OTEL_EXPORTER_OTLP_PROTOCOL"):
        environ["OTEL_EXPORTER_OTLP_PROTOCOL"] = "http/protobuf"
    for signal, variable in EXPORTER_VARIABLES.items():
        if not environ.get(variable):
            endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or environ.get(
                f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT")
            environ[variable] = "otlp" if endpoint else "none"


def exporter_classes() -> dict[str, dict[str, type]]:
    """Signal -> {entry point name: exporter or reader class}, as the environment selects them."""
    # Private SDK helpers, on purpose: they are the code opentelemetry-instrument runs to turn these
    # variables into exporter classes (entry points, the "otlp" name mapped by protocol, "none").
    # Their signatures are unchanged from opentelemetry-sdk 1.27.0 to 1.45.2.
    from opentelemetry.sdk._configuration import _get_exporter_names, _import_exporters

    requested: list[str] = []
    try:
        names = {signal: _get_exporter_names(signal) for signal in SIGNALS}  # type: ignore[arg-type]
        requested = [name for signal_names in names.values() for name in signal_names]
        spans, metrics, _ = _import_exporters(names["traces"], names["metrics"], [])
    # an unknown exporter or protocol (RuntimeError), an exporter whose modules are missing (ImportError)
    except (RuntimeError, ImportError) as error:
        raise ConfigurationError(_explain(error, requested)) from error
    return {"traces": dict(spans), "metrics": dict(metrics)}


def _explain(error: Exception, requested: Sequence[str]) -> str:
    for name, (package, modules) in EXPORTER_PACKAGES.items():
        if name not in requested:
            continue
        if (isinstance(error, RuntimeError) and f"'{name}'" in str(error)) or (
                isinstance(error, ImportError) and (error.name or "").startswith(modules)):
            return f"OTLP over {OTLP_PROTOCOLS[name]} needs an exporter that is not installed: pip install {package}"
    return f"the OpenTelemetry exporter settings cannot be used: {error}"


def demo_resource() -> Resource:
    """The SDK's resource from the environment (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, detectors),
    named after the demo unless the environment names the service."""
    resource = Resource.create()
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEMO_SERVICE_NAME}))
    return resource


def _recording(cls: type, route: Route, log: ExportLog) -> type:
    """``cls`` whose exports are counted on ``route``, with what it logs meanwhile kept there."""

    class Recording(cls):  # type: ignore[valid-type,misc]
        def export(self, batch: Any, *args: Any, **kwargs: Any) -> Any:
            items = len(batch) if route.signal == "traces" else 1
            with log.during(route):
                try:
                    result = super().export(batch, *args, **kwargs)
                except BaseException as error:
                    route.error = error
                    route.record(False, items)
                    raise
            route.record(getattr(result, "name", None) == "SUCCESS", items)
            return result

    Recording.__name__ = Recording.__qualname__ = cls.__name__
    return Recording


@dataclass
class Pipeline:
    tracer_provider: TracerProvider
    meter_provider: MeterProvider
    spans: InMemorySpanExporter
    metrics: InMemoryMetricReader
    routes: list[Route]

    def routes_of(self, signal: str) -> list[Route]:
        return [route for route in self.routes if route.signal == signal]

    def shutdown(self) -> None:
        """Flush and stop both providers: the exporters send what they hold, once, at the same time."""
        with ThreadPoolExecutor(max_workers=2) as pool:
            for done in [pool.submit(self.tracer_provider.shutdown), pool.submit(self.meter_provider.shutdown)]:
                done.result()


def build_pipeline() -> Pipeline:
    """Providers for the demo from ``os.environ``; raises :class:`ConfigurationError`."""
    log = ExportLog()
    log.install()
    classes = exporter_classes()
    resource = demo_resource()
    spans = InMemorySpanExporter()
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    metrics = InMemoryMetricReader()
    readers: list[MetricReader] = [metrics]
    routes: list[Route] = []
    try:
        for name, cls in classes["traces"].items():
            route = _route("traces", name, cls)
            routes.append(route)
            if route.unreachable is None:
                tracer_provider.add_span_processor(BatchSpanProcessor(_recording(cls, route, log)()))
        for name, cls in classes["metrics"].items():
            route = _route("metrics", name, cls)
            routes.append(route)
            if route.pull:
                readers.append(cls())
            elif route.unreachable is None:
                readers.append(PeriodicExportingMetricReader(_recording(cls, route, log)()))
    except Exception as error:  # an exporter refused its settings (a bad timeout, certificate, ...)
        tracer_provider.shutdown()
        raise ConfigurationError(f"an exporter could not be set up: {type(error).__name__}: {error}") from error
    meter_provider = MeterProvider(resource=resource, metric_readers=readers, shutdown_on_exit=False)
    return Pipeline(tracer_provider, meter_provider, spans, metrics, routes)


def _route(signal: str, name: str, cls: type) -> Route:
    if isinstance(cls, type) and issubclass(cls, MetricReader):
        return Route(signal, name, destination=f"the {name} reader", pull=True)
    protocol = OTLP_PROTOCOLS.get(name)
    if protocol is None:
        return Route(signal, name, destination=f"the {name} exporter")
    destination = otlp_destination(signal, protocol, os.environ)
    return Route(signal, name, destination=destination, protocol=protocol, unreachable=probe(destination))
