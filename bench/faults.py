"""Fault run: kill -9 of each process of `lrs serve` under load; prints numbers, asserts nothing.

Starts `lrs serve` (embedded broker and store) in a temporary directory, unless --url and
--data-dir name a running one (its processes are found in the data directory's
processes.json). 16 clients POST one statement at a time, each with an id the
client chose, and retry the same statement (same id) after any error until it is acknowledged.
Each process kind is killed with SIGKILL in turn; per kind it prints:

- the seconds from the kill to the first acknowledged POST sent after the kill;
- the errors the clients saw meanwhile, by kind: connection refused, connection dropped
  (a request in flight on the killed process), 503 with Retry-After, 503 without, other;
- for the progress consumers, the seconds until the progress store counted every statement
  acknowledged up to one second after the kill;
- statements acknowledged in that row that the store lacks (lost) or holds twice (duplicated).

At the end: every acknowledged id is looked up in the store (lost), the listing is checked for
ids listed twice (duplicated), progress is compared with a recomputation from the stored
statements (tests/support/progress.py's oracle), and `lrs serve` is stopped with SIGTERM while
the clients go on, timing the stop and counting what the clients saw meanwhile.

Usage: python bench/faults.py [--kinds api,persist,...] [--log serve.log]
       python bench/faults.py --url URL --data-dir DIR --key K --secret S
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import client
from lrs.adapters.mongo_store import connect
from tests.support.factories import statement
from tests.support.progress import oracle, progress_docs, registry, stored_statements
from tests.support.serve import serve_lrs

KEY, SECRET = "bench", "bench-secret"
TENANT = "default"
CLIENTS = 16
TEAMS = 4
SECONDS_PER_STATEMENT = 750.0  # the factory's result.duration, PT12M30S
KINDS = ("api", "persist", "progress", "team-progress", "team-registry", "store", "broker")
Doc = dict[str, Any]


# --- the processes of `lrs serve` ----------------------------------------------------------


def processes(data: Path) -> dict[str, list[int]]:
    """The live children of `lrs serve` by kind (api, persist, ..., store, broker), from the
    `processes.json` it keeps in its data directory."""
    try:
        pids: dict[str, int] = json.loads((data / "processes.json").read_text())
    except (OSError, ValueError):
        return {}
    found: dict[str, list[int]] = {}
    for name, pid in pids.items():
        if Path(f"/proc/{pid}").exists() and "State:\tZ" not in _status(pid):
            found.setdefault(name.split("-")[0] if name.startswith("api") else name, []).append(pid)
    return found


def _status(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "State:\tZ"


def child_setting(data: Path, name: str) -> str:
    """A setting `lrs serve` gives its children (e.g. the embedded parts' addresses), from the
    environment of a child that has it."""
    wanted = name.encode() + b"="
    for pids in processes(data).values():
        for pid in pids:
            with contextlib.suppress(OSError):
                for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                    if item.startswith(wanted):
                        return item.removeprefix(wanted).decode()
    raise SystemExit(f"no child of lrs serve names {name}")


def store_uri(data: Path) -> str:
    """The embedded store's address, from the environment of a process that uses it."""
    return child_setting(data, "LRS_MONGODB_URI")


# --- the load ------------------------------------------------------------------------------


@dataclass
class Attempt:
    client: int
    sent: float
    answered: float
    outcome: str  # ok, refused, dropped, 503-retry-after, 503-bare, timeout, other-<status>
    statement_id: str


@dataclass
class Load:
    base: str
    key: str = KEY
    secret: str = SECRET
    run: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    attempts: list[Attempt] = field(default_factory=list)
    acknowledged: dict[str, float] = field(default_factory=dict)  # id -> when
    stopping: bool = False

    @property
    def verb(self) -> str:
        return f"https://bench.example.org/faults/{self.run}"

    def learner(self, n: int) -> str:
        return f"{self.run}-{n}"

    def new_statement(self, n: int) -> Doc:
        team = {"objectType": "Group", "mbox": f"mailto:team{n % TEAMS}-{self.run}@example.org"}
        doc = statement(learner=self.learner(n), verb=self.verb)
        doc["context"]["team"] = team
        return doc

    async def client_loop(self, http: httpx.AsyncClient, n: int) -> None:
        while not self.stopping:
            doc = self.new_statement(n)
            while not await self.post(http, n, doc):
                if self.stopping:
                    return

    async def post(self, http: httpx.AsyncClient, n: int, doc: Doc) -> bool:
        """One attempt; True when acknowledged. Waits before a retry as the answer says."""
        sent = time.monotonic()
        pause = 0.1
        try:
            response = await http.post("/xapi/statements", json=[doc], timeout=40)
            outcome = classify(response)
            if outcome == "503-retry-after":
                pause = min(float(response.headers["retry-after"]), 1.0)
        except httpx.ConnectError:
            outcome = "refused"
        except httpx.TimeoutException:
            outcome = "timeout"
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError):
            outcome = "dropped"
        answered = time.monotonic()
        self.attempts.append(Attempt(n, sent, answered, outcome, doc["id"]))
        if outcome == "ok":
            self.acknowledged[doc["id"]] = answered
            return True
        await asyncio.sleep(pause)
        return False

    def acked_between(self, start: float, end: float) -> int:
        return sum(1 for when in self.acknowledged.values() if start <= when < end)


def classify(response: httpx.Response) -> str:
    if response.status_code == 200:
        return "ok"
    if response.status_code == 503:
        return "503-retry-after" if "retry-after" in response.headers else "503-bare"
    return f"other-{response.status_code}"


@contextlib.asynccontextmanager
async def running_load(load: Load) -> AsyncIterator[None]:
    async with client(load.base, load.key, load.secret) as http:
        tasks = [asyncio.create_task(load.client_loop(http, n)) for n in range(CLIENTS)]
        try:
            yield
        finally:
            load.stopping = True
            await asyncio.gather(*tasks)


# --- one row: kill, wait for recovery ------------------------------------------------------


@dataclass
class Row:
    kind: str
    killed: float
    recovery: float | None
    errors: Counter[str]
    errors_after: Counter[str]
    progress_caught_up: float | None = None
    acked: int = 0


async def kill_and_watch(load: Load, data: Path, kind: str, within: float) -> Row:
    await wait_back(data, kind, 0, within)  # a child in a restart loop may be away a while
    pids = processes(data).get(kind, [])
    if not pids:
        raise SystemExit(f"no {kind} process in {data}/processes.json")
    killed = time.monotonic()
    os.kill(pids[0], signal.SIGKILL)
    threshold_at = killed + 1.0
    caught_up = None
    if kind in ("progress", "team-progress", "team-registry"):
        caught_up = await progress_catch_up(load, data, kind, threshold_at, within)
    recovery = await first_ack_after(load, killed, within)
    await wait_back(data, kind, pids[0], within)
    await asyncio.sleep(3)  # a few seconds of load after the recovery, for errors_after
    until = killed + recovery if recovery is not None else time.monotonic()
    errors = outcomes(load, killed, until)
    after = outcomes(load, until, time.monotonic())
    acked = load.acked_between(killed, until)
    return Row(kind, killed, recovery, errors, after, caught_up, acked)


async def first_ack_after(load: Load, killed: float, within: float) -> float | None:
    deadline = killed + within
    while time.monotonic() < deadline:
        answered = [a.answered for a in load.attempts if a.outcome == "ok" and a.sent > killed]
        if answered:
            return min(answered) - killed
        await asyncio.sleep(0.05)
    return None


async def wait_back(data: Path, kind: str, killed: int, within: float) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if len([p for p in processes(data).get(kind, []) if p != killed]) >= 1:
            return
        await asyncio.sleep(0.1)


def outcomes(load: Load, start: float, end: float) -> Counter[str]:
    return Counter(
        a.outcome for a in load.attempts if a.outcome != "ok" and start <= a.answered < end
    )


async def progress_catch_up(
    load: Load, data: Path, kind: str, threshold_at: float, within: float
) -> float | None:
    """Seconds from the kill until the progress store counts every statement acknowledged up
    to `threshold_at` (learner summaries; team summaries' time spent for the team consumers)."""
    killed = threshold_at - 1.0
    await asyncio.sleep(max(0.0, threshold_at - time.monotonic()))
    wanted = load.acked_between(0.0, threshold_at)
    db_client = connect(store_uri(data))
    try:
        db = db_client["lrs"]
        deadline = killed + within
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                if await counted(db, load, kind) >= wanted:
                    return time.monotonic() - killed
            await asyncio.sleep(0.1)
        return None
    finally:
        await db_client.close()


async def counted(db: Any, load: Load, kind: str) -> int:
    if kind == "progress":
        docs = await progress_docs(db, "progress_learners", TENANT)
        return sum(d["summary"]["statements"] for k, d in docs.items() if load.run in k)
    teams = await progress_docs(db, "progress_teams", TENANT)
    spent = sum(d["summary"]["time_spent_seconds"] for k, d in teams.items() if load.run in k)
    return int(spent / SECONDS_PER_STATEMENT)


# --- the final checks ----------------------------------------------------------------------


async def stored_ids(data: Path) -> Counter[str]:
    db_client = connect(store_uri(data))
    try:
        cursor = db_client["lrs"]["statements"].find({"tenant": TENANT}, {"id": 1})
        return Counter([d["id"] async for d in cursor])
    finally:
        await db_client.close()


async def listed_ids(load: Load) -> Counter[str]:
    listed: Counter[str] = Counter()
    async with client(load.base, load.key, load.secret) as http:
        url: str | None = "/xapi/statements"
        params: dict[str, Any] | None = {"verb": load.verb, "limit": 500}
        while url:
            body = (await http.get(url, params=params)).json()
            listed.update(s["id"] for s in body["statements"])
            url, params = body["more"] or None, None
    return listed


async def progress_problems(data: Path) -> list[str]:
    """Differences between the progress store and a recomputation from stored statements."""
    db_client = connect(store_uri(data))
    try:
        db = db_client["lrs"]
        expected = oracle(
            TENANT,
            await stored_statements(db, TENANT),
            await registry(db, TENANT),
            datetime.now(UTC),
        )
        learners = await progress_docs(db, "progress_learners", TENANT)
        teams = await progress_docs(db, "progress_teams", TENANT)
    finally:
        await db_client.close()
    problems = []
    for learner, summary in expected.learners.items():
        doc = learners.get(learner)
        got = doc["summary"] if doc else {}
        if got.get("statements") != summary["statements"] or got.get("totals") != summary["totals"]:
            problems.append(f"learner {learner}")
    for team, (summary, _) in expected.teams.items():
        got = (teams.get(team) or {}).get("summary") or {}
        fields = ("members", "time_spent_seconds", "activities")
        if any(got.get(f) != summary[f] for f in fields):
            problems.append(f"team {team}")
    return problems


async def wait_progress(data: Path, within: float) -> tuple[float | None, list[str]]:
    started = time.monotonic()
    problems: list[str] = []
    while time.monotonic() - started < within:
        problems = await progress_problems(data)
        if not problems:
            return time.monotonic() - started, []
        await asyncio.sleep(0.5)
    return None, problems


# --- printing ------------------------------------------------------------------------------


def show(counts: Counter[str]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "none"


def print_row(row: Row) -> None:
    recovery = f"{row.recovery:5.1f} s" if row.recovery is not None else "  none "
    line = f"{row.kind:<14} first ack after kill {recovery}; errors meanwhile: {show(row.errors)}"
    if row.errors_after:
        line += f"; errors after recovery: {show(row.errors_after)}"
    if row.kind in ("progress", "team-progress", "team-registry"):
        caught = row.progress_caught_up
        line += f"; progress caught up {caught:.1f} s" if caught is not None else "; never"
    print(line, flush=True)


# --- the run -------------------------------------------------------------------------------


async def wait_ready(base: str, within: float = 120) -> None:
    deadline = time.monotonic() + within
    async with httpx.AsyncClient(base_url=base) as http:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await http.get("/readyz", timeout=2)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise SystemExit("lrs serve did not get ready again")


async def fault_run(load: Load, data: Path, kinds: list[str], within: float) -> list[Row]:
    base = load.base
    rows = []
    async with running_load(load):
        await asyncio.sleep(3)
        print(f"steady load: {load.acked_between(0, time.monotonic()) / 3:.0f} statements/s")
        for kind in kinds:
            await wait_ready(base)
            await asyncio.sleep(2)
            rows.append(await kill_and_watch(load, data, kind, within))
            print_row(rows[-1])
    return rows


def row_of(rows: list[Row], when: float) -> str:
    """The kind killed last before `when` (statements acknowledged before any kill: "steady")."""
    earlier = [row for row in rows if row.killed <= when]
    return earlier[-1].kind if earlier else "steady"


async def final_checks(load: Load, rows: list[Row], data: Path) -> None:
    stored = await stored_ids(data)
    listed = await listed_ids(load)
    acked = set(load.acknowledged)
    lost = [i for i in acked if i not in stored]
    twice = [i for i, n in {**stored, **listed}.items() if n > 1]
    print(
        f"{len(acked)} acknowledged, {len(stored)} stored, {len(lost)} lost,"
        f" {len(twice)} duplicated (store or listing)"
    )
    for statement_id in lost:
        when = load.acknowledged[statement_id]
        print(f"  lost {statement_id}: acknowledged in the {row_of(rows, when)} row")
    seconds, problems = await wait_progress(data, 60)
    verdict = f"equal ({seconds:.1f} s after the load)" if seconds is not None else "DIFFERENT"
    print(f"progress vs recomputation: {verdict} {problems[:5] if problems else ''}")


async def stop_under_load(base: str, process: Any) -> None:
    """SIGTERM while the clients go on: seconds to exit and what the clients saw meanwhile."""
    load = Load(base)
    async with running_load(load):
        await asyncio.sleep(2)
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        while time.monotonic() - signalled < 60:
            if process.poll() is not None:
                break
            await asyncio.sleep(0.05)
        stopped = time.monotonic() - signalled
        load.stopping = True
    seen = Counter(a.outcome for a in load.attempts if a.answered >= signalled)
    print(f"lrs serve stopped {stopped:.1f} s after SIGTERM; answers meanwhile: {show(seen)}")


@contextlib.contextmanager
def own_serve(log: Path | None, keep: Path | None) -> Iterator[tuple[str, Any, Path]]:
    """`lrs serve` in a temporary data directory (or in `keep`, left for its logs)."""
    with contextlib.ExitStack() as stack:
        data = keep or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        base, process = stack.enter_context(serve_lrs(data, KEY, SECRET, log))
        yield base, process, data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url")
    parser.add_argument("--data-dir", type=Path, help="the running one's LRS_DATA_DIR")
    parser.add_argument("--key", default=KEY)
    parser.add_argument("--secret", default=SECRET)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--within", type=float, default=120.0, help="longest wait per row")
    parser.add_argument("--log", type=Path, help="where lrs serve's own log goes")
    parser.add_argument("--keep", type=Path, help="data directory to use and keep (its logs/)")
    args = parser.parse_args()
    kinds = args.kinds.split(",")
    print(f"{CLIENTS} clients, one statement per POST, same id on retry; kill -9 of: {kinds}")
    if args.url:
        load = Load(args.url, args.key, args.secret)
        rows = asyncio.run(fault_run(load, args.data_dir, kinds, args.within))
        asyncio.run(final_checks(load, rows, args.data_dir))
        return
    with own_serve(args.log, args.keep) as (base, process, data):
        load = Load(base)
        rows = asyncio.run(fault_run(load, data, kinds, args.within))
        asyncio.run(final_checks(load, rows, data))
        asyncio.run(stop_under_load(base, process))


if __name__ == "__main__":
    main()
