"""Writes the shipped Grafana dashboards, Prometheus alert rules and Grafana provisioning files.

The files are generated into the repository's ``dashboards/`` and installed with the package as data
files under ``<prefix>/share/otel-assistants/`` (same layout). ``export_bundle`` copies them into a
directory laid out for mounting into Grafana and Prometheus.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

DISTRIBUTION = "otel-assistants"
SHARE = ("share", "otel-assistants")
MARKER = Path("grafana", "assistants-runs.json")  # present in every complete copy

# Where the alert annotations point (the generator in dashboards/dashgen reads it from here).
RUNBOOK_BASE_URL = "https://github.com/otel-assistants/otel-assistants/blob/main/docs/runbooks"

# (folder in the data root, pattern, folder in the bundle)
LAYOUT: tuple[tuple[str, str, str], ...] = (
    ("grafana", "*.json", "grafana/dashboards"),
    ("provisioning/datasources", "*.yml", "grafana/provisioning/datasources"),
    ("provisioning/dashboards", "*.yml", "grafana/provisioning/dashboards"),
    ("provisioning/alerting", "*.yml", "grafana/provisioning/alerting"),
    ("alerts", "*.yml", "prometheus/rules"),
)

README = """\
# otel-assistants dashboards and alerts

- `grafana/dashboards/`: dashboards. Import them in Grafana (Dashboards > New > Import), or mount this
  folder at /var/lib/grafana/dashboards/otel-assistants for the provider below.
- `grafana/provisioning/`: mount at /etc/grafana/provisioning. `datasources/` declares Prometheus
  (uid `prometheus`), Tempo and Jaeger (edit their URLs); `dashboards/` loads the dashboards;
  `alerting/` holds the alert rules as Grafana-managed rules, for setups without a Prometheus ruler.
- `prometheus/rules/`: the same alerts as Prometheus rules; list the file under `rule_files:` in
  prometheus.yml. Use either these or the Grafana-managed rules, not both.
"""


def _share_root(parts: tuple[str, ...]) -> tuple[str, ...] | None:
    for index in range(len(parts) - 1):
        if parts[index : index + 2] == SHARE:
            return parts[: index + 2]
    return None


def _installed_roots() -> Iterator[Path]:
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        distribution = None
    if distribution is not None:
        # RECORD names data files relative to site-packages: ../../../share/otel-assistants/...
        for entry in distribution.files or []:
            root = _share_root(entry.parts)
            if root is not None:
                yield Path(os.path.normpath(str(distribution.locate_file(Path(*root)))))
                break
    # Installers that leave no RECORD: the usual data prefixes.
    prefixes = {sysconfig.get_path("data"), sys.prefix, sysconfig.get_path("data", f"{os.name}_user")}
    for prefix in sorted(p for p in prefixes if p):
        yield Path(prefix, *SHARE)


def data_root() -> Path:
    """The folder holding the generated files: the source checkout's ``dashboards/`` or the installed copy."""
    checkout = Path(__file__).resolve().parent.parent / "dashboards"
    candidates = [checkout, *_installed_roots()]
    for candidate in candidates:
        if (candidate / MARKER).is_file():
            return candidate
    searched = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"the otel-assistants dashboards are not installed (looked in {searched})")


def export_bundle(directory: Path, *, runbook_base_url: str | None = None) -> list[Path]:
    """Write the dashboards, alert rules and provisioning files into ``directory``.

    Existing files of the same name are overwritten; nothing else in ``directory`` is touched.
    ``runbook_base_url`` replaces the runbook location in the alert annotations, for teams that keep
    their own copy of ``docs/runbooks``. Returns the files written.
    """
    root = data_root()
    directory = Path(directory)
    written: list[Path] = []
    for source, pattern, destination in LAYOUT:
        sources = sorted((root / source).glob(pattern))
        if not sources:
            raise FileNotFoundError(f"no {pattern} in {root / source}: the installation is incomplete")
        target = directory / destination
        target.mkdir(parents=True, exist_ok=True)
        for path in sources:
            text = path.read_text(encoding="utf-8")
            if runbook_base_url:
                text = text.replace(RUNBOOK_BASE_URL, runbook_base_url.rstrip("/"))
            out = target / path.name
            out.write_text(text, encoding="utf-8")
            written.append(out)
    readme = directory / "README.md"
    readme.write_text(README, encoding="utf-8")
    written.append(readme)
    return written
