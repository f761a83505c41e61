"""An app instrumented by configuration alone: run as ``opentelemetry-instrument python assistants_app.py``.

It drives the demo's one-process scenarios through the real ``openai`` SDK against the emulator, each inside a
span of its own made with the OpenTelemetry API; the SDK, the exporter and otel-assistants come from
opentelemetry-instrument and the standard OTEL_* environment.
"""

from __future__ import annotations

import openai
from opentelemetry import trace

from otel_assistants.demo.workload import ASSISTANT, SCENARIOS, finished_by_another_process, outcome
from otel_assistants.emulator import Emulator


def main() -> None:
    tracer = trace.get_tracer("assistants-app")
    with Emulator(poll_after_ms=5) as emulator:
        client = openai.OpenAI(base_url=emulator.base_url, api_key="app-key")
        assistant = client.beta.assistants.create(**ASSISTANT)
        # The scenarios of one process: the run another process finishes is the demo's to show.
        for scenario in [s for s in SCENARIOS if s.drive is not finished_by_another_process]:
            with tracer.start_as_current_span(f"app: {scenario.title}"):
                result = scenario.drive(client, assistant.id)
            print(f"{scenario.title} -> {outcome(result)}")


if __name__ == "__main__":
    main()
