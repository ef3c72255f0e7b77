"""`lrs serve` recovers from kill -9 of its processes and stops promptly (issue 10,
docs/decisions/0010). Real embedded broker and store; the deadlines are generous (the machine
may be shared): the recovery times themselves are measured by bench/faults.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pymongo import AsyncMongoClient

from lrs import topics
from lrs.entry.counted import MARKS, READ_THROUGH
from lrs.entry.renewal import KEPT_LETTERS_FILE, keep, kept
from lrs.ports.dead_letters import DeadLetter
from lrs.settings import LrsSettings
from tests.support.factories import statement
from tests.support.live import SseReader
from tests.support.polling import eventually
from tests.support.serve import child_pids, serve_lrs
from tests.support.stack import xapi_headers

pytestmark = pytest.mark.e2e
KEY, SECRET = "e2e-key", "e2e-secret"
H = xapi_headers(key=KEY, secret=SECRET)
GENEROUS = 60.0


class Served:
    def __init__(self, base: str, process: subprocess.Popen[str], data: Path) -> None:
        self.base, self.process, self.data = base, process, data

    def pid(self, name: str) -> int:
        return child_pids(self.data)[name]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serve_lrs(tmp_path, KEY, SECRET, ack_timeout_seconds="2") as (base, process):
        yield Served(base, process, tmp_path)


async def post_until_acknowledged(
    client: httpx.AsyncClient, doc: dict[str, object], within: float
) -> list[httpx.Response | Exception]:
    """POST the same statement until it is acknowledged; every answer and error on the way."""
    seen: list[httpx.Response | Exception] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            response = await client.post("/xapi/statements", json=doc)
        except httpx.TransportError as exc:
            seen.append(exc)
        else:
            seen.append(response)
            if response.status_code == 200:
                return seen
        await asyncio.sleep(0.1)
    return seen


def broker_address(served: Served) -> str:
    """The embedded broker's address, from its command line (`--listener-url tcp://…`)."""
    argv = Path(f"/proc/{served.pid('broker')}/cmdline").read_bytes().decode().split("\0")
    return argv[argv.index("--listener-url") + 1].removeprefix("tcp://")


async def topic_keys(bootstrap: str, topic: str) -> set[bytes]:
    """The keys of every record a topic holds, read from its beginning to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()  # the cluster's metadata: how many partitions lrs serve made
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        assert partitions, f"{topic} has no partitions"
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        keys: set[bytes] = set()
        async with asyncio.timeout(GENEROUS):
            while [p for p in partitions if await consumer.position(p) < ends[p]]:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    keys.update(r.key for r in batch if r.key is not None)
        return keys
    finally:
        await consumer.stop()


def acknowledged(seen: list[httpx.Response | Exception]) -> bool:
    last = seen[-1] if seen else None
    return isinstance(last, httpx.Response) and last.status_code == 200


async def test_a_post_is_acknowledged_after_kill_9_of_every_api_process(served: Served) -> None:
    for name in ("api-1", "api-2"):
        os.kill(served.pid(name), signal.SIGKILL)
    async with httpx.AsyncClient(base_url=served.base, headers=H, timeout=30) as client:
        seen = await post_until_acknowledged(client, statement(), GENEROUS)
    assert acknowledged(seen), seen[-3:]
    answers = [s for s in seen if isinstance(s, httpx.Response)]
    assert all(r.status_code == 200 for r in answers), [r.status_code for r in answers]


async def test_one_api_process_killed_is_not_seen_by_new_connections(served: Served) -> None:
    """The other API process accepts on the same socket meanwhile: no refusal, no error."""
    os.kill(served.pid("api-1"), signal.SIGKILL)
    for _ in range(20):  # a new connection each time (no pooled one to the dead process)
        async with httpx.AsyncClient(base_url=served.base, headers=H, timeout=30) as client:
            response = await client.post("/xapi/statements", json=statement())
        assert response.status_code == 200, response.text


async def test_persister_stopped_gives_503_with_retry_after_then_kill_9_recovers(
    served: Served,
) -> None:
    persist = served.pid("persist")
    async with httpx.AsyncClient(base_url=served.base, headers=H, timeout=30) as client:
        os.kill(persist, signal.SIGSTOP)  # alive but silent: the acknowledgement times out
        doc = statement()
        waiting = await client.post("/xapi/statements", json=doc)
        assert waiting.status_code == 503, waiting.text
        assert waiting.headers["retry-after"].isdigit()
        assert waiting.json()["error"]["code"]
        os.kill(persist, signal.SIGKILL)
        seen = await post_until_acknowledged(client, doc, GENEROUS)
    assert acknowledged(seen), seen[-3:]
    for answer in seen:
        if isinstance(answer, httpx.Response) and answer.status_code == 503:
            assert answer.headers["retry-after"].isdigit()
    assert served.pid("persist") != persist


async def test_restart_counter_is_in_metrics(served: Served) -> None:
    os.kill(served.pid("persist"), signal.SIGKILL)
    line = 'lrs_process_restarts_total{process="persist"} 1.0'

    async def metrics() -> str:
        async with httpx.AsyncClient(base_url=served.base, timeout=10) as client:
            return (await client.get("/metrics")).text

    text = await eventually(metrics, lambda body: line in body, within=GENEROUS)
    assert line in text
    assert 'lrs_process_restarts_total{process="api-1"} 0.0' in text


def test_sigterm_stops_within_a_few_seconds_answering_in_flight_requests(
    served: Served,
) -> None:
    """Requests in flight at SIGTERM are answered 200 or 503 with the error envelope (or the
    connection is refused once the socket is closed), and every process is gone."""
    children = list(child_pids(served.data).values())
    answers: list[httpx.Response | Exception] = []

    async def clients() -> None:
        async with httpx.AsyncClient(base_url=served.base, headers=H, timeout=30) as client:

            async def one() -> None:
                while served.process.poll() is None:
                    try:
                        answers.append(await client.post("/xapi/statements", json=statement()))
                    except httpx.TransportError as exc:
                        answers.append(exc)
                        await asyncio.sleep(0.05)

            await asyncio.gather(*(one() for _ in range(8)))

    async def stop() -> float:
        await eventually(lambda: asyncio.sleep(0, answers), lambda a: len(a) >= 8, within=30)
        started = time.monotonic()
        served.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(served.process.wait, GENEROUS)
        return time.monotonic() - started

    async def both() -> float:
        took, _ = await asyncio.gather(stop(), clients())
        return took

    took = asyncio.run(both())
    assert served.process.returncode == 0
    assert took < 10, f"lrs serve took {took:.1f}s to stop"
    for answer in answers:
        if isinstance(answer, httpx.Response) and answer.status_code != 200:
            assert answer.status_code == 503, answer.text
            assert answer.json()["error"]["code"]
            assert "retry-after" in answer.headers
    gone = [pid for pid in children if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
    assert gone == []


def _zombie(pid: int) -> bool:
    try:
        return "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


async def test_kill_9_of_the_broker_loses_no_statement_and_progress_counts_them_all(
    served: Served,
) -> None:
    """The memory-only broker loses its topics; acknowledged statements are in the store, and
    the ones stored but not yet counted are replayed for progress; the team registry is back on
    its compacted topic although the team did not change again. The API processes are not
    restarted: their live feed reads the new topics (a learner's stream goes on)."""
    learner = "broker-kill"
    agent = '{"mbox": "mailto:learner' + learner + '@example.org"}'
    apis = {name: served.pid(name) for name in ("api-1", "api-2")}
    async with httpx.AsyncClient(base_url=served.base, headers=H, timeout=30) as client:
        created = await client.post("/teams", json={"team": "survivors", "name": "Survivors"})
        assert created.status_code == 201, created.text
        before = [statement(learner) for _ in range(30)]
        response = await client.post("/xapi/statements", json=before[:10])
        assert response.status_code == 200, response.text
        for doc in before[10:]:  # one by one: many learner versions (the feed's position)
            response = await client.post("/xapi/statements", json=doc)
            assert response.status_code == 200, response.text
        os.kill(served.pid("broker"), signal.SIGKILL)
        after = [statement(learner) for _ in range(5)]
        for doc in after:
            assert acknowledged(await post_until_acknowledged(client, doc, GENEROUS))

        async def counted() -> int:
            params = {"agent": agent}
            answer = await client.get("/progress/learners", params=params)
            return int(answer.json()["statements"]) if answer.status_code == 200 else -1

        assert await eventually(counted, lambda n: n == 35, within=GENEROUS) == 35
        for doc in [*before, *after]:
            answer = await client.get("/xapi/statements", params={"statementId": doc["id"]})
            assert answer.status_code == 200, answer.text
        assert await statements_streamed_after_one_more(client, agent, learner) == 36
    assert {name: served.pid(name) for name in apis} == apis
    team = topics.team_key("default", "survivors")
    assert team in await registry_keys_once_holding(served, team)


async def statements_streamed_after_one_more(
    client: httpx.AsyncClient, agent: str, learner: str
) -> int:
    """Open the learner's progress stream, POST one more statement, and return the count of
    the first event after the snapshot that counts it (a live change, from the API's feed)."""
    request = client.build_request("GET", "/progress/stream", params={"agent": agent})
    response = await client.send(request, stream=True)
    try:
        assert response.status_code == 200
        reader = SseReader(response)
        snapshot = await reader.next_named("learner-progress", within=GENEROUS)
        counted = int(snapshot.data["statements"])
        answer = await client.post("/xapi/statements", json=statement(learner))
        assert answer.status_code == 200, answer.text
        while True:
            event = await reader.next_named("learner-progress", within=GENEROUS)
            if int(event.data["statements"]) > counted:
                return int(event.data["statements"])
    finally:
        await response.aclose()


async def test_kill_9_of_the_store_loses_no_acknowledged_statement(served: Served) -> None:
    """Statements acknowledged around the kill are all there once the store is back (writes
    are acknowledged only once journaled); new POSTs are acknowledged again."""
    docs = [statement(f"store-kill-{n}") for n in range(40)]
    acked: list[str] = []
    async with httpx.AsyncClient(base_url=served.base, headers=H, timeout=30) as client:

        async def post_all(part: list[dict[str, object]]) -> None:
            for doc in part:
                if acknowledged(await post_until_acknowledged(client, doc, GENEROUS)):
                    acked.append(str(doc["id"]))

        async def count() -> int:
            return len(acked)

        writers = asyncio.gather(*(post_all(docs[n::4]) for n in range(4)))
        assert await eventually(count, lambda n: n >= 8, within=GENEROUS) >= 8
        os.kill(served.pid("store"), signal.SIGKILL)
        await writers
        assert sorted(acked) == sorted(str(d["id"]) for d in docs)
        for statement_id in acked:
            answer = await client.get("/xapi/statements", params={"statementId": statement_id})
            assert answer.status_code == 200, answer.text


async def test_serve_started_again_puts_the_registry_back_on_its_new_broker(
    tmp_path: Path,
) -> None:
    """`lrs serve` started again over the same data directory runs a new, empty embedded broker;
    the team registry the store holds is back on `lrs.teams` without changing again."""
    with serve_lrs(tmp_path, KEY, SECRET) as (base, process):
        async with httpx.AsyncClient(base_url=base, headers=H, timeout=30) as client:
            created = await client.post("/teams", json={"team": "kept", "name": "Kept"})
            assert created.status_code == 201, created.text
        process.send_signal(signal.SIGTERM)
        process.wait(GENEROUS)
    with serve_lrs(tmp_path, KEY, SECRET) as (base, process):
        team = topics.team_key("default", "kept")
        keys = await registry_keys_once_holding(Served(base, process, tmp_path), team)
    assert team in keys


async def registry_keys_once_holding(served: Served, key: bytes) -> set[bytes]:
    """The keys on `lrs.teams` of the served broker, once they hold `key` (or the last read,
    after GENEROUS seconds)."""
    return await eventually(
        lambda: topic_keys(broker_address(served), topics.TEAMS),
        lambda keys: key in keys,
        within=GENEROUS,
    )


def store_uri(served: Served) -> str:
    """The embedded store's address, from its command line (`--port N`)."""
    argv = Path(f"/proc/{served.pid('store')}/cmdline").read_bytes().decode().split("\0")
    return f"mongodb://127.0.0.1:{argv[argv.index('--port') + 1]}/?directConnection=true"


async def read_through(served: Served) -> datetime | None:
    """The read-through mark `lrs serve` recorded in its store (lrs.entry.counted)."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(store_uri(served), tz_aware=True)
    try:
        doc = await client[LrsSettings().mongodb_database][MARKS].find_one({"_id": READ_THROUGH})
    finally:
        await client.close()
    return None if doc is None else doc["through"]


async def test_statements_progress_had_not_read_are_counted_after_lrs_serve_is_killed(
    tmp_path: Path,
) -> None:
    """The memory-only broker starts empty with each `lrs serve`: statements stored while
    progress was not reading (here: stopped) are forwarded again at the next start, from the
    read-through mark (lrs.entry.counted)."""
    learner = "serve-killed"
    agent = '{"mbox": "mailto:learner' + learner + '@example.org"}'

    async def counted(client: httpx.AsyncClient) -> int:
        answer = await client.get("/progress/learners", params={"agent": agent})
        return int(answer.json()["statements"]) if answer.status_code == 200 else -1

    first = [statement(learner) for _ in range(10)]
    later = [statement(learner) for _ in range(5)]
    with serve_lrs(tmp_path, KEY, SECRET, serve_mark_seconds="0.5") as (base, process):
        served = Served(base, process, tmp_path)
        async with httpx.AsyncClient(base_url=base, headers=H, timeout=30) as client:
            answer = await client.post("/xapi/statements", json=first)
            assert answer.status_code == 200, answer.text
            done = await eventually(lambda: counted(client), lambda n: n == 10, within=GENEROUS)
            assert done == 10
            last = await client.get("/xapi/statements", params={"statementId": first[-1]["id"]})
            stored = datetime.fromisoformat(last.json()["stored"])
            mark = await eventually(
                lambda: read_through(served),
                lambda m: m is not None and m >= stored,
                within=GENEROUS,
            )
            assert mark is not None
            assert mark >= stored  # the next start forwards from the mark, not from the start
            stopped = served.pid("progress")
            os.kill(stopped, signal.SIGSTOP)  # progress reads nothing more
            answer = await client.post("/xapi/statements", json=later)
            assert answer.status_code == 200, answer.text  # stored (LRS_ACK_MODE=stored)
        process.kill()  # kill -9 of `lrs serve`: its children die with it ...
        process.wait(GENEROUS)
        with contextlib.suppress(ProcessLookupError):
            os.kill(stopped, signal.SIGKILL)  # ... but a stopped one only once killed outright
    with serve_lrs(tmp_path, KEY, SECRET) as (base, _):
        async with httpx.AsyncClient(base_url=base, headers=H, timeout=30) as client:
            total = await eventually(lambda: counted(client), lambda n: n == 15, within=GENEROUS)
            assert total == 15


async def dead_letter_keys(client: httpx.AsyncClient) -> list[str | None]:
    answer = await client.get("/admin/dead-letters")
    assert answer.status_code == 200, answer.text
    return [letter["key"] for letter in answer.json()["dead_letters"]]


async def produce_unreadable(bootstrap: str, key: bytes) -> None:
    """A record on `xapi.statements` that is no accepted statement: the persister
    dead-letters it."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topics.STATEMENTS, b"not a statement", key=key)
    finally:
        await producer.stop()


async def test_a_grown_broker_is_renewed_losing_no_statement_count_or_dead_letter(
    tmp_path: Path,
) -> None:
    """Once the embedded broker has grown `LRS_EMBEDDED_BROKER_RENEW_MB` (here 8), `lrs serve`
    replaces it with an empty one when every consumer has read everything
    (docs/decisions/0032): every statement acknowledged before, during and after is stored and
    counted once, the dead letter is still listed, the team registry is back on its topic, and
    the API processes went on (not restarted)."""
    learners = [f"renewal-{n}" for n in range(4)]
    posted = dict.fromkeys(learners, 0)
    with serve_lrs(tmp_path, KEY, SECRET, embedded_broker_renew_mb="8") as (base, process):
        served = Served(base, process, tmp_path)
        apis = {name: served.pid(name) for name in ("api-1", "api-2")}
        async with httpx.AsyncClient(base_url=base, headers=H, timeout=30) as client:
            created = await client.post("/teams", json={"team": "renewed", "name": "Renewed"})
            assert created.status_code == 201, created.text
            await produce_unreadable(broker_address(served), b"default\x1fbroken")
            keys = await eventually(
                lambda: dead_letter_keys(client), lambda k: k != [], within=GENEROUS
            )
            assert keys == ["default\x1fbroken"]
            first_broker = served.pid("broker")  # holds the dead letter

            async def post_a_batch() -> int:
                who = [learners[n % len(learners)] for n in range(40)]
                answer = await client.post("/xapi/statements", json=[statement(w) for w in who])
                assert answer.status_code == 200, answer.text  # held, never refused
                for learner in who:
                    posted[learner] += 1
                return served.pid("broker")

            broker = await eventually(post_a_batch, lambda pid: pid != first_broker, within=240)
            assert broker != first_broker
            for _ in range(3):
                await post_a_batch()

            async def counted(learner: str) -> int:
                agent = '{"mbox": "mailto:learner' + learner + '@example.org"}'
                answer = await client.get("/progress/learners", params={"agent": agent})
                return int(answer.json()["statements"]) if answer.status_code == 200 else -1

            for learner in learners:
                expected = posted[learner]
                total = await eventually(
                    partial(counted, learner), lambda n, e=expected: n == e, within=GENEROUS
                )
                assert total == expected > 0
            assert await dead_letter_keys(client) == ["default\x1fbroken"]
        assert {name: served.pid(name) for name in apis} == apis
        assert not (tmp_path / KEPT_LETTERS_FILE).exists()  # on the new broker, not on disk
        team = topics.team_key("default", "renewed")
        assert team in await registry_keys_once_holding(served, team)


async def test_dead_letters_a_renewal_left_on_disk_are_put_back_at_the_next_start(
    tmp_path: Path,
) -> None:
    """A renewal keeps the old broker's dead letters on disk until they are on the new one
    (docs/decisions/0032); when `lrs serve` died, or the restore failed, before that, its next
    start puts them on its broker and removes the file."""
    letter = DeadLetter(
        topic=topics.dlq(topics.STATEMENTS),
        partition=0,
        offset=41,
        time=datetime(2026, 12, 3, 7, 0, tzinfo=UTC),
        key=b"default\x1fleft-on-disk",
        value=b"not a statement",
        headers=(
            (topics.HEADER_CONSUMER, b"persist"),
            (topics.HEADER_ERROR_CLASS, b"UnusableMessage"),
            (topics.HEADER_ERROR_MESSAGE, b"kept by a renewal"),
            (topics.HEADER_ORIGINAL_TOPIC, topics.STATEMENTS.encode()),
            (topics.HEADER_ORIGINAL_PARTITION, b"0"),
            (topics.HEADER_ORIGINAL_OFFSET, b"41"),
        ),
    )
    keep(tmp_path / KEPT_LETTERS_FILE, [letter])
    assert await dead_letters_listed_once_started(tmp_path) == ["default\x1fleft-on-disk"]
    assert not (tmp_path / KEPT_LETTERS_FILE).exists()


async def test_dead_letters_outlive_a_clean_stop_of_lrs_serve(tmp_path: Path) -> None:
    """The memory-only embedded broker takes its dead letters with it when `lrs serve` stops:
    they are kept on disk as it stops (after its consumers, before its broker) and put back on
    the next start's broker."""
    with serve_lrs(tmp_path, KEY, SECRET) as (base, process):
        served = Served(base, process, tmp_path)
        async with httpx.AsyncClient(base_url=base, headers=H, timeout=30) as client:
            await produce_unreadable(broker_address(served), b"default\x1fbefore-stop")
            keys = await eventually(
                lambda: dead_letter_keys(client), lambda k: k != [], within=GENEROUS
            )
            assert keys == ["default\x1fbefore-stop"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(GENEROUS) == 0
    assert [d.key for d in kept(tmp_path / KEPT_LETTERS_FILE)] == [b"default\x1fbefore-stop"]
    assert await dead_letters_listed_once_started(tmp_path) == ["default\x1fbefore-stop"]
    assert not (tmp_path / KEPT_LETTERS_FILE).exists()


async def dead_letters_listed_once_started(data: Path) -> list[str | None]:
    """Start `lrs serve` on `data`: the keys of the dead letters it lists, once it lists any
    (within GENEROUS seconds; none then)."""
    with serve_lrs(data, KEY, SECRET) as (base, _):
        async with httpx.AsyncClient(base_url=base, headers=H, timeout=30) as client:
            return await eventually(
                lambda: dead_letter_keys(client), lambda k: k != [], within=GENEROUS
            )
