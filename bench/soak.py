"""Soak run: `lrs serve` under a steady load for a long time; prints every process's memory
over time; asserts nothing.

Starts `lrs serve` (embedded broker and store) in a temporary directory and POSTs statements
(each with an id chosen here) at a fixed rate, `--batch` statements per POST, for `--minutes`.
Every `--sample` seconds it reads each process's resident memory (VmRSS, from /proc; pids from
the data directory's processes.json, plus the supervisor and its spare) and prints one line:
the statements acknowledged so far, the rate reached since the last line, the load average and
the memory of the processes. At the end it prints the POSTs' answer times, how many broker
processes it saw (a renewal of the embedded broker starts a new one, docs/decisions/0032) and,
per process, the series, the slope of a straight line fitted to it (KB per minute) over the
whole run and over its second half (after the warm-up), and that slope per statement; then
every acknowledged statement is looked up in the store (each must be there exactly once), and
each learner's progress is compared with the statements of that learner the store holds.
Last, each process's CPU (user + system, from /proc) per second in every sample and in all,
per statement acknowledged, counted until the progress agreed with the store (so the
consumers' catching up is in it); the processes a renewal replaced count with their last
sample (up to `--sample` seconds of theirs are missed).

On a machine that cannot keep up, the rate reached is lower than asked (POSTs are not queued
without bound: at most `--in-flight` at once; the ticks that find no room are counted as
skipped).

Usage: python bench/soak.py [--rate 500] [--minutes 30] [--batch 10] [--sample 30]
                            [--log serve.log] [SETTING=VALUE ...]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import client, quantile
from bench.faults import store_uri
from bench.idle import settings_from
from bench.procstat import cpu_seconds, load_average, rss_kb, serve_processes
from lrs.adapters.mongo_store import connect
from tests.support.factories import statement
from tests.support.serve import serve_lrs

KEY, SECRET = "bench", "bench-secret"
TENANT = "default"
LEARNERS = 2000


@dataclass
class Load:
    rate: float
    batch: int
    in_flight: int
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    acknowledged: list[str] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    skipped: int = 0
    sent: int = 0
    latencies: list[float] = field(default_factory=list)  # seconds, of the POSTs answered 200
    learner_of: dict[str, str] = field(default_factory=dict)  # every statement sent: its learner

    def batch_of_statements(self) -> list[dict[str, object]]:
        docs = []
        for _ in range(self.batch):
            self.sent += 1
            learner = f"{self.run}-{self.sent % LEARNERS}"
            doc = statement(learner=learner)
            self.learner_of[str(doc["id"])] = learner
            docs.append(doc)
        return docs

    async def post(self, http: httpx.AsyncClient, docs: list[dict[str, object]]) -> None:
        started = time.monotonic()
        try:
            response = await http.post("/xapi/statements", json=docs)
        except httpx.HTTPError as exc:
            self.outcomes[type(exc).__name__] += 1
            return
        self.outcomes[str(response.status_code)] += 1
        if response.status_code == 200:
            self.latencies.append(time.monotonic() - started)
            self.acknowledged.extend(str(doc["id"]) for doc in docs)

    def latency_line(self) -> str:
        """p50, p95, p99 and the longest answer of the POSTs acknowledged, in ms."""
        if not self.latencies:
            return "no POST acknowledged"

        def at(share: float) -> str:
            return f"{quantile(self.latencies, share) * 1000:.0f}"

        return f"POST answered in p50 {at(0.5)} ms, p95 {at(0.95)}, p99 {at(0.99)}, max {at(1.0)}"

    async def run_for(self, http: httpx.AsyncClient, seconds: float) -> None:
        """POST a batch every batch/rate seconds until `seconds` have passed."""
        loop = asyncio.get_running_loop()
        interval = self.batch / self.rate
        tick, end = loop.time(), loop.time() + seconds
        pending: set[asyncio.Task[None]] = set()
        while loop.time() < end:
            if len(pending) < self.in_flight:
                task = asyncio.create_task(self.post(http, self.batch_of_statements()))
                pending.add(task)
                task.add_done_callback(pending.discard)
            else:
                self.skipped += self.batch
            tick += interval
            await asyncio.sleep(max(0.0, tick - loop.time()))
        if pending:
            await asyncio.gather(*pending)


@dataclass
class Sample:
    minute: float
    acknowledged: int
    rss: dict[str, int]
    broker: int | None = None  # its pid
    cpu: dict[str, float] = field(default_factory=dict)  # CPU s of each name so far


@dataclass
class CpuLedger:
    """Each process's CPU seconds since the first look, by pid (a process started since,
    from its start): a name's CPU is the sum over the pids that have had it (a renewed broker,
    a consumer started again). What `lrs serve` spent starting is left out."""

    seen: dict[int, tuple[str, float]] = field(default_factory=dict)
    before: dict[int, float] | None = None  # at the first look

    def look(self, pids: dict[str, int]) -> dict[str, float]:
        now = {pid: spent for pid in pids.values() if (spent := cpu_seconds(pid)) is not None}
        if self.before is None:
            self.before = now
        for name, pid in pids.items():
            if pid in now:
                label = "spare" if name.startswith("spare") else name
                self.seen[pid] = (label, now[pid] - self.before.get(pid, 0.0))
        return self.by_name()

    def by_name(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for name, spent in self.seen.values():
            totals[name] = totals.get(name, 0.0) + spent
        return totals


async def sample_memory(
    load: Load, data: Path, serve_pid: int, every: float, samples: list[Sample], cpu: CpuLedger
) -> None:
    """A sample now and every `every` seconds, printed as it is taken, until cancelled."""
    started = time.monotonic()
    previous = (started, 0)
    while True:
        now, acked = time.monotonic(), len(load.acknowledged)
        pids = serve_processes(data, serve_pid)
        rss = {name: kb for name, pid in pids.items() if (kb := rss_kb(pid)) is not None}
        sample = Sample((now - started) / 60, acked, rss, pids.get("broker"), cpu.look(pids))
        samples.append(sample)
        rate = (acked - previous[1]) / max(now - previous[0], 1e-9)
        previous = (now, acked)
        memory = " ".join(f"{name}={kb // 1024}M" for name, kb in sorted(rss.items()))
        print(
            f"[{(now - started) / 60:5.1f} min] acked {acked} ({rate:.0f}/s) {load_average()}"
            f" | {memory}",
            flush=True,
        )
        await asyncio.sleep(every)


def slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (x, y) points; None for fewer than two distinct x."""
    if len(points) < 2:
        return None
    mean_x = sum(x for x, _ in points) / len(points)
    mean_y = sum(y for _, y in points) / len(points)
    spread = sum((x - mean_x) ** 2 for x, _ in points)
    if spread == 0:
        return None
    return sum((x - mean_x) * (y - mean_y) for x, y in points) / spread


def print_series(samples: list[Sample], statements_per_minute: float) -> None:
    names = sorted({name for s in samples for name in s.rss})
    print("\nRSS series (MB), one column per sample:")
    print(f"{'minute':<26} " + " ".join(f"{s.minute:>6.1f}" for s in samples))
    for name in names:
        values = " ".join(f"{s.rss.get(name, 0) / 1024:>6.0f}" for s in samples)
        print(f"{name:<26} {values}")
    half = samples[len(samples) // 2 :]
    print(f"\n{'process':<26} {'KB/min (all)':>13} {'KB/min (2nd half)':>18} {'bytes/stmt':>11}")
    for name in names:
        whole = slope([(s.minute, s.rss[name]) for s in samples if name in s.rss])
        late = slope([(s.minute, s.rss[name]) for s in half if name in s.rss])
        per = (
            late * 1024 / statements_per_minute
            if late is not None and statements_per_minute
            else None
        )
        print(f"{name:<26} {_num(whole):>13} {_num(late):>18} {_num(per):>11}")


def print_cpu(samples: list[Sample], final: dict[str, float], acknowledged: int) -> None:
    """Each process's CPU per second between two samples (ms/s), and in all until `final`:
    seconds and µs per acknowledged statement."""
    names = sorted(final, key=lambda name: -final[name])
    print("\nCPU (ms per second) between samples, one column per sample:")
    print(f"{'minute':<26} " + " ".join(f"{s.minute:>6.1f}" for s in samples[1:]))
    for name in names:
        rates = []
        for before, after in itertools.pairwise(samples):
            seconds = (after.minute - before.minute) * 60
            spent = after.cpu.get(name, 0.0) - before.cpu.get(name, 0.0)
            rates.append(f"{spent / seconds * 1000 if seconds > 0 else 0:>6.0f}")
        print(f"{name:<26} " + " ".join(rates))
    print(f"\n{'process':<26} {'CPU s':>8} {'µs/stmt':>9}  (until the progress agreed)")
    for name in [*names, "total"]:
        spent = sum(final.values()) if name == "total" else final[name]
        per = spent / acknowledged * 1e6 if acknowledged else 0.0
        print(f"{name:<26} {spent:>8.1f} {per:>9.0f}")


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


async def stored_exactly_once(data: Path, acknowledged: list[str]) -> Counter[str]:
    """Every acknowledged id in the store once: print what is missing or duplicated. Returns
    how many times the store holds each id."""
    db_client = connect(store_uri(data))
    try:
        cursor = db_client["lrs"]["statements"].find({"tenant": TENANT}, {"id": 1})
        stored = Counter([d["id"] async for d in cursor])
    finally:
        await db_client.close()
    missing = [i for i in acknowledged if i not in stored]
    twice = [i for i in acknowledged if stored[i] > 1]
    verdict = "OK" if not missing and not twice else "PROBLEM"
    print(
        f"\nacknowledged {len(acknowledged)}, stored {sum(stored.values())}:"
        f" missing {len(missing)}, stored more than once {len(twice)} -> {verdict}"
    )
    return stored


async def progress_counts_the_store(
    http: httpx.AsyncClient, load: Load, stored: Counter[str], within: float = 300.0
) -> None:
    """Each learner's progress counts the statements of that learner the store holds (those
    acknowledged, and those stored after their POST was answered 503): print the learners
    whose count differs, once they all agree or after `within` seconds."""
    expected: Counter[str] = Counter(
        learner for statement_id, learner in load.learner_of.items() if stored[statement_id]
    )
    gate = asyncio.Semaphore(16)

    async def counted(learner: str) -> int:
        agent = '{"mbox": "mailto:learner' + learner + '@example.org"}'
        async with gate:
            answer = await http.get("/progress/learners", params={"agent": agent})
        return int(answer.json()["statements"]) if answer.status_code == 200 else -1

    loop = asyncio.get_running_loop()
    give_up = loop.time() + within
    differ = list(expected)
    while True:
        counts = await asyncio.gather(*(counted(learner) for learner in differ))
        differ = [lr for lr, n in zip(differ, counts, strict=True) if n != expected[lr]]
        if not differ or loop.time() >= give_up:
            break
        await asyncio.sleep(2)  # polling the progress API until it has caught up, no sync
    verdict = "OK" if not differ else "PROBLEM"
    print(
        f"progress: {len(expected)} learners, {sum(expected.values())} statements stored;"
        f" counts differing from the store: {len(differ)} -> {verdict}"
    )


async def soak(args: argparse.Namespace, data: Path, base: str, serve_pid: int) -> None:
    load = Load(args.rate, args.batch, args.in_flight)
    samples: list[Sample] = []
    cpu = CpuLedger()
    sampler = asyncio.create_task(sample_memory(load, data, serve_pid, args.sample, samples, cpu))
    started = time.monotonic()
    async with client(base, KEY, SECRET) as http:
        await load.run_for(http, args.minutes * 60)
    elapsed = time.monotonic() - started
    sampler.cancel()
    pids = serve_processes(data, serve_pid)
    final = {name: kb for name, pid in pids.items() if (kb := rss_kb(pid)) is not None}
    samples.append(Sample(elapsed / 60, len(load.acknowledged), final, cpu=cpu.look(pids)))
    per_minute = len(load.acknowledged) / (elapsed / 60)
    print(
        f"\n{len(load.acknowledged)} statements acknowledged in {elapsed:.0f}s"
        f" ({per_minute / 60:.0f}/s, asked {args.rate:.0f}/s); skipped ticks: {load.skipped}"
        f" statements; answers: {dict(load.outcomes)}; {load_average()}"
    )
    print(load.latency_line())
    brokers = {s.broker for s in samples if s.broker is not None}
    print(f"broker processes seen: {len(brokers)} (one per renewal after the first)")
    print_series(samples, per_minute)
    stored = await stored_exactly_once(data, load.acknowledged)
    async with client(base, KEY, SECRET) as http:
        await progress_counts_the_store(http, load, stored)
    print_cpu(samples, cpu.look(serve_processes(data, serve_pid)), len(load.acknowledged))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="statements per second")
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to post")
    parser.add_argument("--batch", type=int, default=10, help="statements per POST")
    parser.add_argument("--in-flight", type=int, default=64, help="most POSTs at once")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds between samples")
    parser.add_argument("--log", default=None, help="lrs serve's log (stderr)")
    parser.add_argument("settings", nargs="*", help="LRS_NAME=value for lrs serve")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="lrs-soak-") as tmp,
        serve_lrs(Path(tmp), KEY, SECRET, args.log, **settings_from(args.settings)) as (
            base,
            process,
        ),
    ):
        asyncio.run(soak(args, Path(tmp), base, process.pid))


if __name__ == "__main__":
    main()
