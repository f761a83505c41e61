"""The layout docs/architecture.md describes, held by the code: the choke point decides nothing by
operation name, and the run registry makes no telemetry."""

from __future__ import annotations

import ast
from pathlib import Path

from otel_assistants.routes import table

PACKAGE = Path(__file__).resolve().parent.parent / "otel_assistants"


def string_constants(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / module).read_text())
    return {node.value for node in ast.walk(tree) if isinstance(node, ast.Constant) and isinstance(node.value, str)}


def imported_modules(module: str) -> set[str]:
    tree = ast.parse((PACKAGE / module).read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def test_the_interceptor_names_no_operation() -> None:
    operations = {operation for _, _, operation in table()}
    assert string_constants("interceptor.py") & operations == set()


def test_the_registry_makes_no_telemetry() -> None:
    imports = imported_modules("registry.py")
    assert not {name for name in imports if name.startswith("opentelemetry")}
    assert not imports & {".spans", ".run_spans", ".outcomes", ".steps", ".telemetry", ".content"}
    # It reads no span either: what it keeps of a run's span is the context the tracker gave it.
    tree = ast.parse((PACKAGE / "registry.py").read_text())
    assert not [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Attribute) and node.attr == "span"]
