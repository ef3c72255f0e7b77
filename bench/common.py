"""What the benchmark scripts share: an xAPI HTTP client, percentiles, the machine and its load,
a paced load, and `lrs serve` started in a temporary directory."""

from __future__ import annotations

import asyncio
import math
import os
import platform
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

KEY, SECRET = "bench", "bench-secret"
# The fetch wait of a bench's own topic reader: the embedded broker answers a held fetch only
# after half its wait, so with aiokafka's default (500 ms) the reader itself added up to about
# 250 ms to what it timed (bench/progress.py before 2026-12-03); a short wait adds little.
READER_FETCH_WAIT_MS = 10


async def stop_following(
    followers: Iterable[asyncio.Task[None]], responses: Iterable[httpx.Response | None]
) -> None:
    """End the tasks that read Server-Sent Events streams by closing their responses: each
    read then fails at once and its task ends, however the reader awaits. Cancelling them
    instead depended on every await on the way passing the cancellation on, which
    `asyncio.wait_for` (once in tests.support.live) did not always do (docs/decisions/0024:
    the end of bench/progress.py hung)."""
    tasks = list(followers)
    for response in responses:
        if response is not None:
            await response.aclose()
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=30)
    for task in pending:  # never answered, so never had a response to close
        task.cancel()
    for task in done:
        if not task.cancelled():
            task.exception()  # retrieved: the read's error after the close is expected


async def paced_load(
    http: httpx.AsyncClient, statement: Callable[[int], dict[str, Any]], rate: float
) -> None:
    """`rate` statements a second, one per POST, `statement(n)` the n-th, until cancelled."""
    sent, next_at = 0, time.perf_counter()
    while True:
        (await http.post("/xapi/statements", json=statement(sent))).raise_for_status()
        sent, next_at = sent + 1, next_at + 1 / rate
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))


def client(base: str, key: str, secret: str, version: str = "1.0.3") -> httpx.AsyncClient:
    """An xAPI client with Basic credentials and room for many concurrent requests."""
    return httpx.AsyncClient(
        base_url=base,
        auth=(key, secret),
        headers={"X-Experience-API-Version": version},
        timeout=60,
        limits=httpx.Limits(max_connections=64),
    )


def quantile(values: list[float], p: float) -> float:
    """The p-quantile by nearest rank: the smallest value with at least p of them at or below
    it (p=0.5 of [1, 2, 3, 4] is 2, p=0.99 of 100 values the 99th). NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(round(p * len(ordered), 9)))
    return ordered[min(rank, len(ordered)) - 1]


def pct(values: list[float], p: float) -> float:
    """The p-quantile of durations in seconds, in milliseconds."""
    return quantile(values, p) * 1000


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as `uptime` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    return f"{system}, {cpu}, Python {platform.python_version()}"


@contextmanager
def served(**settings: str) -> Iterator[tuple[str, Path]]:
    """`lrs serve` (embedded broker and store) in a temporary data directory, with the bench
    credential and extra LRS_* settings (names without the prefix): (base URL, data dir)."""
    from tests.support.serve import serve_lrs

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        with serve_lrs(data, KEY, SECRET, **settings) as (base, _):
            yield base, data
