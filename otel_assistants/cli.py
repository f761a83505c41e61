"""The ``otel-assistants`` command: ``demo``, ``emulator`` and ``dashboards export``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="otel-assistants",
                                     description="OpenTelemetry for the OpenAI Assistants API")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "demo", help="run an instrumented workload against the emulator and show its telemetry",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Run an instrumented workload against the emulator on loopback. With no exporter configured,\n"
                    "print every trace as a tree and the metric totals; with OpenTelemetry's standard variables,\n"
                    "export them and say what arrived where.",
        epilog="examples:\n"
               "  OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 otel-assistants demo\n"
               "  OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:6006 OTEL_METRICS_EXPORTER=none otel-assistants demo\n"
               "  OTEL_EXPORTER_OTLP_PROTOCOL=grpc OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 \\\n"
               "    otel-assistants demo")
    emulator = commands.add_parser("emulator", help="serve the Assistants API emulator")
    emulator.add_argument("args", nargs=argparse.REMAINDER, help="emulator options (see --help)")
    dashboards = commands.add_parser("dashboards", help="Grafana dashboards and alert rules")
    dashboard_commands = dashboards.add_subparsers(dest="action", required=True)
    export = dashboard_commands.add_parser("export", help="write dashboards, rules and provisioning to DIR")
    export.add_argument("directory", type=Path, metavar="DIR")
    export.add_argument("--runbook-base-url", metavar="URL",
                        help="where your copy of docs/runbooks is served, for the alerts' runbook links")
    options = parser.parse_args(argv)

    if options.command == "demo":
        return demo()
    if options.command == "emulator":
        from .emulator.__main__ import main as serve

        return serve(options.args)
    from .bundle import export_bundle

    try:
        written = export_bundle(options.directory, runbook_base_url=options.runbook_base_url)
    except OSError as error:  # DIR is a file or unwritable, or the installation lacks the files
        export.exit(1, f"{export.prog}: error: {error}\n")
    for path in written:
        print(path)
    return 0


def demo() -> int:
    """Exit code 2, with one line saying what to do, when the installation or the configuration cannot run it."""
    try:
        from .demo import ConfigurationError, run_demo
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in ("openai", "opentelemetry"):
            raise
        print(f"otel-assistants demo needs the demo extra (cannot import {error.name}): "
              "pip install 'otel-assistants[demo]'", file=sys.stderr)
        return 2
    try:
        return run_demo()
    except ConfigurationError as error:
        print(f"otel-assistants demo: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
