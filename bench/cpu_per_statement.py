"""CPU time per statement of each process of `lrs serve`; prints numbers, asserts nothing.

Starts `lrs serve` (embedded broker and store, LRS_ACK_MODE as --ack-mode), measures each
process's idle CPU for --idle seconds, then POSTs a fixed workload (bench/workload.py, seeded)
in one bench/xapi_load.py mode and waits until the consumers have caught up: the persister and
the progress consumer have counted every statement (`lrs_consumer_records_total` on their
/metrics) and every consumer's lag is 0. Each process's CPU time is read from
/proc/PID/stat (utime + stime) before and after, for the pids `lrs serve` records in
processes.json (its API processes, each consumer, the broker, the store) and for the
supervisor itself and its spare. Prints, per process, CPU-µs per statement over the whole run
(posting and catching up), the same less what it burns idle, and its idle CPU.

With --ack-mode kafka the API answers once the broker has the statements, so the consumers
catch up after the last answer: the table says how long that took and the catch-up rate (the
statements still to store or count at the last answer, divided by the seconds to do so).

With --store-cpu it also prints the store's CPU time per statement by command shape (its
command dispatcher timed from inside, bench/store_cpu); with --store-commands the store's
commands (and documents written) per statement by command and collection, from the store's
profiler, which made the store about 20 times slower in one run (2026-12-04): its counts hold,
its rates and times do not, and --store-cpu costs the store far less. With --py-spy FILE,
where the store's CPU went (bench/store_profile.py), or another process's with
--py-spy-process NAME (a name of the table, e.g. api-1). With --history N it
first posts N statements of the same learners and waits for the consumers, unmeasured: a
learner's progress document then holds up to LRS_PROGRESS_HELD_FACTS facts, as on an LRS that
has run for a while (a fresh store's learners have a few statements each). With --stream
organisation (or learner), one such progress stream is open, and read, from the warm-up to the
end of the load, as a dashboard would keep it (the API's feeds fetch a progress topic only while
a stream of its kind is open: docs/decisions/0035).

    python bench/cpu_per_statement.py [--ack-mode stored|kafka] [--statements N] [--mode M]
        [--learners N] [--store-cpu] [--store-commands] [--py-spy FILE [--py-spy-process NAME]]
        [--history N [--history-mode M]] [--stream organisation|learner]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import KEY, SECRET, client, load_average, machine, pct, served
from bench.procstat import cpu_readings, parent_of, ports_by_name, serve_processes
from bench.store_profile import (
    command_table,
    profiled,
    read_store_cpu,
    sampled,
    spy_table,
    store_cpu_environment,
    store_cpu_table,
    store_uri,
)
from bench.workload import Workload
from bench.xapi_load import Outcome, for_run, parse_mode, post_batches
from lrs.entry.embedded import free_port
from lrs.wiring.consumers import CONSUMERS
from tests.support.serve import child_pids

COUNTED = ("persist", "progress")  # consumers that see every statement once


def processes(data: Path) -> dict[str, int]:
    """Name -> pid of every process of `lrs serve` (`serve_processes`: processes.json, the
    supervisor, its spare); the supervisor is the store's parent."""
    supervisor = parent_of(child_pids(data)["store"])
    if supervisor is None:
        raise RuntimeError("the store process is gone: no supervisor to read")
    return serve_processes(data, supervisor)


SAMPLE = re.compile(r"^(lrs_consumer_\w+)\{([^}]*)\} ([0-9.e+-]+)$", re.MULTILINE)


def consumer_metrics(text: str) -> tuple[float, float]:
    """(records counted `ok`, total lag) from one consumer's Prometheus text."""
    ok = lag = 0.0
    for metric, labels, value in SAMPLE.findall(text):
        if metric == "lrs_consumer_records_total" and 'outcome="ok"' in labels:
            ok += float(value)
        elif metric == "lrs_consumer_lag_records":
            lag += float(value)
    return ok, lag


@dataclass
class CatchUp:
    posted_at: float  # seconds from the first POST
    counted_at: dict[str, float]  # consumer -> seconds when it had counted every statement
    idle_at: float  # seconds when every lag was 0 (and the counted ones done)
    backlog: dict[str, float]  # consumer -> statements still to count at the last answer


async def all_metrics(http: httpx.AsyncClient, data: Path) -> dict[str, tuple[float, float]]:
    """(records counted `ok`, lag) of every consumer that answers on its /metrics."""
    seen = {}
    for name, ports in ports_by_name(data).items():
        if name not in CONSUMERS:
            continue
        for port in ports:
            try:
                response = await http.get(f"http://127.0.0.1:{port}/metrics")
            except httpx.HTTPError:
                continue
            if response.status_code == 200:
                seen[name] = consumer_metrics(response.text)
                break
    return seen


class Counts:
    """Records each consumer has counted since `before`, across its restarts: a renewal of the
    embedded broker (docs/decisions/0032) starts every consumer again once it has read
    everything, and a new process counts from 0; what the old one had counted at the last look
    is kept (a consumer killed between two looks may have counted a few more, not seen)."""

    def __init__(self, before: dict[str, float]) -> None:
        self.before = dict(before)
        self.last = dict(before)
        self.carried = dict.fromkeys(before, 0.0)

    def update(self, name: str, ok: float) -> None:
        if ok < self.last.get(name, 0.0):  # a new process
            self.carried[name] = self.since_before(name)
            self.before[name] = 0.0
        self.last[name] = ok

    def since_before(self, name: str) -> float:
        return self.carried.get(name, 0.0) + self.last.get(name, 0.0) - self.before.get(name, 0.0)


async def follow_counts(data: Path, counts: Counts) -> None:
    """Update `counts` from every consumer's /metrics every half second, until cancelled:
    while statements are posted too, so that a consumer's count before a restart is seen."""
    async with httpx.AsyncClient(timeout=10) as http:
        while True:
            for name, (ok, _) in (await all_metrics(http, data)).items():
                counts.update(name, ok)
            await asyncio.sleep(0.5)  # sampling counters, not synchronising


async def wait_caught_up(
    data: Path, statements: int, started: float, posted: float, counts: Counts
) -> CatchUp:
    """Poll every consumer's /metrics (deadline 15 min) until the counted consumers have
    counted `statements` more records (`counts`) and every lag is 0."""
    counted_at: dict[str, float] = {}
    backlog: dict[str, float] = {}
    deadline = time.monotonic() + 900
    async with httpx.AsyncClient(timeout=10) as http:
        while time.monotonic() < deadline:
            seen = await all_metrics(http, data)
            now = time.perf_counter() - started
            for name, (ok, _) in seen.items():
                counts.update(name, ok)
            for name in COUNTED:
                done = counts.since_before(name)
                backlog.setdefault(name, max(0.0, statements - done))
                if done >= statements:
                    counted_at.setdefault(name, now)
            lags = [lag for _, lag in seen.values()]
            if len(counted_at) == len(COUNTED) and len(lags) == len(CONSUMERS) and not any(lags):
                return CatchUp(posted, counted_at, now, backlog)
            await asyncio.sleep(0.2)  # polling a condition, with a deadline
    raise SystemExit("the consumers did not catch up within 15 minutes")


async def records_now(data: Path, within: float = 300) -> dict[str, float]:
    """Every consumer's records counted so far, once all of them answer (they start)."""
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(timeout=10) as http:
        while len(seen := await all_metrics(http, data)) < len(CONSUMERS):
            if time.monotonic() > deadline:
                raise SystemExit(f"consumers without /metrics: {set(CONSUMERS) - set(seen)}")
            await asyncio.sleep(0.5)  # polling a condition, with a deadline
    return {name: ok for name, (ok, _) in seen.items()}


async def run_history(base: str, args: argparse.Namespace, data: Path) -> None:
    """Post `--history` statements of the same learners first (another seed, in
    `--history-mode`) and wait until every consumer has handled them: the measured load then
    meets learners with a history, as a store that has run for a while holds them."""
    statements = Workload(args.seed + 1, learners=args.learners).statements(args.history)
    outcome, caught = await post_and_wait(base, data, statements, "history", args.history_mode)
    print(
        f"history: {len(outcome.acknowledged)} statements acknowledged ({outcome.errors} errors)"
        f" in {caught.posted_at:.0f} s, every consumer idle after {caught.idle_at:.0f} s"
    )


async def run_load(base: str, args: argparse.Namespace, data: Path) -> tuple[Outcome, CatchUp]:
    statements = Workload(args.seed, learners=args.learners).statements(args.statements)
    return await post_and_wait(base, data, statements, "cpu", args.mode)


async def post_and_wait(
    base: str, data: Path, workload: list[dict[str, Any]], run: str, mode_name: str
) -> tuple[Outcome, CatchUp]:
    """POST the workload's statements (with ids of `run`) in mode `mode_name` and wait until
    the consumers have caught up (`wait_caught_up`)."""
    mode = parse_mode(mode_name)
    statements = for_run(workload, run, mode.name)
    counts = Counts(await records_now(data))
    outcome = Outcome(mode, len(statements), load_before=load_average())
    started = time.perf_counter()
    follower = asyncio.create_task(follow_counts(data, counts))
    try:
        async with client(f"{base}/xapi", KEY, SECRET) as http:
            await post_batches(http, statements, outcome)
        posted = time.perf_counter() - started
        caught = await wait_caught_up(data, len(outcome.acknowledged), started, posted, counts)
    finally:
        follower.cancel()
    outcome.load_after = load_average()
    return outcome, caught


def report(
    idle: dict[str, float],
    idle_seconds: float,
    used: dict[str, float],
    run_seconds: float,
    statements: int,
) -> None:
    print(f"{'process':<28}{'cpu s':>8}{'µs/stmt':>10}{'less idle':>11}{'idle ms/s':>11}")
    for name in sorted(used, key=lambda n: -used[n]):
        idle_rate = idle.get(name, 0.0) / idle_seconds
        net = used[name] - idle_rate * run_seconds
        print(
            f"{name:<28}{used[name]:>8.2f}{used[name] / statements * 1e6:>10.0f}"
            f"{net / statements * 1e6:>11.0f}{idle_rate * 1000:>11.1f}"
        )
    total = sum(used.values())
    idle_total = sum(idle.values()) / idle_seconds
    print(
        f"{'total':<28}{total:>8.2f}{total / statements * 1e6:>10.0f}"
        f"{(total - idle_total * run_seconds) / statements * 1e6:>11.0f}{idle_total * 1000:>11.1f}"
    )


def delta(after: dict[str, float], before: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before[name] for name in after if name in before}


def free_ports(count: int) -> int:
    """The first of `count` consecutive free loopback ports (one /metrics per consumer; one
    taken meanwhile by another process is found anyway: `status_ports`)."""
    for _ in range(100):
        first = free_port()
        if first + count > 65535:
            continue
        try:
            with contextlib.ExitStack() as held:
                for port in range(first, first + count):
                    held.enter_context(socket.create_server(("127.0.0.1", port)))
            return first
        except OSError:
            continue
    raise SystemExit(f"no {count} consecutive free ports")


STREAM_PATHS = {
    "organisation": "/progress/organisation/stream",
    "learner": "/progress/stream?agent=" + quote('{"mbox":"mailto:bench-stream@example.org"}'),
}


@contextlib.contextmanager
def open_stream(base: str, kind: str | None) -> Iterator[None]:
    """While inside: one progress stream of `kind` open and read (in a thread of its own, so
    that it outlives each `asyncio.run` of the measurement); its first event came first."""
    if kind is None:
        yield
        return
    opened, stop = threading.Event(), threading.Event()

    def read() -> None:
        with (
            httpx.Client(base_url=base, auth=(KEY, SECRET), timeout=None) as http,
            http.stream("GET", STREAM_PATHS[kind]) as response,
        ):
            response.raise_for_status()
            for line in response.iter_lines():
                if line.startswith(("event:", ":")):  # an event or a comment: the snapshot
                    opened.set()
                if stop.is_set():
                    return

    reader = threading.Thread(target=read, name="bench-stream", daemon=True)
    reader.start()
    if not opened.wait(30):
        raise SystemExit(f"the {kind} stream sent no event within 30 s")
    try:
        yield
    finally:
        stop.set()  # the reader ends at its next line (a keep-alive at the latest)


def measure(args: argparse.Namespace) -> None:
    port = free_ports(len(CONSUMERS))
    with (
        served(ack_mode=args.ack_mode, consumer_metrics_port=str(port)) as (base, data),
        contextlib.ExitStack() as streams,
    ):
        asyncio.run(records_now(data))  # every consumer is up
        if args.history:
            asyncio.run(run_history(base, args, data))
        streams.enter_context(open_stream(base, args.stream))
        pids = processes(data)
        time.sleep(args.warm_up)  # start-up work (topic creation, first fetches) settles
        start = cpu_readings(pids)
        time.sleep(args.idle)  # the idle window being measured, not a synchronisation
        before = cpu_readings(pids)
        idle = delta(before, start)
        started = time.monotonic()
        cpu_before = read_store_cpu(args.store_cpu_file)
        with watched(args, pids) as entries:
            outcome, caught = asyncio.run(run_load(base, args, data))
        used = delta(cpu_readings(pids), before)
        cpu_after = read_store_cpu(args.store_cpu_file)
        run_seconds = time.monotonic() - started
        if processes(data) != pids:
            print("note: a process was restarted during the run; its CPU is partly missing")
    count = len(outcome.acknowledged)
    print(
        f"{count} statements acknowledged ({outcome.errors} errors), mode {args.mode},"
        f" LRS_ACK_MODE={args.ack_mode}; load average {outcome.load_before} before,"
        f" {outcome.load_after} after"
    )
    print(
        f"posted in {caught.posted_at:.1f} s ({count / caught.posted_at:.0f} statements/s);"
        f" every consumer idle after {caught.idle_at:.1f} s"
    )
    if outcome.latencies:
        print(
            f"request latency p50 {pct(outcome.latencies, 0.5):.0f} ms,"
            f" p95 {pct(outcome.latencies, 0.95):.0f} ms, p99 {pct(outcome.latencies, 0.99):.0f} ms"
        )
    for name, at in caught.counted_at.items():
        behind = caught.backlog[name]
        late = max(0.0, at - caught.posted_at)
        rate = f", catch-up {behind / late:.0f} statements/s" if late > 0 and behind else ""
        print(f"  {name}: every statement counted after {at:.1f} s ({behind:.0f} behind{rate})")
    report(idle, args.idle, used, run_seconds, count)
    if args.store_commands:
        print("\n".join(command_table(entries, count)))
    if args.py_spy:
        print("\n".join(spy_table(args.py_spy, process=args.py_spy_process)))
    if args.store_cpu:
        print("\n".join(store_cpu_table(cpu_before, cpu_after, count)))


@contextlib.contextmanager
def watched(args: argparse.Namespace, pids: dict[str, int]) -> Iterator[list[dict[str, Any]]]:
    """The store's profiler (its entries) and py-spy on the process asked, around the load."""
    with contextlib.ExitStack() as stack:
        entries = []
        if args.store_commands:
            entries = stack.enter_context(profiled(store_uri(pids["store"]), "lrs"))
        if args.py_spy:
            stack.enter_context(sampled(pids[args.py_spy_process], args.py_spy))
        yield entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ack-mode", choices=["stored", "kafka"], default="stored")
    parser.add_argument("--statements", type=int, default=5000)
    parser.add_argument("--mode", default="batch10x16")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--learners", type=int, default=200, help="learners of the workload (in 10 teams)"
    )
    parser.add_argument(
        "--history",
        type=int,
        default=0,
        help="statements of the same learners posted and handled before measuring",
    )
    parser.add_argument(
        "--history-mode", default="batch100x4", help="how the history is posted (as --mode)"
    )
    parser.add_argument("--idle", type=float, default=10.0, help="seconds of idle measured")
    parser.add_argument("--warm-up", type=float, default=5.0, help="seconds before measuring")
    parser.add_argument(
        "--store-commands",
        action="store_true",
        help="profile the store's commands during the load: counts only, as its profiler can make "
        "it 20 times slower (for CPU by command, --store-cpu)",
    )
    parser.add_argument("--py-spy", type=Path, help="py-spy a process into this raw file")
    parser.add_argument(
        "--py-spy-process", default="store", help="the process --py-spy samples (e.g. api-1)"
    )
    parser.add_argument(
        "--store-cpu",
        action="store_true",
        help="the store's CPU time per command during the load (bench/store_cpu)",
    )
    parser.add_argument(
        "--stream",
        choices=sorted(STREAM_PATHS),
        help="keep one progress stream of this kind open from the warm-up on",
    )
    args = parser.parse_args()
    parse_mode(args.mode)
    print(f"machine: {machine()}; load average {load_average()}")
    with tempfile.TemporaryDirectory() as scratch:
        args.store_cpu_file = Path(scratch) / "store-cpu.json"
        if args.store_cpu:
            os.environ.update(store_cpu_environment(args.store_cpu_file))
        measure(args)


if __name__ == "__main__":
    main()
