"""Idle run: what `lrs serve` spends on CPU while nothing is posted; prints numbers, asserts
nothing.

Starts `lrs serve` (embedded broker and store) in a temporary directory, waits until the API
and every consumer answer /readyz, lets it settle, then reads every process's CPU time from
/proc (pids from the data directory's processes.json, plus the supervisor and its spare) at
the start and end of `--seconds` of idleness, and prints each one's share of one core and the
total, with the machine's load average (on a loaded machine the numbers are noisy).

Usage: python bench/idle.py [--seconds 60] [--settle 35] [--log serve.log] [SETTING=VALUE ...]
       python bench/idle.py --data-dir DIR --pid PID   (a running `lrs serve`, idle already)
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.procstat import (
    cpu_readings,
    cpu_table,
    load_average,
    ports_by_name,
    serve_processes,
)
from lrs.entry.embedded import free_port
from lrs.wiring.consumers import CONSUMERS
from tests.support.serve import serve_lrs

KEY, SECRET = "bench", "bench-secret"


def wait_consumers_ready(data_dir: Path, within: float = 600) -> None:
    """Every consumer's /readyz answers 200, on whichever port it serves (`ports_by_name`)."""
    deadline = time.monotonic() + within
    pending = set(CONSUMERS)
    while pending and time.monotonic() < deadline:
        ports = ports_by_name(data_dir)
        pending -= {name for name in pending if any(map(ready, ports.get(name, [])))}
        time.sleep(0.5)  # polling a condition, with a deadline
    if pending:
        raise SystemExit(f"consumers not ready: {', '.join(sorted(pending))}")


def ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def settings_from(pairs: list[str]) -> dict[str, str]:
    """LRS_FOO=1 arguments as serve_lrs keyword arguments (foo="1")."""
    found = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        found[name.removeprefix("LRS_").lower()] = value
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="idle time measured")
    parser.add_argument(
        "--settle",
        type=float,
        default=35.0,
        help="idle seconds before measuring (consumers turn idle after 30 s by default)",
    )
    parser.add_argument("--log", default=None, help="lrs serve's log (stderr)")
    parser.add_argument("--data-dir", type=Path, help="measure a running lrs serve's data dir")
    parser.add_argument("--pid", type=int, help="... and its pid (with --data-dir)")
    parser.add_argument("settings", nargs="*", help="LRS_NAME=value for lrs serve")
    args = parser.parse_args()
    if args.data_dir and args.pid:
        measure(args.data_dir, args.pid, args.seconds)
        return
    metrics_port = free_port()
    extra = {"consumer_metrics_port": str(metrics_port), **settings_from(args.settings)}
    with (
        tempfile.TemporaryDirectory(prefix="lrs-idle-") as tmp,
        serve_lrs(Path(tmp), KEY, SECRET, args.log, **extra) as (_, process),
    ):
        wait_consumers_ready(Path(tmp))
        time.sleep(args.settle)  # start-up work (imports, group joins) is not idleness
        measure(Path(tmp), process.pid, args.seconds)


def measure(data_dir: Path, serve_pid: int, seconds: float) -> None:
    pids = serve_processes(data_dir, serve_pid)
    print(f"before: {load_average()}", flush=True)
    before, started = cpu_readings(pids), time.monotonic()
    time.sleep(seconds)
    after, elapsed = cpu_readings(pids), time.monotonic() - started
    print(f"after:  {load_average()}")
    print(f"idle for {elapsed:.0f}s, {len(pids)} processes")
    print(cpu_table(before, after, elapsed))


if __name__ == "__main__":
    main()
