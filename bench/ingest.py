"""Ingest benchmark: prints numbers, asserts nothing about speed.

Starts `lrs serve` (embedded broker and store) in a temporary directory, unless --url is given,
and measures over HTTP on loopback:

1. statements/s accepted with batches of 1 (16 concurrent clients) and of 100 (4 clients),
   in the default acknowledgement mode (`stored`: answered once in MongoDB);
2. accepted-to-stored latency (p50/p95) and throughput with LRS_ACK_MODE=kafka (answered once in
   Kafka), by polling for each batch until it is retrievable;
3. the spine's acceptance check: 2,000 statements POSTed in batches of 10 by 16 concurrent
   clients, then every one retrieved by id and the listing checked for duplicates.

Usage: python bench/ingest.py [--quick] [--learners N] [--url URL --key K --secret S]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import KEY, SECRET, client, machine, pct, served
from tests.support.factories import statement


def learner(worker: int, n: int, i: int, pool: int) -> str:
    """A new learner per statement (pool 0: the store's worst case), or one of `pool`."""
    name = f"{worker}-{n}-{i}"
    return name if pool == 0 else str(hash(name) % pool)


async def post_load(
    http: httpx.AsyncClient, total: int, batch: int, clients: int, verb: str, pool: int = 0
) -> tuple[float, list[str], list[float]]:
    """POST `total` statements; return (seconds, acknowledged ids, per-request latencies)."""
    requests = total // batch  # shared out: the first clients take one more when uneven
    acknowledged: list[str] = []
    latencies: list[float] = []

    async def one(worker: int) -> None:
        for n in range(requests // clients + (worker < requests % clients)):
            body = [statement(learner=learner(worker, n, i, pool), verb=verb) for i in range(batch)]
            started = time.perf_counter()
            response = await http.post("/xapi/statements", json=body)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise SystemExit(f"POST failed: {response.status_code} {response.text[:300]}")
            acknowledged.extend(response.json())

    started = time.perf_counter()
    await asyncio.gather(*(one(w) for w in range(clients)))
    return time.perf_counter() - started, acknowledged, latencies


async def throughput(base: str, key: str, secret: str, quick: bool, pool: int) -> None:
    async with client(base, key, secret) as http:
        for batch, clients, total in (
            (1, 16, 800 if quick else 2000),
            (100, 4, 4000 if quick else 20000),
        ):
            verb = f"https://bench.example.org/verbs/{uuid.uuid4()}"
            seconds, ids, lat = await post_load(http, total, batch, clients, verb, pool)
            print(
                f"batch={batch:<3} clients={clients:<2} statements={len(ids):<6}"
                f" {len(ids) / seconds:8.0f} statements/s accepted (stored before ack)"
                f"   request p50={pct(lat, 0.5):.0f} ms p95={pct(lat, 0.95):.0f} ms"
            )


async def accepted_to_stored(base: str, key: str, secret: str, quick: bool) -> None:
    """ack_mode=kafka: time from the 200 to the statements being retrievable."""
    delays: list[float] = []
    async with client(base, key, secret) as http:

        async def one(worker: int, rounds: int) -> None:
            for n in range(rounds):
                body = [statement(learner=f"{worker}-{n}-{i}") for i in range(10)]
                response = await http.post("/xapi/statements", json=body)
                acked = time.perf_counter()
                last = response.json()[-1]
                await wait_retrievable(http, last)
                delays.append(time.perf_counter() - acked)

        started = time.perf_counter()
        rounds = 10 if quick else 40
        await asyncio.gather(*(one(w, rounds) for w in range(8)))
        seconds = time.perf_counter() - started
    count = 8 * rounds * 10
    print(
        f"ack_mode=kafka: accepted-to-stored p50={pct(delays, 0.5):.0f} ms"
        f" p95={pct(delays, 0.95):.0f} ms; end-to-end {count / seconds:.0f} statements/s"
        f" (8 clients, batches of 10, each waiting for its batch to be stored)"
    )


async def wait_retrievable(http: httpx.AsyncClient, statement_id: str) -> None:
    params = {"statementId": statement_id}
    for _ in range(3000):
        if (await http.get("/xapi/statements", params=params)).status_code == 200:
            return
        await asyncio.sleep(0.02)
    raise SystemExit(f"statement {statement_id} never became retrievable")


async def acceptance_check(base: str, key: str, secret: str) -> None:
    verb = f"https://bench.example.org/verbs/{uuid.uuid4()}"
    async with client(base, key, secret) as http:
        seconds, ids, _ = await post_load(http, 2000, 10, 16, verb)
        missing = []
        for statement_id in ids:
            r = await http.get("/xapi/statements", params={"statementId": statement_id})
            if r.status_code != 200:
                missing.append(statement_id)
        listed: list[str] = []
        url: str | None = "/xapi/statements"
        params: dict[str, Any] | None = {"verb": verb, "limit": 100}
        while url:
            body = (await http.get(url, params=params)).json()
            listed += [s["id"] for s in body["statements"]]
            url, params = body["more"] or None, None
    twice = len(listed) - len(set(listed))
    verdict = "OK" if not missing and not twice and sorted(listed) == sorted(ids) else "FAILED"
    print(
        f"acceptance: {len(ids)} acknowledged in {seconds:.1f}s, {len(ids) - len(missing)}"
        f" retrievable by id, {len(listed)} listed, {twice} listed twice -> {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--key", default=KEY)
    parser.add_argument("--secret", default=SECRET)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--learners", type=int, default=0, help="learner pool size (0: a new learner each time)"
    )
    args = parser.parse_args()
    print(f"machine: {machine()}")
    if args.url:
        asyncio.run(throughput(args.url, args.key, args.secret, args.quick, args.learners))
        asyncio.run(acceptance_check(args.url, args.key, args.secret))
        return
    with served(ack_mode="stored") as (base, _):
        pool = f"a pool of {args.learners} learners" if args.learners else "a new learner each"
        print(f"lrs serve, embedded broker and store, ack_mode=stored; statements from {pool}")
        asyncio.run(throughput(base, KEY, SECRET, args.quick, args.learners))
        asyncio.run(acceptance_check(base, KEY, SECRET))
    with served(ack_mode="kafka") as (base, _):
        asyncio.run(accepted_to_stored(base, KEY, SECRET, args.quick))


if __name__ == "__main__":
    main()
