"""Drive any xAPI endpoint with the seeded realistic workload; print numbers, assert nothing.

The workload (bench/workload.py): 200 learners in 10 teams (`context.team`, a Group), 20
activities (modules with their course as parent), results with score, success, completion and
duration; a fixed seed, and statement ids chosen by the client. Each mode POSTs its statements
in batches from concurrent clients (`batch100x4`: batches of 100 from 4 clients, `batch10x16`,
`single16`: one statement per request from 16 clients; any `batchNxC` / `singleC` works), then
checks that every acknowledged id is retrievable by GET /statements?statementId= (all of them
up to 20,000, a fixed sample beyond) and that listing the run's statements (by its
`context.registration`) shows each once. Prints one table: statements/s, request latency
p50/p95/p99, errors (non-200 answers, each retried up to 5 times with the same ids), lost and
duplicated statements, and the load average at the start and end of each mode.

    python bench/xapi_load.py                      # starts `lrs serve` itself (make bench)
    python bench/xapi_load.py --url http://127.0.0.1:8100/xAPI --user U --password P

Ids and registrations come from the seed and `--run` (default: a new random run, so that the
same LRS can be driven again); the same --seed and --run repeat a run exactly, on a new store.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import KEY, SECRET, client, load_average, machine, pct, served
from bench.workload import Doc, Workload

DEFAULT_MODES = ("batch100x4", "batch10x16", "single16")
DEFAULT_STATEMENTS = {1: 2000, 10: 10_000}  # by batch size; larger batches: 20,000
FULL_CHECK_UP_TO = 20_000  # acknowledged ids checked one by one; a sample beyond
RETRIES = 5  # attempts per batch (503, 5xx, dropped connection)
RUN_NAMESPACE = uuid.UUID("6f1d3c39-2f4e-4d6a-9a57-0b8c1f3e1a10")


@dataclass(frozen=True)
class Mode:
    name: str
    batch: int
    clients: int


def parse_mode(name: str) -> Mode:
    """`batchNxC` (batches of N from C clients) or `singleC` (batches of 1 from C clients)."""
    found = re.fullmatch(r"batch(\d+)x(\d+)|single(\d+)", name)
    if not found:
        raise ValueError(f"mode {name!r}: expected batchNxC or singleC, e.g. batch100x4")
    batch, clients = (int(found[1]), int(found[2])) if found[1] else (1, int(found[3]))
    if batch < 1 or clients < 1:
        raise ValueError(f"mode {name!r}: batch size and clients must be at least 1")
    return Mode(name, batch, clients)


def default_statements(mode: Mode) -> int:
    return DEFAULT_STATEMENTS.get(mode.batch, 20_000)


def registration_of(run: str, mode: str) -> str:
    return str(uuid.uuid5(RUN_NAMESPACE, f"{run}/{mode}"))


def for_run(statements: list[Doc], run: str, mode: str) -> list[Doc]:
    """The statements with ids of this run (derived from their seeded ids) and the run's
    registration in their context; the rest unchanged."""
    registration = registration_of(run, mode)
    return [
        {
            **s,
            "id": str(uuid.uuid5(RUN_NAMESPACE, f"{run}/{s['id']}")),
            "context": {**s["context"], "registration": registration},
        }
        for s in statements
    ]


def sample(ids: Sequence[str], limit: int, seed: int = 0) -> list[str]:
    """All ids up to `limit`, else a fixed sample of `limit` of them."""
    if len(ids) <= limit:
        return list(ids)
    return random.Random(seed).sample(list(ids), limit)


def duplicates(listed: Sequence[str]) -> int:
    """Statements listed more than once, counting every extra listing."""
    return sum(n - 1 for n in Counter(listed).values() if n > 1)


def found_once(body: Any, statement_id: str) -> bool:
    """The answer to GET /statements?statementId= holds that statement once: the Statement
    itself (Communication 2.1.3), or, as some LRSs answer (Ralph 5), a StatementResult whose
    `statements` hold it exactly once."""
    if not isinstance(body, dict):
        return False
    if "statements" in body:
        return [s.get("id") for s in body["statements"]] == [statement_id]
    return body.get("id") == statement_id


def next_page(endpoint: str, more: str | None) -> str | None:
    """The absolute URL of a `more` link (an IRL relative to the server, Data 2.5.1.2)."""
    return urljoin(endpoint, more) if more else None


@dataclass
class Outcome:
    mode: Mode
    sent: int
    seconds: float = 0.0
    acknowledged: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: Counter[str] = field(default_factory=Counter)
    checked: int = 0
    lost: int = 0
    listed: int = 0
    duplicated: int = 0
    load_before: str = ""
    load_after: str = ""

    @property
    def rate(self) -> float:
        return len(self.acknowledged) / self.seconds if self.seconds else 0.0


async def post_batches(http: httpx.AsyncClient, statements: list[Doc], outcome: Outcome) -> None:
    """POST in batches, `clients` requests at a time; a failed batch is sent again with the
    same ids (an LRS must take a statement it already has, with the same content, again)."""
    mode = outcome.mode
    batches = [statements[i : i + mode.batch] for i in range(0, len(statements), mode.batch)]

    async def one(worker: int) -> None:
        for body in batches[worker :: mode.clients]:
            await post_one(http, body, outcome)

    started = time.perf_counter()
    await asyncio.gather(*(one(w) for w in range(mode.clients)))
    outcome.seconds = time.perf_counter() - started


async def post_one(http: httpx.AsyncClient, body: list[Doc], outcome: Outcome) -> None:
    for _ in range(RETRIES):
        started = time.perf_counter()
        try:
            response = await http.post("statements", json=body)
        except httpx.TransportError as error:
            outcome.errors += 1
            outcome.error_kinds[type(error).__name__] += 1
            continue
        outcome.latencies.append(time.perf_counter() - started)
        if response.status_code == 200:
            outcome.acknowledged.extend(str(i) for i in response.json())
            return
        outcome.errors += 1
        outcome.error_kinds[str(response.status_code)] += 1
        if response.status_code < 500:
            print(f"  {outcome.mode.name}: POST {response.status_code} {response.text[:200]}")
            return


async def missing(http: httpx.AsyncClient, ids: list[str], concurrency: int) -> dict[str, str]:
    """The ids that GET /statements?statementId= does not return, with what it answered."""
    gone: dict[str, str] = {}
    queue = iter(ids)

    async def one() -> None:
        for statement_id in queue:
            try:
                response = await http.get("statements", params={"statementId": statement_id})
            except httpx.HTTPError as error:
                gone[statement_id] = type(error).__name__
                continue
            if response.status_code != 200:
                gone[statement_id] = str(response.status_code)
            elif not found_once(response.json(), statement_id):
                gone[statement_id] = "200 without it once"

    await asyncio.gather(*(one() for _ in range(concurrency)))
    return gone


async def still_missing(http: httpx.AsyncClient, ids: list[str], within: float) -> dict[str, str]:
    """Missing ids, looked for again until none is missing or `within` seconds passed since
    the first look ended (an LRS that acknowledges before storing makes them retrievable a
    little later; a look that failed, e.g. timed out, is tried again)."""
    gone = await missing(http, ids, 16)
    deadline = time.monotonic() + within
    while gone:
        await asyncio.sleep(0.5)  # polling a condition, with a deadline
        gone = await missing(http, list(gone), 16)
        if time.monotonic() > deadline:
            break
    return gone


async def listed_ids(http: httpx.AsyncClient, endpoint: str, registration: str) -> list[str]:
    """Every statement id GET /statements lists for the registration, page after page."""
    found: list[str] = []
    url: str | None = urljoin(endpoint + "/", "statements")
    params: dict[str, Any] | None = {"registration": registration, "limit": 500}
    while url:
        response = await http.get(url, params=params)
        response.raise_for_status()
        body = response.json()
        found += [s["id"] for s in body["statements"]]
        url, params = next_page(endpoint, body.get("more")), None
    return found


async def verify(
    http: httpx.AsyncClient, endpoint: str, run: str, outcome: Outcome, settle: float
) -> None:
    checked = sample(outcome.acknowledged, FULL_CHECK_UP_TO)
    outcome.checked = len(checked)
    lost = await still_missing(http, checked, settle)
    outcome.lost = len(lost)
    if lost:
        answers = Counter(lost.values()).most_common()
        print(f"  {outcome.mode.name}: not retrievable by id: {answers}; e.g. {next(iter(lost))}")
    listed = await listed_ids(http, endpoint, registration_of(run, outcome.mode.name))
    outcome.listed = len(listed)
    outcome.duplicated = duplicates(listed)


async def run_mode(
    http: httpx.AsyncClient, endpoint: str, args: argparse.Namespace, mode: Mode, index: int
) -> Outcome:
    count = args.statements or default_statements(mode)
    seeded = Workload(args.seed + index).statements(count)
    statements = for_run(seeded, args.run, mode.name)
    outcome = Outcome(mode, len(statements), load_before=load_average())
    await post_batches(http, statements, outcome)
    outcome.load_after = load_average()
    if outcome.errors:
        print(f"  {mode.name}: POST errors {outcome.error_kinds.most_common()}")
    await verify(http, endpoint, args.run, outcome, args.settle)
    return outcome


async def warm_up(http: httpx.AsyncClient, requests: int = 32, at_once: int = 8) -> None:
    """Untimed authenticated reads first, so that no mode pays for first-request work (an LRS
    that caches a verified secret per process verifies it once per process: Ralph's bcrypt)."""
    for _ in range(requests // at_once):
        await asyncio.gather(*(http.get("statements", params={"limit": 1}) for _ in range(at_once)))


async def drive(endpoint: str, args: argparse.Namespace) -> list[Outcome]:
    """Every mode of `args.modes`, one after the other, against the xAPI endpoint."""
    outcomes = []
    async with client(endpoint, args.user, args.password, args.xapi_version) as http:
        await warm_up(http)
        for index, name in enumerate(args.modes):
            outcomes.append(await run_mode(http, endpoint, args, parse_mode(name), index))
            print(f"  {row(outcomes[-1], '')}", flush=True)
    return outcomes


HEADER = (
    f"{'lrs':<12}{'mode':<12}{'acked':>7}{'st/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}"
    f"{'errors':>7}{'checked':>8}{'lost':>5}{'dup':>5}  load before / after"
)


def row(outcome: Outcome, lrs: str) -> str:
    lat = outcome.latencies
    return (
        f"{lrs:<12}{outcome.mode.name:<12}{len(outcome.acknowledged):>7}{outcome.rate:>8.0f}"
        f"{pct(lat, 0.5):>8.0f}{pct(lat, 0.95):>8.0f}{pct(lat, 0.99):>8.0f}{outcome.errors:>7}"
        f"{outcome.checked:>8}{outcome.lost:>5}{outcome.duplicated:>5}"
        f"  {outcome.load_before} / {outcome.load_after}"
    )


def table(results: dict[str, list[Outcome]]) -> str:
    lines = [HEADER]
    for lrs, outcomes in results.items():
        lines += [row(o, lrs) for o in outcomes]
    return "\n".join(lines)


def arguments(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="xAPI endpoint (default: start `lrs serve` and use it)")
    parser.add_argument("--user", default=KEY)
    parser.add_argument("--password", default=SECRET)
    parser.add_argument("--xapi-version", choices=["1.0.3", "2.0.0"], default="1.0.3")
    parser.add_argument("--mode", dest="modes", action="append", help="repeatable")
    parser.add_argument("--statements", type=int, help="per mode (default: by batch size)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--run", default=uuid.uuid4().hex[:8], help="ids and registrations")
    parser.add_argument("--settle", type=float, default=60.0, help="seconds to wait for stores")
    parser.add_argument("--name", default="", help="the LRS's name in the table")
    args = parser.parse_args(argv)
    args.modes = args.modes or list(DEFAULT_MODES)
    for name in args.modes:
        parse_mode(name)  # a wrong mode fails before anything is sent
    return args


def main() -> None:
    args = arguments()
    print(f"machine: {machine()}; load average {load_average()}; run {args.run}")
    if args.url:
        results = {args.name or "lrs": asyncio.run(drive(args.url.rstrip("/"), args))}
    else:
        with served() as (base, _):
            print("lrs serve: embedded broker and store, default settings")
            results = {args.name or "lrs serve": asyncio.run(drive(f"{base}/xapi", args))}
    print(table(results))


if __name__ == "__main__":
    main()
