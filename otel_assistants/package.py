"""The SDK range this instrumentation supports (read by opentelemetry-instrument)."""

_instruments = ("openai >= 1.21.0, < 4",)
