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
BATCH = "file batch with an unsupported file"  # no run: a vector store file batch, one of its 3 files a .png
REFUSED = "message on a thread with an active run"  # a message the API refuses (HTTP 400), then the run cancelled
# scenario title -> the outcome line the demo prints for it
OUTCOMES = {"completed run": "completed", "tool-calling run": "completed", "failed run": "failed",
            "expired run": "expired", "cancelled run": "cancelled", "streamed run": "completed",
            ELSEWHERE: "completed", BATCH: "completed (1 of 3 files failed)",
            REFUSED: "message refused (HTTP 400), run cancelled"}
# scenario title -> the status its run ends in, for every scenario that drives a run
RUN_STATUSES = {**{title: status for title, status in OUTCOMES.items() if title not in (BATCH, REFUSED)},
                REFUSED: "cancelled"}
# scenario title -> the names of the spans beneath its root span `demo: <title>`
ROOT_CHILDREN = {**{title: ("create_thread", RUN) for title in RUN_STATUSES},
                 BATCH: ("create_vector_store", "ingest_file_batch", "upload_file", "upload_file", "upload_file"),
                 REFUSED: ("create_message", "create_thread", RUN)}
# run status -> (error.type, runs ending so) of the workload
RUN_ENDS = {"completed": (None, 4), "failed": ("server_error", 1), "expired": ("expired", 1), "cancelled": (None, 2)}
# the file batch's files: ingestion status -> (error.type, files ending so)
FILES = {"completed": (None, 2), "failed": ("files_failed", 1)}


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
