"""Instructions per run: the workloads of overhead.py, counted by valgrind's callgrind instead of timed.

    python benchmarks/instructions.py             # ours, run_steps=off and fetch (about 20 min on 2 cores)
    python benchmarks/instructions.py --peers     # also OpenLLMetry and OpenInference (about 40 min)

On a shared machine the CPU time of one batch of runs moves by tens of percent from one batch to
the next; the number of instructions the client executes for it does not. Each variant's worker
runs a workload at two sizes under callgrind (all of the process's threads are counted, the span
processor's included; the emulator is another process and is not); the slope between the two is
its instructions per run, free of start-up and import costs, and "added" is that slope minus the
uninstrumented one. The µs column converts it at this machine's own rate for the uninstrumented
workload (its fastest CPU time per run of five timed batches, over its instructions per run), as a guide
for comparing with the timed tables.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import HERE, PEERS, EmulatorProcess, ensure_peer_venv, machine, publish, render_table, run_worker

# Runs per worker at the two sizes; streams are dearer under valgrind, so they take fewer.
SIZES = {"poll": (20, 220), "tools": (20, 220), "stream": (5, 45), "stream0": (20, 220), "async": (20, 220)}
IN_FLIGHT = 20  # async runs in flight at once (both sizes are whole rounds of it)
LABELS = {"poll": "(a) create_and_poll", "tools": "(b) tool run", "stream": "(c) stream, 200 deltas",
          "stream0": "(c0) stream, no deltas", "async": "(d) async, in flight"}
NAMES = {"ours-off": "otel-assistants, run_steps=off", "ours-fetch": "otel-assistants, run_steps=fetch",
         "openllmetry": "OpenLLMetry", "openinference": "OpenInference"}
COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")
# Our instrumentation with its spans unsampled and/or its metrics to a no-op meter: what is left
# of each is the instrumentation's own work, the rest is what the OpenTelemetry SDK charges.
PARTS = ("ours-nometrics", "ours-unsampled", "ours-bare")
BROKEN_DOWN = ("poll", "stream0")  # a polled run, and a streamed run's per-run part
# The per-event cost: a recorded stream replayed through the real client (no socket, no SSE
# parsing: only the SDK's event loop and ours), at two numbers of message deltas.
EVENTS = (200, 2200)
EVENT_STREAMS = 10  # streams per worker pass; micro mode makes a warm-up pass and one measured


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workloads", default=",".join(SIZES), help=f"comma-separated subset of {', '.join(SIZES)}")
    parser.add_argument("--peers", action="store_true", help="also the peer instrumentations (their own venvs)")
    parser.add_argument("--jobs", type=int, default=2, help="workers under valgrind at once (default 2)")
    parser.add_argument("--deltas", type=int, default=200, help="message deltas per streamed run (default 200)")
    parser.add_argument("--breakdown", action="store_true",
                        help="also split (a) and (c0) into the SDK's span work, its metric work and the "
                             "instrumentation's own")
    parser.add_argument("--per-event", action="store_true",
                        help="also the added instructions per stream event, from a replayed stream")
    parser.add_argument("--json", type=Path, help="also write every raw count here")
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    args = parser.parse_args(argv)
    args.workloads = [w for w in args.workloads.split(",") if w]
    if set(args.workloads) - set(SIZES):
        parser.error(f"unknown workloads: {', '.join(sorted(set(args.workloads) - set(SIZES)))}")
    if shutil.which("valgrind") is None:
        parser.error("valgrind is not on the PATH (Debian: apt-get install valgrind)")
    return args


def worker_arguments(args: argparse.Namespace, workload: str, mode: str, variant: str, runs: int) -> list[str]:
    return ["--mode", mode, "--workload", workload, "--variants", variant, "--runs", str(runs),
            "--deltas", str(args.deltas), "--in-flight", str(IN_FLIGHT)]


def counted(python: str, base_url: str, arguments: list[str]) -> dict[str, Any]:
    """One worker under callgrind: the instructions it executed and its own answer."""
    with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", f"--log-file={log.name}",
                   python, str(HERE / "worker.py"), "--base-url", base_url, *arguments]
        # A fixed hash seed: string hashing otherwise moves a start-up's count by millions.
        done = subprocess.run(command, capture_output=True, text=True, check=False,
                              env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1"})
        found = COLLECTED.search(Path(log.name).read_text())
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    answer: dict[str, Any] = json.loads(lines[-1]) if lines else {"error": (done.stderr or "no answer")[-300:]}
    answer["instructions"] = int(found.group(1)) if found else None
    return answer


def measure(args: argparse.Namespace, base_url: str, suites: dict[str, tuple[str, list[str]]]) -> dict[str, Any]:
    jobs = []
    for suite, (python, variants) in suites.items():
        for variant in variants:
            for workload in args.workloads:
                for runs in SIZES[workload]:
                    jobs.append((suite, python, variant, workload, runs))
    jobs += [("ours", sys.executable, part, workload, runs) for workload in broken_down(args) for part in PARTS
             for runs in SIZES[workload]]
    if args.per_event:
        jobs += [("ours", sys.executable, variant, "events", events) for variant in ("base", "ours-off")
                 for events in EVENTS]
    raw: dict[str, Any] = {"counts": {}, "rate": {}, "spans": {}}

    def one(job: tuple[str, str, str, str, int]) -> None:
        suite, python, variant, workload, runs = job
        if workload == "events":  # one recorded stream replayed with `runs` message deltas, no socket
            arguments = ["--mode", "micro", "--workload", "stream", "--variants", variant, "--runs",
                         str(EVENT_STREAMS), "--reps", "1", "--micro-events", str(runs)]
        else:
            arguments = worker_arguments(args, workload, "single", variant, runs)
        answer = counted(python, base_url, arguments)
        raw["counts"][f"{suite}:{variant}/{workload}/{runs}"] = answer
        print(f"[{time.strftime('%H:%M:%S')}] {suite}:{variant} {workload} x{runs}: {answer.get('instructions')}",
              file=sys.stderr, flush=True)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(one, jobs))
    for workload in args.workloads:  # the machine's rate: the uninstrumented workload, timed
        samples = [run_worker(sys.executable, base_url, worker_arguments(args, workload, "single", "base",
                                                                         SIZES[workload][1])) for _ in range(5)]
        # The fastest batch: what the machine's noise adds to the others is not the workload's.
        raw["rate"][workload] = min(s["cpu"] / s["runs"] for s in samples if s.get("runs"))
    for python, variants in suites.values():
        for variant in variants[1:]:
            for workload in args.workloads:
                answer = run_worker(python, base_url, worker_arguments(args, workload, "count", variant, 10))
                raw["spans"][f"{variant}/{workload}"] = answer
    return raw


def slope(raw: dict[str, Any], suite: str, variant: str, workload: str) -> tuple[float | None, str]:
    """Instructions per run between the two sizes, or None and why."""
    small, large = SIZES[workload]
    answers = [raw["counts"].get(f"{suite}:{variant}/{workload}/{runs}", {}) for runs in (small, large)]
    for answer in answers:
        if answer.get("error") or answer.get("instructions") is None:
            return None, str(answer.get("error", "no count"))[:120]
    return (answers[1]["instructions"] - answers[0]["instructions"]) / (large - small), ""


def report(args: argparse.Namespace, suites: dict[str, tuple[str, list[str]]], raw: dict[str, Any]) -> str:
    rows = []
    for workload in args.workloads:
        for suite, (_, variants) in suites.items():
            own_base, _ = slope(raw, suite, "base", workload)
            for variant in variants[1:]:
                per_run, why = slope(raw, suite, variant, workload)
                spans = raw["spans"].get(f"{variant}/{workload}", {})
                per_span = f"{spans['spans'] / spans['runs']:.1f}" if spans.get("runs") else "-"
                if per_run is None or own_base is None:
                    rows.append([LABELS[workload], NAMES[variant], "-", "-", "-", "-", per_span, f"fails: {why}"])
                    continue
                added = per_run - own_base
                rows.append([LABELS[workload], NAMES[variant], f"{own_base / 1e3:,.0f}", f"{added / 1e3:,.0f}",
                             f"{added / own_base:+.1%}", f"{microseconds(raw, workload, added):,.0f}", per_span, ""])
    table = render_table(["workload", "instrumentation", "base kinstr/run", "added kinstr/run", "added",
                          "≈ added µs/run", "spans/run", "note"], rows)
    lines = [f"Machine: {machine()}", f"Sizes: {SIZES} runs per worker, {args.deltas} deltas per streamed run, "
             f"{IN_FLIGHT} async runs in flight", "", table]
    lines += [part for workload in broken_down(args) for part in ("", breakdown(raw, workload))]
    per_event = _per_event(raw) if args.per_event else None
    if per_event is not None:
        lines += ["", f"Per stream event (a replayed stream's message deltas, otel-assistants, run_steps=off): "
                      f"{per_event:,.0f} instructions added, ≈ {microseconds(raw, 'poll', per_event):.3f} µs"]
    return "\n".join(lines)


def broken_down(args: argparse.Namespace) -> list[str]:
    """The workloads --breakdown splits: those of BROKEN_DOWN being measured (the split needs their base)."""
    return [workload for workload in BROKEN_DOWN if workload in args.workloads] if args.breakdown else []


def breakdown(raw: dict[str, Any], workload: str) -> str:
    """Where the added instructions of one workload go."""
    label = LABELS[workload].split(" ")[0]
    base = slope(raw, "ours", "base", workload)[0]
    parts = {name: slope(raw, "ours", name, workload)[0] for name in ("ours-off", *PARTS)}
    if base is None or any(value is None for value in parts.values()):
        return f"Breakdown of {label}: not measured (a worker failed)"
    added = {name: value - base for name, value in parts.items()}  # type: ignore[operator]
    rows = [
        ("the instrumentation's own work (spans unsampled, metrics to a no-op meter)", added["ours-bare"]),
        ("the SDK recording its spans", added["ours-nometrics"] - added["ours-bare"]),
        ("the SDK recording its metric points", added["ours-unsampled"] - added["ours-bare"]),
        ("together, as shipped", added["ours-off"]),
    ]
    return f"Breakdown of {label}, added per run:\n" + "\n".join(
        f"- {what}: {value / 1e3:,.0f} kinstr, ≈ {microseconds(raw, workload, value):,.0f} µs" for what, value in rows)


def microseconds(raw: dict[str, Any], workload: str, instructions: float) -> float:
    """Instructions as time, at this machine's rate for the uninstrumented workload."""
    base, _ = slope(raw, "ours", "base", workload)
    rate = raw["rate"].get(workload)
    return instructions * rate * 1e6 / base if rate and base else float("nan")


def _per_event(raw: dict[str, Any]) -> float | None:
    """Added instructions per replayed message delta: the slope over the delta count, ours minus base."""
    slopes = []
    for variant in ("base", "ours-off"):
        answers = [raw["counts"].get(f"ours:{variant}/events/{events}", {}).get("instructions") for events in EVENTS]
        if None in answers:
            return None
        slopes.append((answers[1] - answers[0]) / (2 * EVENT_STREAMS * (EVENTS[1] - EVENTS[0])))
    return slopes[1] - slopes[0]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    suites: dict[str, tuple[str, list[str]]] = {"ours": (sys.executable, ["base", "ours-off", "ours-fetch"])}
    if args.peers:
        log = HERE / ".venvs" / "install.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        for peer in PEERS:
            python, how = ensure_peer_venv(peer, None, log)
            if python is None:
                print(f"{peer}: {how}", file=sys.stderr)
                continue
            suites[peer] = (str(python), ["base", peer])
    with EmulatorProcess() as emulator:
        raw = measure(args, emulator.base_url, suites)
    text = report(args, suites, raw)
    publish(text, raw, args.markdown, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
