"""Reads the telemetry contract (``docs/telemetry-contract.md``) for cross-checks."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CONTRACT = REPO / "docs" / "telemetry-contract.md"


@dataclass(frozen=True)
class Instrument:
    name: str
    kind: str  # counter, histogram, up-down counter
    unit: str
    attributes: tuple[str, ...]
    # Attributes only the points of failed requests carry (the sentence under the table).
    failure_attributes: tuple[str, ...] = ()


def _metrics_section(text: str) -> str:
    start = text.index("## 3. Metrics")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def instruments(text: str | None = None) -> list[Instrument]:
    """The instrument table of section 3, one entry per row."""
    section = _metrics_section(CONTRACT.read_text() if text is None else text)
    found: list[Instrument] = []
    for line in section.splitlines():
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name, kind, unit, attributes = (cells[0].strip("`"), cells[1], cells[2].strip("`"), cells[3])
        # "as above" (run.duration) means the same set as the row before.
        same = attributes == "as above"
        attrs = found[-1].attributes if same else tuple(re.findall(r"`([^`]+)`", attributes))
        found.append(Instrument(name, kind, unit, attrs))
    # "`gen_ai.client.operation.duration` points of failed requests also carry `...reason`" (2.8).
    on_failure = dict(re.findall(r"`([\w.]+)` points of failed requests also carry\s+`([\w.]+)`", section))
    return [replace(i, failure_attributes=(on_failure[i.name],)) if i.name in on_failure else i for i in found]


def duration_buckets(text: str | None = None) -> list[float]:
    section = _metrics_section(CONTRACT.read_text() if text is None else text)
    match = re.search(r"Duration buckets[^`]*`\[([^\]]+)\]`", section)
    assert match, "the contract no longer states the duration buckets"
    return [float(v) for v in match.group(1).split(",")]
