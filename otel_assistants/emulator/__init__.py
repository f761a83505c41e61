"""A local, scenario-driven emulator of the OpenAI Assistants API v2.

It speaks the same HTTP and server-sent events as the real service, so the unmodified `openai`
SDK can be pointed at it (``base_url=emu.base_url``) to exercise instrumentation, tests and
dashboards without network access or cost. How each run behaves is scripted by a scenario string;
see :mod:`otel_assistants.emulator.scenario`. It answers Responses API calls as well
(:mod:`otel_assistants.emulator.responses_api`). To test a client against a misbehaving
server, ``Emulator.mutate`` rewrites what it sends; see :mod:`otel_assistants.emulator.faults`.
"""

from .faults import DROP, SKIP, Exchange, Frames, Mutator, Raw, Reply, Sse
from .scenario import Scenario, ScenarioError, parse_scenario
from .server import Emulator, RequestRecord

__all__ = [
    "DROP", "SKIP", "Emulator", "Exchange", "Frames", "Mutator", "Raw", "Reply", "RequestRecord", "Scenario",
    "ScenarioError", "Sse", "parse_scenario",
]
