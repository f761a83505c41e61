"""``otel-assistants demo``: a real instrumented workload against the emulator, its telemetry shown or exported.

Importing this package needs the ``demo`` extra (``openai`` and the OpenTelemetry SDK).
"""

from .app import run_demo
from .pipeline import ConfigurationError

__all__ = ["ConfigurationError", "run_demo"]
