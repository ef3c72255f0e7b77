"""Fuzz a running LRS over HTTP: N hostile requests (bench/hostile.py) on every route of its
OpenAPI description, the alternate request syntax and unrouted paths; prints counts by status
class and by route, and every 5xx or dropped connection with the request that caused it.

Only loopback endpoints are accepted. Exits 1 when any request got a 5xx or no answer.

Usage: python bench/fuzz.py http://127.0.0.1:8080 --key K --secret S [-n 10000] [--seed 0]
       [--concurrency 16] [--replay INDEX]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.hostile import HostileRequest, Route, hostile_request, routes_from_openapi

# Headers a real connection cannot carry as the fuzzer means them (a false Content-Length
# would break the framing of the connection, not test the LRS).
UNSENDABLE = {b"content-length"}
SHOWN = 40


@dataclass
class Tally:
    by_class: Counter[str] = field(default_factory=Counter)
    by_route: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    unsendable: int = 0

    def record(self, index: int, request: HostileRequest, status: int | None, note: str) -> None:
        self.by_route[request.route] += 1
        self.by_class["no answer" if status is None else f"{status // 100}xx"] += 1
        if status is None or status >= 500:
            self.failures.append(f"#{index}: {status or note} {request.summary()}")


def loopback_only(url: str) -> str:
    host = urlsplit(url).hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise SystemExit(f"refusing {url}: only loopback endpoints may be fuzzed")
    return url.rstrip("/")


def request_for(
    seed: int, index: int, routes: list[Route], key: str, secret: str
) -> HostileRequest:
    return hostile_request(random.Random(seed * 1_000_003 + index), routes, key, secret)


def ascii_query(raw: bytes) -> bytes:
    """The query with every non-ASCII byte percent-encoded (a URL on the wire is ASCII; the
    LRS decodes the same bytes)."""
    return b"".join(bytes([b]) if b < 0x80 else b"%%%02X" % b for b in raw)


async def send(http: httpx.AsyncClient, request: HostileRequest) -> int:
    """The status of the answer (a stream is closed once its status is known)."""
    url = httpx.URL(str(http.base_url).rstrip("/") + request.path, query=ascii_query(request.query))
    headers = [(k, v) for k, v in request.headers if k not in UNSENDABLE]
    built = http.build_request(request.method, url, headers=headers, content=request.body)
    response = await http.send(built, stream=True)
    await response.aclose()
    return response.status_code


async def run(args: argparse.Namespace) -> Tally:
    base = loopback_only(args.url)
    async with httpx.AsyncClient(
        base_url=base, timeout=args.timeout, limits=httpx.Limits(max_connections=64)
    ) as http:
        routes = routes_from_openapi((await http.get("/openapi.json")).json())
        indexes = [args.replay] if args.replay is not None else list(range(args.n))
        tally = Tally()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in indexes:
            queue.put_nowait(index)

        async def worker() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                request = request_for(args.seed, index, routes, args.key, args.secret)
                try:
                    status: int | None = await send(http, request)
                    note = ""
                except (httpx.InvalidURL, httpx.LocalProtocolError):
                    tally.unsendable += 1  # refused by the client library, never sent
                    continue
                except httpx.HTTPError as exc:
                    status, note = None, f"no answer ({exc!r})"
                tally.record(index, request, status, note)

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return tally


def report(tally: Tally, seconds: float) -> None:
    total = sum(tally.by_class.values())
    print(f"{total} requests in {seconds:.1f}s ({tally.unsendable} more the client could not send)")
    for name, count in sorted(tally.by_class.items()):
        print(f"  {name:<10} {count:>7}")
    print("by route:")
    for route, count in sorted(tally.by_route.items()):
        print(f"  {count:>6}  {route}")
    if tally.failures:
        print(f"{len(tally.failures)} with a 5xx or no answer (first {SHOWN}):")
        for line in tally.failures[:SHOWN]:
            print("  " + line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url", help="the LRS base URL (loopback only), e.g. http://127.0.0.1:8080")
    parser.add_argument("--key", required=True, help="a credential's key (all scopes, admin)")
    parser.add_argument("--secret", required=True)
    parser.add_argument("-n", type=int, default=10_000, help="number of requests")
    parser.add_argument("--seed", type=int, default=0, help="the run's seed (replays a run)")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")
    parser.add_argument("--replay", type=int, default=None, help="send only request #INDEX")
    args = parser.parse_args()
    started = time.perf_counter()
    tally = asyncio.run(run(args))
    report(tally, time.perf_counter() - started)
    return 1 if tally.failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
