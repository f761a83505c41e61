"""What the instrumentation costs an app, next to the instrumentations a user could install instead.

    python benchmarks/overhead.py            # full run (about an hour on 2 cores; see docs/performance.md)
    python benchmarks/overhead.py --quick    # smoke run, a couple of minutes
    python benchmarks/overhead.py --peers    # also OpenLLMetry and OpenInference, each in its own venv

Every workload runs against the Assistants API emulator on loopback, in its own process, so its CPU
is never charged to the client. Each instrumentation is measured in a worker process (worker.py)
that runs the same workload uninstrumented and instrumented, batch after batch, rotating the order
each repetition; the table shows medians over repetitions. Peak RSS needs a process per variant,
so it comes from a separate pass; what each instrumentation captured comes from another pass with
an in-memory exporter. Spans go to a no-op exporter behind a BatchSpanProcessor, metrics to an
in-memory reader that is never collected during timing.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common import PEERS, REPO, EmulatorProcess, ensure_peer_venv, machine, median, publish, render_table, run_worker

# Targets for our instrumentation with a no-op exporter (run_steps=off: the fetch is a request by design).
TARGET_RUN_US = 150.0
TARGET_EVENT_US = 2.0

WORKLOADS = {
    "poll": "create_and_poll",
    "tools": "tool run: create_and_poll, submit_tool_outputs_and_poll",
    "stream": "streamed run, create(stream=True), iterated",
    "stream0": "streamed run without message deltas (per-run part of (c))",
    "async": "AsyncOpenAI create_and_poll, runs in flight at once",
}
LABELS = {"poll": "(a) poll", "tools": "(b) tools", "stream": "(c) stream", "stream0": "(c0) stream, 0 deltas",
          "async": "(d) async"}
NAMES = {"ours-off": "ours, run_steps=off", "ours-fetch": "ours, run_steps=fetch (+1 request)",
         "openllmetry": "OpenLLMetry", "openinference": "OpenInference"}


@dataclass
class Suite:
    """One environment: its interpreter and the variants measured in it (base always first)."""

    name: str
    python: str
    variants: list[str]
    note: str = ""
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # workload -> worker answer


@dataclass
class Row:
    workload: str
    variant: str
    base_us: float = float("nan")
    added_us: float = float("nan")
    added_low: float = float("nan")
    added_high: float = float("nan")
    cpu_ratio: float = float("nan")
    wall_ratio: float = float("nan")
    events: float = 0.0
    per_event_us: float | None = None
    spans: float | None = None
    rss_base: float | None = None
    rss: float | None = None
    note: str = ""


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, two repetitions: a smoke run")
    parser.add_argument("--runs", type=int, help="runs per batch for every workload (default 1000)")
    parser.add_argument("--reps", type=int, help="repetitions (batches per variant; default 5)")
    parser.add_argument("--deltas", type=int, help="message deltas per streamed run (default 200)")
    parser.add_argument("--in-flight", type=int, help="async runs in flight at once (default 200)")
    parser.add_argument("--workloads", default="poll,tools,stream,stream0,async",
                        help="comma-separated subset of: " + ", ".join(WORKLOADS))
    parser.add_argument("--stream-api", choices=("iterate", "helper"), default="iterate",
                        help="iterate create(stream=True), or runs.stream(...) with its event handler")
    parser.add_argument("--peers", action="store_true",
                        help="also measure the peer instrumentations (creates benchmarks/.venvs/ on first use)")
    parser.add_argument("--peer-openai", help="openai version for the peer environments (default: ours)")
    parser.add_argument("--no-rss", action="store_true", help="skip the per-variant peak RSS pass")
    parser.add_argument("--rss-runs", type=int, help="runs per process in the peak RSS pass (default: --runs)")
    parser.add_argument("--count-runs", type=int, help="runs per workload in the span counting pass (default 20)")
    parser.add_argument("--json", type=Path, help="also write every raw result here")
    parser.add_argument("--markdown", type=Path, help="also write the report here")
    parser.add_argument("--from-json", type=Path, help="measure nothing: render the report from a saved --json file")
    args = parser.parse_args(argv)
    quick = args.quick
    args.runs = args.runs or (60 if quick else 1000)
    args.reps = args.reps or (2 if quick else 5)
    args.deltas = args.deltas if args.deltas is not None else (50 if quick else 200)
    args.in_flight = args.in_flight or (30 if quick else 200)
    args.count_runs = args.count_runs or (4 if quick else 20)
    args.rss_runs = args.rss_runs or args.runs
    args.warmup = max(5, min(50, args.runs // 10))
    args.workloads = [w for w in args.workloads.split(",") if w]
    unknown = set(args.workloads) - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    return args


def worker_args(args: argparse.Namespace, workload: str, mode: str, variants: Sequence[str], runs: int,
                reps: int = 1) -> list[str]:
    return ["--mode", mode, "--workload", workload, "--variants", ",".join(variants), "--runs", str(runs),
            "--reps", str(reps), "--warmup", str(args.warmup), "--deltas", str(args.deltas),
            "--in-flight", str(args.in_flight), "--stream-api", args.stream_api]


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def measure(args: argparse.Namespace, emulator: EmulatorProcess, suites: list[Suite]) -> dict[str, Any]:
    raw: dict[str, Any] = {"alternate": {}, "count": {}, "rss": {}, "calibration": {}}
    for suite in suites:
        for workload in args.workloads:
            emulator.reset()
            say(f"[{time.strftime('%H:%M:%S')}] {suite.name}: {workload}, {' / '.join(suite.variants)}, "
                f"{args.reps} x {args.runs} runs")
            answer = run_worker(suite.python, emulator.base_url,
                                worker_args(args, workload, "alternate", suite.variants, args.runs, args.reps))
            raw["alternate"][f"{suite.name}/{workload}"] = answer
    say(f"[{time.strftime('%H:%M:%S')}] calibration: one uninstrumented step listing; stream events replayed")
    emulator.reset()
    raw["calibration"]["steplist"] = run_worker(
        sys.executable, emulator.base_url, worker_args(args, "steplist", "alternate", ["base"], args.runs, args.reps))
    parts = ["base", "ours-off", "ours-nometrics", "ours-unsampled", "ours-bare"]
    # Many short paired batches: the in-memory runs are cheap, and more pairs make a steadier median.
    raw["calibration"]["micro_poll"] = run_worker(
        sys.executable, emulator.base_url, worker_args(args, "poll", "micro", parts, 200, 4 if args.quick else 15))
    micro = worker_args(args, "stream", "micro", ["base", "ours-off"], 20 if args.quick else 100, args.reps)
    raw["calibration"]["micro"] = run_worker(sys.executable, emulator.base_url,
                                             [*micro, "--micro-events", "1000" if args.quick else "5000"])
    say(f"[{time.strftime('%H:%M:%S')}] counting what each instrumentation captured")
    for suite in suites:
        for variant in suite.variants[1:]:
            for workload in args.workloads:
                emulator.reset()
                runs = min(args.count_runs, args.runs) if workload != "async" else args.in_flight
                raw["count"][f"{variant}/{workload}"] = run_worker(
                    suite.python, emulator.base_url, worker_args(args, workload, "count", [variant], runs))
    if not args.no_rss:
        say(f"[{time.strftime('%H:%M:%S')}] peak RSS, one process per variant")
        for suite in suites:
            for variant in suite.variants:
                if variant == "base" and suite is not suites[0] and not suite.note:
                    continue  # same interpreter, openai and SDK as our suite's base: measured once
                for workload in args.workloads:
                    emulator.reset()
                    key = f"{suite.name}:{variant}/{workload}"
                    raw["rss"][key] = run_worker(suite.python, emulator.base_url,
                                                 worker_args(args, workload, "single", [variant], args.rss_runs))
    return raw


# ----- turning samples into rows ---------------------------------------------------------------


def summarize(answer: dict[str, Any], variant: str) -> tuple[Row, float]:
    """Median CPU per run of the base, and the variant's added CPU per run over paired repetitions."""
    row = Row("", variant)
    samples = answer.get("samples", [])
    by: dict[str, dict[int, dict[str, Any]]] = {}
    for sample in samples:
        by.setdefault(sample["variant"], {})[sample["rep"]] = sample
    base, mine = by.get("base", {}), by.get(variant, {})
    reps = sorted(set(base) & set(mine))
    if not reps:
        row.note = answer.get("errors", {}).get(variant) or answer.get("crashed", "no samples")
        return row, float("nan")

    def per_run(sample: dict[str, Any], key: str) -> float:
        return sample[key] / max(sample["runs"], 1) * 1e6

    added = sorted(per_run(mine[r], "cpu") - per_run(base[r], "cpu") for r in reps)
    row.base_us = median([per_run(base[r], "cpu") for r in reps])
    row.added_us = median(added)
    row.added_low, row.added_high = added[0], added[-1]
    row.cpu_ratio = median([per_run(mine[r], "cpu") for r in reps]) / row.base_us
    row.wall_ratio = median([per_run(mine[r], "wall") for r in reps]) / median([per_run(base[r], "wall") for r in reps])
    row.events = median([mine[r]["events"] / max(mine[r]["runs"], 1) for r in reps])
    unfinished: dict[str, int] = {}
    for r in reps:
        for status, count in {**base[r]["not_completed"], **mine[r]["not_completed"]}.items():
            unfinished[status] = unfinished.get(status, 0) + count
    if unfinished:
        row.note = "runs not completed: " + ", ".join(f"{k} x{v}" for k, v in unfinished.items())
    return row, row.base_us


def build_rows(args: argparse.Namespace, suites: list[Suite], raw: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for workload in args.workloads:
        for suite in suites:
            answer = raw["alternate"].get(f"{suite.name}/{workload}", {})
            for variant in suite.variants[1:]:
                row, _ = summarize(answer, variant)
                row.workload = workload
                if "crashed" in answer:
                    row.note = f"worker crashed: {answer['crashed']}"
                if suite.note:
                    row.note = "; ".join(filter(None, [suite.note, row.note]))
                counted = raw["count"].get(f"{variant}/{workload}", {})
                if counted.get("runs"):
                    row.spans = counted["spans"] / counted["runs"]
                if counted.get("error"):
                    row.note = "; ".join(filter(None, [row.note, f"raised into the app: {counted['error']}"]))
                rss = raw["rss"].get(f"{suite.name}:{variant}/{workload}", {})
                base_key = f"{suite.name}:base/{workload}" if suite.note else f"{suites[0].name}:base/{workload}"
                base_rss = raw["rss"].get(base_key, {})
                if rss.get("peak_rss_kib") and base_rss.get("peak_rss_kib"):
                    row.rss, row.rss_base = rss["peak_rss_kib"] / 1024, base_rss["peak_rss_kib"] / 1024
                rows.append(row)
    # Per stream event: the slope between streamed runs with and without message deltas.
    for row in rows:
        if row.workload != "stream":
            continue
        zero = next((r for r in rows if r.workload == "stream0" and r.variant == row.variant), None)
        if zero is not None and row.events > zero.events:
            row.per_event_us = (row.added_us - zero.added_us) / (row.events - zero.events)
    return rows


def fmt(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    return f"{value:,.{digits}f}"


def overhead_table(rows: list[Row]) -> str:
    headers = ["workload", "instrumentation", "spans/run", "base CPU/run µs", "added CPU/run µs (min..max)",
               "added µs/event", "added µs/span", "CPU ratio", "wall ratio", "peak RSS MiB base → instr.", "notes"]
    cells = []
    for row in rows:
        per_span = row.added_us / row.spans if row.spans else None
        added = "-" if row.added_us != row.added_us else \
            f"{fmt(row.added_us)} ({fmt(row.added_low)}..{fmt(row.added_high)})"
        rss = f"{fmt(row.rss_base, 1)} → {fmt(row.rss, 1)}" if row.rss is not None else "-"
        cells.append([LABELS[row.workload], NAMES.get(row.variant, row.variant), fmt(row.spans, 1),
                      fmt(row.base_us), added, fmt(row.per_event_us, 2), fmt(per_span), fmt(row.cpu_ratio, 3),
                      fmt(row.wall_ratio, 3), rss, row.note])
    return render_table(headers, cells)


def verdict(low: float, middle: float, high: float, limit: float) -> str:
    """Met when the whole range of paired repetitions is under the limit, missed when it is all
    over; a range that straddles it is reported as such, with what the median says."""
    if high <= limit:
        return "yes"
    if low > limit:
        return "**no**"
    return f"unresolved: range straddles it (median {'under' if middle <= limit else 'over'})"


def replay_per_event(raw: dict[str, Any]) -> float | None:
    """Added CPU per event from the replayed stream: the per-event cost without the SDK's parsing noise."""
    micro = raw.get("calibration", {}).get("micro", {})
    if not micro.get("samples"):
        return None
    row, _ = summarize(micro, "ours-off")
    return row.added_us / row.events if row.events else None


def target_table(rows: list[Row], peers: list[str], raw: dict[str, Any]) -> str:
    headers = ["target", "workload", "measured: median (range over repetitions)", "met"]
    cells = []

    def measured(row: Row) -> str:
        return f"{fmt(row.added_us)} µs/run ({fmt(row.added_low)}..{fmt(row.added_high)})"

    for row in rows:
        if row.variant != "ours-off":
            continue
        if row.workload == "stream0":
            cells.append([f"≤ {TARGET_RUN_US:.0f} µs per streamed run, its events aside", LABELS[row.workload],
                          measured(row), verdict(row.added_low, row.added_us, row.added_high, TARGET_RUN_US)])
            continue
        if row.workload == "stream":
            limit = TARGET_RUN_US + TARGET_EVENT_US * row.events
            cells.append([f"≤ {TARGET_RUN_US:.0f} µs/run + {TARGET_EVENT_US:.0f} µs/event "
                          f"(= {limit:,.0f} µs at {row.events:.0f} events)", LABELS[row.workload],
                          measured(row), verdict(row.added_low, row.added_us, row.added_high, limit)])
            per_event = replay_per_event(raw)
            if per_event is not None:
                slope = f"; end-to-end slope {fmt(row.per_event_us, 2)}" if row.per_event_us is not None else ""
                cells.append([f"≤ {TARGET_EVENT_US:.0f} µs per stream event", LABELS[row.workload],
                              f"{per_event:.2f} µs/event (replayed events{slope})",
                              yes(per_event <= TARGET_EVENT_US)])
        else:
            cells.append([f"≤ {TARGET_RUN_US:.0f} µs per polled run", LABELS[row.workload], measured(row),
                          verdict(row.added_low, row.added_us, row.added_high, TARGET_RUN_US)])
        for peer in peers:
            other = next((r for r in rows if r.workload == row.workload and r.variant == peer), None)
            if other is None:
                continue
            if other.added_us != other.added_us:
                cells.append([f"lower than {NAMES[peer]}", LABELS[row.workload], "peer has no number: " +
                              (other.note or "-")[:80], "n/a"])
                continue
            captured = f"; the peer captured {fmt(other.spans, 1)} spans/run" if other.spans is not None else ""
            if row.added_high < other.added_low:
                met = "yes"
            elif row.added_low > other.added_high:
                met = "**no**"
            else:
                met = f"unresolved: ranges overlap (median {'lower' if row.added_us < other.added_us else 'higher'})"
            cells.append([f"lower than {NAMES[peer]}", LABELS[row.workload],
                          f"{fmt(row.added_us)} vs {fmt(other.added_us)} µs/run ({fmt(other.added_low)}.."
                          f"{fmt(other.added_high)}){captured}", met])
    return render_table(headers, cells)


def yes(condition: bool) -> str:
    return "yes" if condition else "**no**"


def calibration_lines(raw: dict[str, Any]) -> list[str]:
    lines = []
    steplist = raw["calibration"].get("steplist", {})
    samples = steplist.get("samples", [])
    if samples:
        cost = median([s["cpu"] / s["runs"] * 1e6 for s in samples])
        lines.append(f"- One uninstrumented `runs.steps.list` request (what `run_steps=fetch` adds per polled run "
                     f"besides the step spans): {cost:,.0f} µs CPU.")
    micro_poll = raw["calibration"].get("micro_poll", {})
    if micro_poll.get("samples"):
        described = {"ours-off": "as shipped", "ours-nometrics": "metrics to a no-op meter",
                     "ours-unsampled": "spans not sampled", "ours-bare": "both"}
        found = []
        for variant, text in described.items():
            row, _ = summarize(micro_poll, variant)
            found.append(f"{text} {fmt(row.added_us)} µs")
        base_row, _ = summarize(micro_poll, "ours-off")
        lines.append(f"- A polled run with the network taken out (in-memory transport, recorded responses; "
                     f"base {fmt(base_row.base_us)} µs CPU/run), added CPU per run: " + "; ".join(found) + ".")
    micro = raw["calibration"].get("micro", {})
    row, _ = summarize(micro, "ours-off") if micro.get("samples") else (None, 0.0)
    if row is not None and row.events:
        lines.append(f"- Stream events replayed through the real client with no socket and no SSE parsing "
                     f"({row.events:,.0f} events per stream): {row.added_us / row.events:.2f} µs added per event "
                     f"(base {row.base_us / row.events:.2f} µs per event).")
    return lines


def report(args: argparse.Namespace, suites: list[Suite], raw: dict[str, Any], elapsed: float) -> str:
    rows = build_rows(args, suites, raw)
    versions: dict[str, str] = {}
    for answer in raw["alternate"].values():
        versions.update(answer.get("versions", {}))
    commit = raw.get("meta", {}).get("commit") or working_tree()
    parts = [
        f"Machine: {machine()}",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        + (f"; working tree {commit}" if commit else ""),
        f"Sizes: {args.runs} runs per batch, {args.reps} repetitions, {args.deltas} deltas per streamed run, "
        f"{args.in_flight} async runs in flight; stream API: {args.stream_api}; run time {elapsed / 60:.1f} min",
        "Load average (1/5/15 min) at start: {} / at end: {}".format(
            " ".join(raw.get("load", {}).get("before", [])), " ".join(raw.get("load", {}).get("after", []))),
        "",
        overhead_table(rows),
        "",
        "Notes: CPU is the client process's (time.process_time, all its threads, the span processor's included); "
        "the emulator runs in another process. 'added' is the median over repetitions of instrumented minus "
        "uninstrumented CPU per run, paired within a repetition (range in brackets). 'µs/event' is the slope "
        "between streamed runs with and without message deltas. 'µs/span' divides the added CPU by the spans "
        "captured per run (from a counting pass with an in-memory exporter). Spans: no-op exporter behind "
        "BatchSpanProcessor, flushed inside each timed batch. Metrics: InMemoryMetricReader, never collected "
        "while timing. Peak RSS: ru_maxrss of a separate process running one variant for one batch.",
        "",
        target_table(rows, [s.variants[1] for s in suites[1:]], raw),
        "",
        *calibration_lines(raw),
    ]
    captured = []
    for key, counted in sorted(raw["count"].items()):
        if counted.get("names"):
            names = ", ".join(f"{n} x{c}" for n, c in counted["names"].items())
            runs = max(counted.get("runs", 0), 1)
            captured.append(f"- {key}: {counted.get('runs', 0)} runs → {names}; per run "
                            f"{counted['attributes'] / runs:.1f} span attributes, {counted['events'] / runs:.1f} "
                            f"span events; metric instruments recorded: {len(counted.get('metrics', []))}")
        elif "runs" in counted:
            captured.append(f"- {key}: {counted['runs']} runs → no spans")
    if captured:
        parts += ["", "What each instrumentation captured (counting pass):", *captured]
    return "\n".join(parts)


def working_tree() -> str:
    return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True,
                          text=True, check=False).stdout.strip()


def suites_from(raw: dict[str, Any]) -> list[Suite]:
    """The suites of a saved run, from its results."""
    saved = raw.get("meta", {}).get("suites")
    if saved:
        return [Suite(s["name"], s["python"], s["variants"], s.get("note", "")) for s in saved]
    found: dict[str, list[str]] = {}
    for key, answer in raw["alternate"].items():
        variants = found.setdefault(key.split("/")[0], ["base"])
        for sample in answer.get("samples", []):
            if sample["variant"] not in variants:
                variants.append(sample["variant"])
    return [Suite(name, "", variants) for name, variants in found.items()]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.from_json:
        raw = json.loads(args.from_json.read_text())
        for key, value in raw.get("meta", {}).get("args", {}).items():
            setattr(args, key, value)
        print(report(args, suites_from(raw), raw, raw.get("meta", {}).get("elapsed", float("nan"))))
        return 0
    started = time.perf_counter()
    suites = [Suite("ours", sys.executable, ["base", "ours-off", "ours-fetch"])]
    if args.peers:
        log = Path(__file__).resolve().parent / ".venvs" / "install.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        for peer in PEERS:
            say(f"[{time.strftime('%H:%M:%S')}] environment for {peer} ...")
            python, how = ensure_peer_venv(peer, args.peer_openai, log)
            if python is None:
                say(f"  {how}")
                suites.append(Suite(peer, "", ["base", peer], note=how))
                continue
            note = f"openai {args.peer_openai}" if args.peer_openai else ""
            suites.append(Suite(peer, str(python), ["base", peer], note=note))
    runnable = [suite for suite in suites if suite.python]
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    with EmulatorProcess() as emulator:
        raw = measure(args, emulator, runnable)
        raw["emulator_cpu_s"] = emulator.cpu_seconds()
    raw["load"] = {"before": load_before, "after": Path("/proc/loadavg").read_text().split()[:3]}
    elapsed = time.perf_counter() - started
    keep = ("runs", "reps", "deltas", "in_flight", "workloads", "stream_api", "rss_runs", "count_runs", "quick")
    raw["meta"] = {"args": {key: getattr(args, key) for key in keep}, "elapsed": elapsed, "commit": working_tree(),
                   "suites": [{"name": s.name, "python": s.python, "variants": s.variants, "note": s.note}
                              for s in suites]}
    text = report(args, suites, raw, elapsed)
    publish(text, raw, args.markdown, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
