"""OpenTelemetry instrumentation for the OpenAI Assistants API."""

from .instrumentor import AssistantsInstrumentor
from .version import __version__

__all__ = ["AssistantsInstrumentor", "__version__"]
