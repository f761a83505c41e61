"""Running Python apps in a process of their own, free of this process' OTEL_* settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def clean_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """This process' environment without any OTEL_* setting, plus ``env``."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}, **(env or {})}


def run_script(path: Path, text: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Writes ``text`` to ``path`` and runs it with this Python and a clean environment."""
    path.write_text(text)
    return subprocess.run([sys.executable, str(path), *args], capture_output=True, text=True,
                          env=clean_environment(), timeout=120, check=False)
