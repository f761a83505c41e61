"""The demo's second process: a worker that meets a run another process created, polls it to its
end and answers its tool calls, as a queue worker behind a status endpoint does.

``python -m otel_assistants.demo.worker BASE_URL RUN_ID THREAD_ID`` exports what it records through
the same OpenTelemetry environment as the demo, and prints it as one JSON line for the demo's
terminal view: ``{"status": ..., "exported": [...], "spans": [...]}`` (what its trace exporters sent and
delivered where, for the demo's verdict).
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from dataclasses import asdict
from typing import Any

import openai

from ..instrumentor import AssistantsInstrumentor
from .pipeline import apply_demo_defaults, build_pipeline
from .render import TreeSpan

TERMINAL = {"completed", "failed", "cancelled", "expired", "incomplete"}
POLL_INTERVAL_S = 0.005


def finish(client: openai.OpenAI, run_id: str, thread_id: str) -> Any:
    runs = client.beta.threads.runs
    while True:
        run = runs.retrieve(run_id, thread_id=thread_id)
        if run.status in TERMINAL:
            return run
        if run.status == "requires_action":
            calls = run.required_action.submit_tool_outputs.tool_calls
            time.sleep(0.05)  # the worker's own tool work
            runs.submit_tool_outputs(run_id, thread_id=thread_id, tool_outputs=[
                {"tool_call_id": call.id, "output": json.dumps({"city": "Paris", "celsius": 21})} for call in calls])
        time.sleep(POLL_INTERVAL_S)


def main(argv: list[str]) -> int:
    base_url, run_id, thread_id = argv
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    apply_demo_defaults(os.environ)
    pipeline = build_pipeline()
    instrumentor = AssistantsInstrumentor()
    instrumentor.instrument(tracer_provider=pipeline.tracer_provider, meter_provider=pipeline.meter_provider)
    try:
        with openai.OpenAI(base_url=base_url, api_key="demo-key") as client:
            run = finish(client, run_id, thread_id)
    finally:
        instrumentor.uninstrument()
    spans = [TreeSpan.from_sdk(span) for span in pipeline.spans.get_finished_spans()]
    pipeline.shutdown()
    exported = [{"destination": route.destination, "sent": route.sent, "delivered": route.delivered}
                for route in pipeline.routes_of("traces")]
    print(json.dumps({"status": run.status, "exported": exported, "spans": [asdict(span) for span in spans]}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
