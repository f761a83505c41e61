"""export_bundle writes what users mount, from a checkout and from an installed wheel."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from otel_assistants import bundle, cli

from . import support

EXPECTED = {
    "README.md",
    "grafana/dashboards/assistants-runs.json",
    "grafana/dashboards/assistants-tools-streams.json",
    "grafana/dashboards/assistants-to-responses.json",
    "grafana/dashboards/assistants-vector-stores.json",
    "grafana/provisioning/alerting/otel-assistants.yml",
    "grafana/provisioning/dashboards/otel-assistants.yml",
    "grafana/provisioning/datasources/otel-assistants.yml",
    "prometheus/rules/otel-assistants.yml",
}


def _relative(paths: list[Path], root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in paths}

# bundle file -> the generated file it copies
SHIPPED = {
    "grafana/dashboards/assistants-runs.json": "grafana/assistants-runs.json",
    "grafana/dashboards/assistants-tools-streams.json": "grafana/assistants-tools-streams.json",
    "grafana/dashboards/assistants-to-responses.json": "grafana/assistants-to-responses.json",
    "grafana/dashboards/assistants-vector-stores.json": "grafana/assistants-vector-stores.json",
    "grafana/provisioning/alerting/otel-assistants.yml": "provisioning/alerting/otel-assistants.yml",
    "grafana/provisioning/dashboards/otel-assistants.yml": "provisioning/dashboards/otel-assistants.yml",
    "grafana/provisioning/datasources/otel-assistants.yml": "provisioning/datasources/otel-assistants.yml",
    "prometheus/rules/otel-assistants.yml": "alerts/otel-assistants.yml",
}
ALERT_FILES = ("grafana/provisioning/alerting/otel-assistants.yml", "prometheus/rules/otel-assistants.yml")


def test_export_from_the_checkout(tmp_path: Path) -> None:
    written = bundle.export_bundle(tmp_path / "out")
    assert _relative(written, tmp_path / "out") == EXPECTED
    assert all(p.is_file() for p in written)
    shipped = support.DASHBOARDS / "grafana" / "assistants-runs.json"
    assert (tmp_path / "out/grafana/dashboards/assistants-runs.json").read_text() == shipped.read_text()


def test_export_overwrites_and_leaves_other_files(tmp_path: Path) -> None:
    (tmp_path / "prometheus/rules").mkdir(parents=True)
    (tmp_path / "prometheus/rules/otel-assistants.yml").write_text("old")
    (tmp_path / "prometheus/rules/mine.yml").write_text("mine")
    bundle.export_bundle(tmp_path)
    assert (tmp_path / "prometheus/rules/otel-assistants.yml").read_text().startswith("# Generated")
    assert (tmp_path / "prometheus/rules/mine.yml").read_text() == "mine"


def test_export_can_point_the_runbooks_elsewhere(tmp_path: Path) -> None:
    bundle.export_bundle(tmp_path, runbook_base_url="https://wiki.example.com/runbooks/")
    for path in ("prometheus/rules/otel-assistants.yml", "grafana/provisioning/alerting/otel-assistants.yml"):
        text = (tmp_path / path).read_text()
        assert bundle.RUNBOOK_BASE_URL not in text
        assert "https://wiki.example.com/runbooks/AssistantsRunFailureRateHigh.md" in text


@pytest.mark.parametrize("base_url", [None, "https://wiki.example.com/runbooks/"], ids=["default", "own-runbooks"])
def test_cli_dashboards_export(base_url: str | None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mount"
    options = ["--runbook-base-url", base_url] if base_url else []
    assert cli.main(["dashboards", "export", str(out), *options]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert len(printed) == len(EXPECTED)
    assert _relative([Path(line) for line in printed], out) == EXPECTED
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == EXPECTED
    runbooks = bundle.RUNBOOK_BASE_URL if base_url is None else base_url.rstrip("/")
    for relative, source in SHIPPED.items():
        shipped = (support.DASHBOARDS / source).read_text(encoding="utf-8")
        expected = shipped.replace(bundle.RUNBOOK_BASE_URL, runbooks)
        assert (out / relative).read_text(encoding="utf-8") == expected, relative
    for relative in ALERT_FILES:
        urls = re.findall(r"runbook_url: (\S+)", (out / relative).read_text(encoding="utf-8"))
        assert urls, relative
        for url in urls:
            name = url.removeprefix(runbooks + "/")
            assert re.fullmatch(r"Assistants\w+\.md", name), url
            assert (support.RUNBOOKS / name).is_file(), url
    if base_url is not None:
        assert bundle.RUNBOOK_BASE_URL not in "".join((out / r).read_text(encoding="utf-8") for r in ALERT_FILES)


@pytest.mark.parametrize(
    ("arguments", "command", "error"),
    [
        (["dashboards"], "dashboards", "the following arguments are required: action"),
        (["dashboards", "export"], "dashboards export", "the following arguments are required: DIR"),
        (["dashboards", "export", "{out}", "--runbook-base-url"], "dashboards export",
         "argument --runbook-base-url: expected one argument"),
        (["dashboards", "import", "{out}"], "dashboards", "argument action: invalid choice: 'import'"),
    ],
    ids=["no-action", "no-dir", "no-url", "unknown-action"],
)
def test_cli_dashboards_export_bad_arguments(arguments: list[str], command: str, error: str, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "mount"
    with pytest.raises(SystemExit) as exited:
        cli.main([a.format(out=out) for a in arguments])
    assert exited.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith(f"usage: otel-assistants {command} [-h]")
    assert f"\notel-assistants {command}: error: {error}" in captured.err
    assert not out.exists()


def test_cli_dashboards_export_onto_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """DIR naming a file: a one-line error and exit code 1, not a traceback."""
    target = tmp_path / "taken"
    target.write_text("mine")
    with pytest.raises(SystemExit) as exited:
        cli.main(["dashboards", "export", str(target)])
    assert exited.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("otel-assistants dashboards export: error: ")
    assert str(target) in captured.err and captured.err.count("\n") == 1
    assert target.read_text() == "mine"


def test_export_from_an_installed_wheel(tmp_path: Path) -> None:
    """`pip install .` into a fresh venv, then export from there, far from the checkout."""
    source = tmp_path / "src"
    shutil.copytree(
        support.REPO,
        source,
        ignore=shutil.ignore_patterns(".venv", ".git", ".ci", "tests", "__pycache__", "*.egg-info", "build", "dist"),
    )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", f"{source}{os.sep}"],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    shutil.rmtree(source)  # nothing may be read from the sources any more

    script = textwrap.dedent(
        """
        import json, sys
        from pathlib import Path
        import otel_assistants
        from otel_assistants.bundle import data_root, export_bundle
        out = Path(sys.argv[1])
        written = export_bundle(out)
        print(json.dumps({"package": otel_assistants.__file__, "root": str(data_root()),
                          "written": [p.relative_to(out).as_posix() for p in written]}))
        """
    )
    out = tmp_path / "bundle"
    result = subprocess.run(
        [str(python), "-c", script, str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert Path(report["package"]).resolve().is_relative_to(venv.resolve())
    assert Path(report["root"]).resolve().is_relative_to(venv.resolve())
    assert set(report["written"]) == EXPECTED
    for relative in EXPECTED - {"README.md"}:
        assert (out / relative).stat().st_size > 0, relative
