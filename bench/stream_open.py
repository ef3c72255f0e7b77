"""Stream opening: how long a learner's progress stream takes to send its first event; prints
numbers, asserts nothing about speed.

An API process's feed fetches the progress topics only while a stream is open in it
(docs/decisions/0035): the first stream after a quiet spell waits until the feed follows them
from their end before it reads its snapshot. This measures that wait as a client sees it.

Starts `lrs serve` (embedded broker and store; one API process by default, so that "another
stream is open" means open in the same process), posts `--history` statements for 20 learners
(batches of 100), then, per phase, `--samples` times:

* cold: nothing open for `--gap` seconds (past the feed's 30 s before it lets go, and a doze of
  up to 15 s in which it may not look; `--busy-gap` under the load, where it looks often),
  then one stream is opened: from the request to its first event (the snapshot);
* warm: with that stream still open, a second one for another learner.

Phases: `idle` (nothing posted: the feed dozes until rung or woken) and `busy` (a background
load of `--rate` single statements/s from other learners, so the feed is fetching when the
stream opens). Prints p50 and max per phase and kind, and the load average.

Usage: python bench/stream_open.py [--history 5000] [--samples 3] [--gap 50] [--busy-gap 35]
                                   [--rate 20] [--api-workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import KEY, SECRET, client, load_average, machine, paced_load, pct, served
from tests.support.live import SseReader

ACTIVITY = "https://content.example.org/bench/stream-open"
EXPERIENCED = "http://adlnet.gov/expapi/verbs/experienced"
FIRST_EVENT_WITHIN = 60.0


def learner_statement(learner: str, n: int) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{learner}@example.org"},
        "verb": {"id": EXPERIENCED, "display": {"en-US": "experienced"}},
        "object": {"id": f"{ACTIVITY}/module/{n % 7}"},
        "timestamp": datetime.now(UTC).isoformat(),
    }


async def post_history(http: httpx.AsyncClient, run: str, count: int) -> None:
    for start in range(0, count, 100):
        batch = [
            learner_statement(f"{run}-h{n % 20}", n) for n in range(start, min(count, start + 100))
        ]
        (await http.post("/xapi/statements", json=batch)).raise_for_status()


async def background_load(http: httpx.AsyncClient, run: str, rate: float) -> None:
    """`rate` statements/s (one per request) from 50 other learners, until cancelled."""
    await paced_load(http, lambda n: learner_statement(f"{run}-load-{n % 50}", n), rate)


class OpenStream:
    """One learner stream: the seconds from its request to its first event."""

    def __init__(self, http: httpx.AsyncClient, learner: str) -> None:
        self._http, self._learner = http, learner
        self._context: contextlib.AbstractAsyncContextManager[httpx.Response] | None = None
        self.response: httpx.Response | None = None

    async def first_event_seconds(self) -> float:
        agent = quote(f'{{"mbox":"mailto:{self._learner}@example.org"}}')
        began = time.perf_counter()
        self._context = self._http.stream("GET", f"/progress/stream?agent={agent}")
        self.response = await self._context.__aenter__()
        self.response.raise_for_status()
        await SseReader(self.response).next(FIRST_EVENT_WITHIN)
        return time.perf_counter() - began

    async def close(self) -> None:
        if self._context is not None:
            await self._context.__aexit__(None, None, None)


async def one_sample(http: httpx.AsyncClient, run: str, n: int) -> tuple[float, float]:
    """(cold, warm) seconds to the first event."""
    cold, warm = OpenStream(http, f"{run}-h{n % 20}"), OpenStream(http, f"{run}-h{(n + 1) % 20}")
    try:
        return await cold.first_event_seconds(), await warm.first_event_seconds()
    finally:
        await warm.close()
        await cold.close()


async def phase(
    http: httpx.AsyncClient, run: str, label: str, samples: int, gap: float
) -> tuple[list[float], list[float]]:
    colds, warms = [], []
    for n in range(samples):
        await asyncio.sleep(gap)  # the quiet spell is the condition measured
        cold, warm = await one_sample(http, run, n)
        colds.append(cold)
        warms.append(warm)
        print(
            f"  {label}: cold {cold * 1000:.0f} ms, warm {warm * 1000:.0f} ms"
            f" (load {load_average()})",
            flush=True,
        )
    return colds, warms


def summary(label: str, colds: list[float], warms: list[float]) -> str:
    def shown(values: list[float]) -> str:
        return f"p50 {pct(values, 0.5):.0f} ms, max {max(values) * 1000:.0f} ms"

    return f"{label}: cold {shown(colds)}; warm {shown(warms)}"


async def run(base: str, args: argparse.Namespace) -> None:
    tag = uuid.uuid4().hex[:6]
    async with client(base, KEY, SECRET) as http:
        await post_history(http, tag, args.history)
        print(f"history: {args.history} statements posted; load {load_average()}", flush=True)
        idle = await phase(http, tag, "idle", args.samples, args.gap)
        load = asyncio.create_task(background_load(http, tag, args.rate))
        try:
            label = f"busy ({args.rate:.0f} statements/s)"
            busy = await phase(http, tag, label, args.samples, args.busy_gap)
        finally:
            load.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await load
        print(summary("idle", *idle))
        print(summary(f"busy ({args.rate:.0f} statements/s)", *busy))
        print(f"load after: {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--history", type=int, default=5000, help="statements posted first")
    parser.add_argument("--samples", type=int, default=3, help="cold and warm opens per phase")
    parser.add_argument("--gap", type=float, default=50.0, help="seconds with no stream open")
    parser.add_argument("--busy-gap", type=float, default=35.0, help="... under the load")
    parser.add_argument("--rate", type=float, default=20.0, help="background statements/s")
    parser.add_argument("--api-workers", type=int, default=1, help="LRS_API_WORKERS")
    args = parser.parse_args()
    print(machine())
    print(f"api workers: {args.api_workers}", flush=True)
    with served(api_workers=str(args.api_workers)) as (base, _):
        asyncio.run(run(base, args))


if __name__ == "__main__":
    main()
