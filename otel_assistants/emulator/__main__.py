"""Run the emulator from a shell: ``python -m otel_assistants.emulator --port 8000``."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .scenario import KEYS, ScenarioError, parse_scenario
from .server import Emulator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m otel_assistants.emulator",
        description="Serve an emulation of the OpenAI Assistants API v2 until interrupted.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8000, help="port, 0 for any free one (default: %(default)s)")
    parser.add_argument(
        "--poll-after-ms",
        type=int,
        default=100,
        help="openai-poll-after-ms header, the SDK's wait between polls (default: %(default)s)",
    )
    parser.add_argument(
        "--scenario",
        default="",
        help="scenario for runs that do not set metadata['scenario'], e.g. 'tools=1;outcome=failed'. "
        f"Keys: {', '.join(KEYS)}",
    )
    parser.add_argument("--quiet", action="store_true", help="do not log each request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        parse_scenario(args.scenario)
    except ScenarioError as error:
        print(f"error: invalid --scenario: {error}", file=sys.stderr)
        return 2
    emulator = Emulator(
        host=args.host,
        port=args.port,
        poll_after_ms=args.poll_after_ms,
        default_scenario=args.scenario,
        verbose=not args.quiet,
    )
    try:
        emulator.start()
    except OSError as error:
        print(f"error: cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        # Stop as cleanly on SIGTERM (e.g. from a container runtime) as on Ctrl-C.
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"Assistants API emulator listening on {emulator.base_url}", flush=True)
    print(f'Use it with: openai.OpenAI(base_url="{emulator.base_url}", api_key="any")', flush=True)
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
