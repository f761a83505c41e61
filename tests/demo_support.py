"""Running ``otel-assistants demo`` as a user runs it, and what its workload is known to produce."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

from .support.processes import clean_environment

RUN = "invoke_agent weather-assistant"
TOOL = "execute_tool get_weather"
ELSEWHERE = "run finished by another process"  # its await_run span and tool call come from the worker process
# scenario title -> the status its run ends in
OUTCOMES = {"completed run": "completed", "tool-calling run": "completed", "failed run": "failed",
            "expired run": "expired", "cancelled run": "cancelled", "streamed run": "completed",
            "run finished by another process": "completed"}
# run status -> (error.type, runs ending so) of the workload
RUN_ENDS = {"completed": (None, 4), "failed": ("server_error", 1), "expired": ("expired", 1), "cancelled": (None, 1)}


def demo(env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """The installed console script, as the README runs it, with no OTEL_* setting but ``env``'s."""
    command = shutil.which("otel-assistants", path=str(Path(sys.executable).parent))
    assert command is not None, "the otel-assistants console script is not installed next to the interpreter"
    return subprocess.run([command, "demo"], capture_output=True, text=True, env=clean_environment(env),
                          timeout=timeout, check=False)


def free_port() -> int:
    """A loopback port nothing listens on (bound for a moment, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
