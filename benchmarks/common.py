"""What the benchmark scripts share: the emulator in its own process, peer environments, numbers."""

from __future__ import annotations

import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from types import TracebackType

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENVS = HERE / ".venvs"

# What a user would install instead of us, pinned so a table can be reproduced.
PEERS = {
    "openllmetry": "opentelemetry-instrumentation-openai==0.62.4",
    "openinference": "openinference-instrumentation-openai==0.1.66",
}


class EmulatorProcess:
    """The Assistants API emulator in a child process, so its CPU is never charged to the
    process being measured. Started and stopped by this object only."""

    def __init__(self, poll_after_ms: int = 1) -> None:
        self.poll_after_ms = poll_after_ms
        self.base_url = ""
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> EmulatorProcess:
        command = [sys.executable, "-m", "otel_assistants.emulator", "--port", "0", "--quiet",
                   "--poll-after-ms", str(self.poll_after_ms)]
        self._process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=REPO)
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        found = re.search(r"(http://\S+/v1)", line)
        if found is None:
            self.__exit__(None, None, None)
            raise RuntimeError(f"the emulator did not start: {line!r}")
        self.base_url = found.group(1)
        return self

    def reset(self) -> None:
        """Forget every object: a long benchmark keeps the server's store (and its cost) small."""
        root = self.base_url.rsplit("/v1", 1)[0]
        request = urllib.request.Request(f"{root}/_emulator/reset", method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()

    def cpu_seconds(self) -> float:
        """User plus system CPU the emulator has used so far (from /proc)."""
        if self._process is None:
            return 0.0
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


# ----- peer environments -------------------------------------------------------------------------


def venv_python(name: str) -> Path:
    return VENVS / name / "bin" / "python"


def ensure_peer_venv(name: str, openai_version: str | None, log: Path) -> tuple[Path | None, str]:
    """Create (once) a virtual environment holding one peer instrumentation, the same openai and
    opentelemetry-sdk as ours unless told otherwise. Returns its interpreter, or None and why not."""
    python = venv_python(name)
    marker = VENVS / name / "benchmark-requirements.txt"
    wanted = [
        PEERS[name],
        f"openai=={openai_version or metadata.version('openai')}",
        f"opentelemetry-sdk=={metadata.version('opentelemetry-sdk')}",
    ]
    if python.exists() and marker.exists() and marker.read_text().split("\n") == wanted:
        return python, "reused"
    VENVS.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        steps = [
            [sys.executable, "-m", "venv", "--clear", str(VENVS / name)],
            [str(python), "-m", "pip", "install", "--quiet", *wanted],
        ]
        for step in steps:
            out.write(f"$ {' '.join(step)}\n")
            out.flush()
            done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=False)
            if done.returncode != 0:
                return None, f"install failed ({' '.join(wanted)}), see {log}"
    marker.write_text("\n".join(wanted))
    return python, "created"


# ----- running the worker --------------------------------------------------------------------------


def run_worker(python: Path | str, base_url: str, arguments: Sequence[str],
               timeout: float | None = None) -> dict[str, object]:
    """One worker process; its last stdout line is its JSON answer. A crash is an answer too."""
    command = [str(python), str(HERE / "worker.py"), "--base-url", base_url, *arguments]
    env = dict(os.environ)
    env.pop("OTEL_PYTHON_DISABLED_INSTRUMENTATIONS", None)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    elapsed = time.perf_counter() - started
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return {"crashed": " | ".join(tail) or f"exit {done.returncode}", "elapsed": elapsed}
    answer = json.loads(lines[-1])
    answer["elapsed"] = elapsed
    return answer


# ----- numbers ---------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){memory}, {platform.system()} {platform.release()}, " \
           f"Python {platform.python_version()}"


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A Markdown table padded to line up in a terminal as well."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(str(cell).ljust(width) for cell, width in zip(cells, widths, strict=True)) + " |"

    rule = "| " + " | ".join("-" * width for width in widths) + " |"
    return "\n".join([line(headers), rule, *(line(row) for row in rows)])


def publish(text: str, raw: dict[str, object], markdown: Path | None, json_path: Path | None) -> None:
    """Print a report, and keep it and its raw numbers where asked."""
    print(text)
    if markdown:
        markdown.write_text(text + "\n")
    if json_path:
        json_path.write_text(json.dumps(raw, indent=1))
