"""`lrs serve`: the whole LRS in one process tree.

Starts the embedded broker and store when no external ones are configured, creates the topics,
makes sure a first credential exists, then runs the API and the consumers as child processes and
keeps them alive (docs/decisions/0010): a dead child is restarted at once (then with a growing
delay while it keeps dying), its restarts counted in the log and in `lrs_process_restarts_total`
on /metrics; several API processes share one listening socket held here, so one's death is not
seen by clients; a dead broker (memory-only: its topics, records and offsets are gone) comes back
on the same address with its topics, the consumers are started again, and what the lost topics
held is put back from the store (the statements progress had not counted yet, the latest value
of every key of the compacted topics: lrs.wiring.republish). Ctrl-C / SIGTERM
stops everything within a few seconds: API first, broker and store last.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import select
import signal
import socket
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import orjson
from aiokafka.errors import KafkaError
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import PyMongoError

from consumers.progress.messages import team_change_message
from lrs import topics
from lrs.adapters.doorbell import doorbell_dir_for, fresh_doorbell_dir
from lrs.adapters.kafka_bus import KafkaEventBus, ensure_topics
from lrs.adapters.mongo_store import connect
from lrs.codec import encode_accepted
from lrs.entry.bootstrap import ensure_first_credential
from lrs.entry.counted import ReplayGate, marks_in_thread, read_mark
from lrs.entry.embedded import (
    Child,
    ExitedBeforeListening,
    Spare,
    broker_child,
    free_port,
    lrs_child,
    start_and_wait,
    store_child,
)
from lrs.entry.renewal import (
    Growth,
    drain,
    keep,
    kept,
    kept_letters_path,
    letters_on_broker,
    restore,
)
from lrs.metrics import RestartLog
from lrs.ports.dead_letters import DeadLetter
from lrs.ports.events import OutgoingMessage
from lrs.ports.statements import AcceptedStatement
from lrs.settings import LrsSettings
from lrs.wiring.consumers import CONSUMERS
from lrs.wiring.doorbell import ringer
from lrs.wiring.republish import republish_latest
from lrs.wiring.signals import FEED_REWIND
from lrs.xapi.ifi import actor_ifi

log = logging.getLogger("lrs.serve")
REPLAY_SOURCE = "/lrs/serve/replay"
PREPARE_RETRY_SECONDS = 1.0
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
REPLAY_BATCH = 500
# How often children are looked at: at once when one exits (SIGCHLD), and otherwise every
# QUIET_CHECK_SECONDS while all run, every CHECK_INTERVAL while one waits to be restarted.
CHECK_INTERVAL = 0.1
QUIET_CHECK_SECONDS = 1.0
FIRST_BACKOFF = 0.5  # after a restart, the next one waits at least this, doubling ...
MAX_BACKOFF = 30.0  # ... up to this, while the child keeps dying ...
STABLE_AFTER = 30.0  # ... within this many seconds of its start; then it is restarted at once
API_STOP_SECONDS = 2.0  # shutdown: API processes (finish or refuse in-flight requests) ...
CONSUMERS_STOP_SECONDS = 1.5  # ... then the consumers (between two batches) ...
PARTS_STOP_SECONDS = 1.0  # ... then broker and store; whatever is left then is killed
# Partitions of each topic on the embedded broker unless LRS_STATEMENT_PARTITIONS says
# otherwise: `lrs serve` runs one process per consumer, reading every partition, so more buy
# nothing, and the broker's work for each fetch grows with the partitions it covers
# (docs/decisions/0021: idle, 23% of a core in all with 8, 11% with 2).
EMBEDDED_STATEMENT_PARTITIONS = 2
KEEP_AT_STOP_SECONDS = 15.0  # to read the embedded broker's dead letters as lrs serve stops
# what reading or writing the kept dead letters' file (renewal.keep) may raise
UNREADABLE_FILE = (OSError, ValueError, KeyError, TypeError)
RENEWED_START_GAP = 1.0  # seconds between two consumers' starts after a renewal (0032) ...
PACE_ORDER = {"acknowledgement": 0, "live": 1, "background": 2}  # ... in this order


@dataclass
class Backoff:
    failures: int = 0
    started: float = 0.0
    not_before: float = 0.0


@dataclass
class Stack:
    settings: LrsSettings
    broker: Child | None = None
    store: Child | None = None
    workers: list[Child] = field(default_factory=list)
    backoff: dict[str, Backoff] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    restarts: RestartLog | None = None
    listener: socket.socket | None = None
    spare: Spare | None = None
    pids_file: Path | None = None
    broker_started: datetime | None = None
    # replays onto lrs.statements.stored in progress: no read-through mark across one
    replays: ReplayGate = field(default_factory=ReplayGate)
    growth: Growth | None = None  # the embedded broker's, for its renewal (decisions/0032)
    held_at: float = 0.0  # when a renewal held the API processes (monotonic)
    # consumers a renewal stopped, by name: when each is started again (monotonic)
    in_turn: dict[str, float] = field(default_factory=dict)

    def start_parts(self) -> None:
        """Embedded broker and store, for whichever is not configured externally."""
        self.settings, defaults = with_embedded_defaults(self.settings)
        self.env.update(defaults)
        s = self.settings
        logs = s.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.restarts = RestartLog(s.data_dir / "restarts.json")
        self.pids_file = s.data_dir / "processes.json"
        self.env["LRS_RESTARTS_FILE"] = str(self.restarts.path)
        self.env["LRS_SUPERVISOR_PID"] = str(os.getpid())  # no child outlives it (entry.orphan)
        if not s.stream_token_secret:  # one secret for every API process (stream tokens)
            self.env["LRS_STREAM_TOKEN_SECRET"] = secrets.token_urlsafe(32)
        if s.embedded_mongodb:
            cache = s.embedded_store_cache_mb
            self.store, port = started_on_a_free_port(
                lambda port: store_child(port, s.data_dir / "store", logs / "store.log", cache)
            )
            # journal=true: every write is acknowledged only once in the store's journal on
            # disk, so a killed store loses no acknowledged write (docs/decisions/0010).
            # serverMonitoringMode=poll: each client checks the store every 10 s instead of
            # holding a streamed check open, which the store serves by waking 4 times a second
            # per client (docs/decisions/0021)
            uri = (
                f"mongodb://127.0.0.1:{port}/?directConnection=true&journal=true"
                "&serverMonitoringMode=poll"
            )
            self.env["LRS_MONGODB_URI"] = uri
        if s.embedded_kafka:
            if s.doorbell and s.doorbell_dir is None:  # idle consumers doze (decisions/0021)
                bells = fresh_doorbell_dir(doorbell_dir_for(s.data_dir))
                if bells is not None:
                    self.settings = s = s.model_copy(update={"doorbell_dir": bells})
                    self.env["LRS_DOORBELL_DIR"] = str(bells)
            self.broker_started = datetime.now(UTC)
            self.growth = Growth(renew_limit_mb(s))
            self.broker, port = started_on_a_free_port(
                lambda port: broker_child(port, logs / "broker.log")
            )
            self.env["LRS_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{port}"

    def start_broker(self, port: int) -> None:
        """The embedded broker again on `port` (its clients know that address)."""
        self.broker_started = datetime.now(UTC)
        self.broker = broker_child(port, self.settings.data_dir / "logs" / "broker.log")
        start_and_wait(self.broker, port)

    def start_workers(self) -> None:
        """The consumers, then the API processes on one listening socket that this process
        holds: while one API process restarts, connections wait in its queue for another."""
        self.workers = [*self.consumers(), *self.api_processes()]
        if self.restarts is not None:
            parts = [p.name for p in (self.broker, self.store) if p is not None]
            self.restarts.reset([*parts, *(w.name for w in self.workers)])
        for worker in self.workers:
            worker.start()
            log.info("%s started (pid %s)", worker.name, worker.pid)
        assert self.listener is not None
        self.spare = Spare(self.env, (self.listener.fileno(),))
        self.spare.start()
        self.record_pids()

    def start_child(self, child: Child) -> str:
        """Start `child` again: from the spare when there is one (a new spare is started in
        its place), else as a new process. Says which."""
        if self.spare is not None and self.spare.take_over(child):
            how = "from the spare"
        else:
            child.start()
            how = "as a new process"
        if self.spare is not None and not self.spare.alive():  # used, or died on its own
            self.spare.start()
        self.record_pids()
        return how

    def record_pids(self) -> None:
        """`processes.json` in the data directory: each child's name and pid (for operators
        and the fault bench; a spare's command line does not say what it became)."""
        if self.pids_file is None:
            return
        children = [p for p in (self.broker, self.store, *self.workers) if p is not None]
        partial = self.pids_file.with_suffix(".tmp")
        partial.write_text(json.dumps({child.name: child.pid for child in children}))
        os.replace(partial, self.pids_file)

    def consumers(self) -> list[Child]:
        logs = self.settings.data_dir / "logs"
        port = self.settings.consumer_metrics_port
        assignment = self.settings.consumer_assignment or "all"  # one process per consumer
        return [
            lrs_child(
                name,
                ["consume", name],
                {
                    **self.env,
                    "LRS_CONSUMER_METRICS_PORT": str(port + offset),
                    "LRS_CONSUMER_ASSIGNMENT": assignment,
                },
                logs / f"{name}.log",
            )
            for offset, name in enumerate(CONSUMERS)
        ]

    def api_processes(self) -> list[Child]:
        if self.listener is None:
            self.listener = listening_socket(self.settings.http_host, self.settings.http_port)
        fd = self.listener.fileno()
        count = self.settings.api_workers
        name = "api-{}" if count > 1 else "api"
        argv = ["api", "--fd", str(fd)]
        return [
            lrs_child(name.format(n), argv, self.env, None, pass_fds=(fd,))
            for n in range(1, count + 1)
        ]

    def stop_all(self) -> None:
        """API processes first (they finish or refuse what is in flight), then the consumers,
        then the broker and store; each group at once, each with a deadline, then SIGKILL."""
        if self.spare is not None:
            self.spare.stop()
        if self.listener is not None:
            self.listener.close()  # the API processes hold their own copies
        stop_together(self.api_children(), API_STOP_SECONDS)
        stop_together(self.consumer_children(), CONSUMERS_STOP_SECONDS)
        self.keep_letters_at_stop()
        stop_together([p for p in (self.broker, self.store) if p is not None], PARTS_STOP_SECONDS)
        if "LRS_DOORBELL_DIR" in self.env:  # ours, and empty once every child closed its socket
            with contextlib.suppress(OSError):
                Path(self.env["LRS_DOORBELL_DIR"]).rmdir()

    def all_alive(self) -> bool:
        parts = [p for p in (self.broker, self.store) if p is not None]
        return all(child.alive() for child in [*parts, *self.workers])

    def check(self) -> None:
        """One round of supervision: restart whatever died."""
        if self.broker is not None and not self.broker.alive():
            self.restart_broker()
            return
        if (grown := self.renewal_due()) is not None:
            self.renew_broker(grown)
            return
        if self.store is not None and not self.store.alive():
            log.error("embedded store died; restarting it (its data is on disk)")
            self.store.start()
            self.record_pids()
            self.count_restart(self.store)
        now = time.monotonic()
        for worker in self.workers:
            if worker.alive():
                continue
            due = self.in_turn.get(worker.name)
            if due is None:
                self.restart_when_due(worker)
            elif now >= due:  # planned (renew_broker): no restart counted
                del self.in_turn[worker.name]
                self.start_child(worker)

    def restart_broker(self) -> None:
        """The embedded broker keeps everything in memory: its topics, records and committed
        offsets died with it. It comes back on the same address, with its topics, created
        while the API processes are paused (Tansu takes a write to a topic that does not exist
        yet and then loses records of that partition once the topic is created). Every reader
        of the lost topics is started again: Tansu does not tell a reader whose position is
        beyond the new topic's end, it waits there. So the consumers are killed at once (none
        may commit an old position to the new broker) and started again from the new topics'
        beginning, and the API processes are told (`FEED_REWIND`) to read the new topics from
        their beginning with their live feed (no restart: a restarted API process takes seconds
        to import and connect, and its open streams would end). What the lost
        `lrs.statements.stored` held is put back from the store (`replay_stored`), then the
        latest value of every key of the compacted topics (`republish_latest`), in a thread,
        while supervision goes on. No read-through mark is taken from the broker's death until
        that replay is done (`self.replays`, lrs.entry.counted)."""
        self.replays.begin()
        try:
            held_since = self.restart_broker_and_readers()
        except BaseException:
            self.replays.end()
            raise
        settled = self.growth.settled if self.growth is not None else None
        replay = (self.resolved(), held_since, self.replays, settled)
        threading.Thread(target=replay_in_thread, args=replay, daemon=True).start()

    def restart_broker_and_readers(self) -> datetime:
        """`restart_broker` but the replay; returns the time from which to replay."""
        assert self.broker is not None
        assert self.broker_started is not None
        margin = timedelta(seconds=self.settings.produce_timeout_seconds + 1)
        held_since = self.broker_started - margin
        log.error("embedded broker died: its topics are gone; restarting it and its readers")
        consumers, apis = self.consumer_children(), self.api_children()
        for consumer in consumers:
            consumer.kill()
        for api in apis:  # no write may reach the new broker before its topics exist
            api.pause()
        try:
            self.start_new_broker()
        finally:
            for api in apis:
                api.resume()
        for api in apis:
            api.send(FEED_REWIND)
        self.count_restart(self.broker)
        self.in_turn.clear()
        for consumer in consumers:
            self.count_restart(consumer, self.start_child(consumer))
        return held_since

    def start_new_broker(self) -> None:
        """A new, empty embedded broker on the address of the one gone, with its topics."""
        if self.growth is not None:
            self.growth.replaced()
        self.start_broker(int(self.env["LRS_KAFKA_BOOTSTRAP"].rsplit(":", 1)[1]))
        asyncio.run(prepare(self.resolved()))

    def renewal_due(self) -> float | None:
        """The MB the embedded broker grew when it is due for a renewal, else None."""
        if self.growth is None or self.broker is None or self.broker.pid is None:
            return None
        if not self.all_alive():  # a consumer that is not running cannot read everything
            return None
        return self.growth.due(self.broker.pid, time.monotonic())

    def renew_broker(self, grown: float) -> bool:
        """Replace the embedded broker, which grew `grown` MB, with an empty one, losing
        nothing (docs/decisions/0032). The API processes are held (SIGSTOP: their clients'
        requests wait) until every consumer has read everything; then the consumers are
        stopped, the dead letters copied (and kept on disk until they are on the new broker),
        the broker replaced (its topics made) and the dead letters put on it. The API
        processes go on and read the new topics from their beginning (`FEED_REWIND`), the
        consumers start again from the new topics' beginning, and the latest values are
        republished from the store, as after a crash
        (`restart_broker`) but with nothing to replay: every record was read. When the
        consumers are far behind (renewal.MOST_UNREAD_TO_HOLD), or do not finish reading within
        `LRS_EMBEDDED_BROKER_RENEW_DRAIN_SECONDS`, nothing changes and it is tried again
        later (renewal.Growth.later). Says whether it renewed."""
        assert self.growth is not None
        assert self.broker is not None
        started = time.monotonic()
        log.warning("embedded broker grew %.0f MB: renewing it once every record is read", grown)
        consumers, apis = self.consumer_children(), self.api_children()
        self.held_at = 0.0
        try:
            letters = self.drained_letters(apis, consumers)
            if letters is not None:
                letters = self.kept_with(letters)
            if letters is not None:
                self.broker.kill()
                self.start_new_broker()
                self.restore_kept_letters()
        finally:
            for api in apis:
                api.resume()
        if letters is None:
            wait = self.growth.later(time.monotonic(), after_hold=self.held_at > 0)
            for consumer in consumers:
                if not consumer.alive():
                    self.start_child(consumer)
            log.warning("the embedded broker is renewed no sooner than %.0fs from now", wait)
            return False
        held = time.monotonic() - self.held_at
        for api in apis:
            api.send(FEED_REWIND)
        self.start_in_turn(consumers)
        took = time.monotonic() - started
        log.warning(
            "embedded broker renewed (%d dead letters kept): API held %.1fs, all %.1fs",
            len(letters),
            held,
            took,
        )
        republish = (self.resolved(), self.growth.settled)
        threading.Thread(target=republish_in_thread, args=republish, daemon=True).start()
        return True

    def kept_with(self, letters: list[DeadLetter]) -> list[DeadLetter] | None:
        """`letters`, and any that a restore that failed left on disk, kept on disk before the
        broker that holds them stops (renewal.keep); None when they cannot be written (a
        renewal is then given up)."""
        path = kept_letters_path(self.settings)
        try:
            letters = [*kept(path), *letters]
            keep(path, letters)
        except UNREADABLE_FILE:
            log.exception("the dead letters could not be kept in %s", path)
            return None
        return letters

    def keep_letters_at_stop(self) -> None:
        """The embedded broker's dead letters kept on disk (renewal.keep) before it stops, for
        the next start to put back (`restore_kept_letters`): they are nowhere else, and the
        memory-only broker takes them with it. Within KEEP_AT_STOP_SECONDS, or not at all."""
        if self.broker is None or not self.broker.alive():
            return
        try:
            letters = asyncio.run(letters_within(self.resolved(), KEEP_AT_STOP_SECONDS))
        except Exception:
            log.exception("the dead letters could not be read from the broker; they are lost")
            return
        if letters and self.kept_with(letters) is not None:
            log.warning("%d dead letters kept for the next start", len(letters))

    def restore_kept_letters(self) -> None:
        """The dead letters a renewal or the last stop kept on disk (renewal.keep) put on the
        broker, then the file removed. When that fails they stay on disk, for the next renewal
        or start of `lrs serve`; a restore cut short may put some of them on the broker
        twice."""
        path = kept_letters_path(self.settings)
        try:
            letters = kept(path)
        except UNREADABLE_FILE:
            log.exception("the dead letters kept in %s cannot be read; the file is left", path)
            return
        if not letters:
            path.unlink(missing_ok=True)
            return
        try:
            asyncio.run(restore(self.resolved(), letters))
        except Exception:
            log.exception(
                "%d dead letters kept in %s were not put on the broker; they are tried again"
                " at the next renewal or start",
                len(letters),
                path,
            )
            return
        path.unlink()
        log.warning("%d dead letters kept in %s are on the broker again", len(letters), path)

    def start_in_turn(self, consumers: Sequence[Child]) -> None:
        """Start the consumers a renewal stopped one every RENEWED_START_GAP seconds, by their
        pace (lrs.wiring.consumers): the persister, which acknowledgements wait for, at once
        and from the spare; then progress and the other live ones; the background ones last.
        Each costs about a second of CPU to start: a dozen at once took both cores for seconds
        while acknowledgements waited for the persister and the store, and progress, started
        late, then caught up in a burst that slowed them again (`check` starts them)."""
        now = time.monotonic()
        first, *others = sorted(consumers, key=lambda c: PACE_ORDER[CONSUMERS[c.name].pace])
        self.start_child(first)
        for n, consumer in enumerate(others, start=1):
            self.in_turn[consumer.name] = now + n * RENEWED_START_GAP

    def drained_letters(self, apis: list[Child], consumers: list[Child]) -> list[DeadLetter] | None:
        """`renewal.drain`: the API processes held (SIGSTOP) and the consumers stopped here.
        Any failure is logged as a renewal given up (None)."""

        def hold() -> None:
            self.held_at = time.monotonic()
            for api in apis:
                api.pause()

        def stop() -> None:
            for consumer in consumers:
                consumer.kill()

        within = self.settings.embedded_broker_renew_drain_seconds
        try:
            return asyncio.run(drain(self.resolved(), within, hold, stop))
        except Exception:
            log.exception("the renewal of the embedded broker was given up")
            return None

    def consumer_children(self) -> list[Child]:
        return [w for w in self.workers if not w.name.startswith("api")]

    def api_children(self) -> list[Child]:
        return [w for w in self.workers if w.name.startswith("api")]

    def restart_when_due(self, worker: Child) -> None:
        """Restart a dead worker at once the first time, then with a doubling delay (from
        FIRST_BACKOFF up to MAX_BACKOFF) while it keeps dying within STABLE_AFTER seconds of
        its start."""
        now = time.monotonic()
        backoff = self.backoff.setdefault(worker.name, Backoff())
        if now < backoff.not_before:
            return
        if now - backoff.started > STABLE_AFTER:
            backoff.failures = 0
        backoff.failures += 1
        delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (backoff.failures - 1))
        code = worker.returncode
        how = self.start_child(worker)
        backoff.started, backoff.not_before = now, now + delay
        self.count_restart(worker, f"exited with {code}; {how}; next no sooner than {delay:.1f}s")

    def count_restart(self, child: Child, detail: str = "") -> None:
        total = self.restarts.add(child.name) if self.restarts is not None else 0
        log.error("%s restarted (restart %d, pid %s) %s", child.name, total, child.pid, detail)

    def resolved(self) -> LrsSettings:
        """Settings with the embedded parts' addresses filled in."""
        return self.settings.model_copy(
            update={
                "kafka_bootstrap": self.env.get(
                    "LRS_KAFKA_BOOTSTRAP", self.settings.kafka_bootstrap
                ),
                "mongodb_uri": self.env.get("LRS_MONGODB_URI", self.settings.mongodb_uri),
            }
        )


async def replay_stored(settings: LrsSettings, since: datetime) -> int:
    """Forward again every statement stored since `since` onto `lrs.statements.stored`, as
    the persister forwards what it stores: what the lost broker's topic held is among them
    (each was produced to `xapi.statements` on that broker, so stored after it started, less
    the produce timeout). Then ask for every team to be recomputed (what the lost
    `lrs.progress.team-changes` held). The progress consumers are idempotent: a statement they
    already counted, a team already up to date, changes nothing. Returns the statements."""
    assert settings.kafka_bootstrap
    assert settings.mongodb_uri
    bus = KafkaEventBus(
        settings.kafka_bootstrap,
        linger_ms=5,
        timeout_seconds=30,
        on_published=ringer(settings),
    )
    client = connect(settings.mongodb_uri)
    await bus.start()
    try:
        db = client[settings.mongodb_database]
        topic = settings.topic(topics.STORED_STATEMENTS)
        count = await publish_all(
            bus, topic, (stored_message(d) async for d in stored_since(db, since))
        )
        now = datetime.now(UTC)
        teams = db["progress_teams"].find({}, {"tenant": 1, "team": 1})
        triggers = (team_change_message(d["tenant"], d["team"], now) async for d in teams)
        await publish_all(bus, settings.topic(topics.TEAM_CHANGES), triggers)
        return count
    finally:
        await bus.stop()
        await client.close()


async def stored_since(
    db: AsyncDatabase[dict[str, Any]], since: datetime
) -> AsyncIterator[dict[str, Any]]:
    """Every statement stored at or after `since`, tenant by tenant: each query is a range of
    the `(tenant, voided, stored, id)` index, not a scan of the collection."""
    tenants = [t["_id"] async for t in db["tenants"].find({}, {"_id": 1})]
    for tenant in tenants:
        for voided in (False, True):
            query = {"tenant": tenant, "voided": voided, "stored": {"$gte": since}}
            async for doc in db["statements"].find(query, {"tenant": 1, "body": 1}):
                yield doc


async def publish_all(
    bus: KafkaEventBus, topic: str, messages: AsyncIterator[OutgoingMessage]
) -> int:
    """Publish in batches of REPLAY_BATCH; how many were published."""
    batch: list[OutgoingMessage] = []
    count = 0
    async for message in messages:
        batch.append(message)
        if len(batch) >= REPLAY_BATCH:
            await bus.publish(topic, batch)
            count, batch = count + len(batch), []
    if batch:
        await bus.publish(topic, batch)
    return count + len(batch)


def stored_message(doc: dict[str, Any]) -> OutgoingMessage:
    return encode_accepted(stored_record(doc), source=REPLAY_SOURCE)


def replay_in_thread(
    settings: LrsSettings,
    since: datetime | None,
    gate: ReplayGate,
    settled: threading.Event | None = None,
) -> None:
    """On a new, empty embedded broker: forward again onto `lrs.statements.stored` what its
    readers may not have read (`replay_stored`), then the latest value of every key of the
    compacted topics (lrs.wiring.republish). What is forwarded: see `replay_start`. `gate` was
    begun by the caller; it is ended here once the statements are forwarded. If that fails,
    the gate stays closed: no mark moves past statements that may not have been read, and the
    next start of `lrs serve` forwards them from the last mark."""
    try:
        start = replay_start(since, asyncio.run(read_mark(settings)))
        replayed = asyncio.run(replay_stored(settings, start))
    except Exception:
        log.exception(
            "forwarding again the stored statements failed; no read-through mark is recorded"
            " until lrs serve starts again"
        )
    else:
        gate.end()
        if replayed:
            log.warning("forwarded again %d statements stored since %s", replayed, start)
    republish_in_thread(settings, settled)


def replay_start(since: datetime | None, mark: datetime | None) -> datetime:
    """From when stored statements are forwarded again onto a new broker: the last read-through
    mark `mark` (lrs.entry.counted; at the start of `lrs serve`, what was not read when it last
    stopped), or `since` if earlier (after a broker restart: what the lost broker held).

    With no mark in the store (a store written by a version before marks, an `lrs serve` that
    stopped before its first mark, or broker restarts that came before one could be taken),
    every stored statement: the lost broker may have held what an earlier replay put on it and
    no reader read, stored before `since`. Nothing but a mark tells those were read."""
    if mark is None:
        return EPOCH
    return mark if since is None else min(since, mark)


def republish_in_thread(settings: LrsSettings, settled: threading.Event | None = None) -> None:
    """The latest value of every key of the compacted topics, from the store onto a new broker
    (lrs.wiring.republish): after a broker restart or renewal, and when `lrs serve` starts its
    embedded broker (memory-only: it starts empty) over a store that may hold values already.
    Then `settled` is set (the broker's size from then on is its growth, renewal.Growth)."""
    try:
        values = asyncio.run(republish_latest(settings))
    except Exception:
        log.exception("the republishing of the latest values failed")
        return
    finally:
        if settled is not None:
            settled.set()
    log.info("republished %d latest values (registry, goals, progress) onto the broker", values)


async def letters_within(settings: LrsSettings, seconds: float) -> list[DeadLetter]:
    async with asyncio.timeout(seconds):
        return await letters_on_broker(settings)


def renew_limit_mb(settings: LrsSettings) -> int:
    """The embedded broker's growth that calls for a renewal (docs/decisions/0032), or 0. With
    `LRS_ACK_MODE=kafka` a statement is acknowledged once the broker has it, and a produce in
    flight as the API processes are held could be taken by the old broker after the last look
    and lost with it: there, only a limit the operator set renews."""
    if settings.ack_mode == "stored" or "embedded_broker_renew_mb" in settings.model_fields_set:
        return settings.embedded_broker_renew_mb
    return 0


def with_embedded_defaults(settings: LrsSettings) -> tuple[LrsSettings, dict[str, str]]:
    """`settings` with the embedded broker's defaults for what the operator left unset, and
    the same as environment variables for the children."""
    if not settings.embedded_kafka or "statement_partitions" in settings.model_fields_set:
        return settings, {}
    partitions = EMBEDDED_STATEMENT_PARTITIONS
    updated = settings.model_copy(update={"statement_partitions": partitions})
    return updated, {"LRS_STATEMENT_PARTITIONS": str(partitions)}


def started_on_a_free_port(make: Callable[[int], Child], tries: int = 3) -> tuple[Child, int]:
    """A started child listening on a port chosen here, and that port. Between the choice and
    the child's bind another process may take the port (any outgoing connection on the
    machine draws its local port from the same range): a child that ends before it listens
    is started again on another port."""
    for attempt in range(1, tries + 1):
        port = free_port()
        child = make(port)
        try:
            start_and_wait(child, port)
        except ExitedBeforeListening as error:
            if attempt == tries:
                raise
            log.warning("%s did not start (%s); trying another port", child.name, error)
            continue
        return child, port
    raise AssertionError("unreachable: the last try returns or raises")


def stored_record(doc: dict[str, Any]) -> AcceptedStatement:
    """A stored statement document as the record the persister forwards."""
    statement: dict[str, Any] = orjson.loads(doc["body"])
    stored = datetime.fromisoformat(statement["stored"])
    return AcceptedStatement(doc["tenant"], statement, stored, actor_ifi(statement["actor"]))


def listening_socket(host: str, port: int) -> socket.socket:
    """The API's listening socket, inherited by every API process."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def stop_together(children: list[Child], within: float) -> None:
    """SIGTERM to all at once; SIGKILL to those still running after `within` seconds."""
    started = time.monotonic()
    for child in children:
        child.terminate()
    for child in children:
        child.wait_or_kill(max(0.0, started + within - time.monotonic()))
    names = ", ".join(child.name for child in children)
    log.info("stopped %s in %.1fs", names, time.monotonic() - started)


async def prepare(settings: LrsSettings) -> tuple[str, str] | None:
    """Create the topics; make sure the first credential exists. Returns a new credential.
    A broker or store that has just started may not answer in time on a loaded machine: this
    is tried again for up to `startup_wait_seconds` before `lrs serve` gives up."""
    assert settings.kafka_bootstrap
    assert settings.mongodb_uri
    specs = topics.topic_specs(settings.topic_prefix, settings.statement_partitions)
    deadline = time.monotonic() + settings.startup_wait_seconds
    while True:
        try:
            await ensure_topics(settings.kafka_bootstrap, specs, settings.replication_factor)
            return await ensure_first_credential(settings, "lrs serve")
        except (KafkaError, PyMongoError, OSError) as error:
            if time.monotonic() >= deadline:
                raise
            log.warning("the broker or the store does not answer yet (%r); trying again", error)
            await asyncio.sleep(PREPARE_RETRY_SECONDS)


class StopSignals:
    """`requested` turns true on SIGTERM or Ctrl-C (SIGINT), once installed: the loop of a
    process that supervises others checks it between rounds. `wait` is that loop's pause: it
    ends when a signal comes (one of those, or SIGCHLD: a child exited) or after `timeout`, so
    the loop sees a dead child at once and otherwise wakes rarely. Install in the main thread."""

    def __init__(self) -> None:
        self.requested = False
        self._woken, wake = socket.socketpair()
        self._wake = wake  # kept open: the interpreter writes each signal's number into it
        for end in (self._woken, wake):
            end.setblocking(False)
        self._previous_fd = signal.set_wakeup_fd(wake.fileno(), warn_on_full_buffer=False)
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGCHLD, self._on_child)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True

    def _on_child(self, signum: int, frame: FrameType | None) -> None:
        """Nothing to do here: the signal has woken `wait`."""

    def wait(self, timeout: float) -> None:
        ready, _, _ = select.select([self._woken], [], [], timeout)
        if ready:
            with contextlib.suppress(BlockingIOError):
                while self._woken.recv(256):
                    pass

    def close(self) -> None:
        """Stop writing signals into the sockets (the wakeup fd is the one before), and close
        them (the handlers stay)."""
        signal.set_wakeup_fd(self._previous_fd)
        self._woken.close()
        self._wake.close()


def serve(settings: LrsSettings) -> int:
    stack = Stack(settings)
    stop = StopSignals()
    marks_stop = threading.Event()
    try:
        stack.start_parts()
        created = asyncio.run(prepare(stack.resolved()))
        stack.restore_kept_letters()  # those the last stop kept, or a renewal left (0032)
        stack.start_workers()
        if settings.embedded_kafka:
            stack.replays.begin()
            settled = stack.growth.settled if stack.growth is not None else None
            replay = (stack.resolved(), None, stack.replays, settled)
            threading.Thread(target=replay_in_thread, args=replay, daemon=True).start()
            marks_in_thread(stack.resolved(), marks_stop, stack.replays)
        announce(settings, created, stack.resolved())
        while not stop.requested:
            stop.wait(QUIET_CHECK_SECONDS if stack.all_alive() else CHECK_INTERVAL)
            stack.check()
    finally:
        marks_stop.set()
        print("lrs: stopping", file=sys.stderr, flush=True)
        started = time.monotonic()
        stack.stop_all()
        log.info("stopped in %.1fs", time.monotonic() - started)
        stop.close()
    return 0


def announce(
    settings: LrsSettings, created: tuple[str, str] | None, resolved: LrsSettings | None = None
) -> None:
    """Where the LRS is and how to get in: the xAPI endpoint, the credential, the API docs
    and the dashboard (both log in with that credential's key and secret), the broker and store
    it runs on (`resolved`: the settings with the embedded parts' addresses) and its doorbell."""
    parts = resolved or settings
    base = settings.base_url()
    print(f"xAPI endpoint: {base}/xapi", flush=True)
    if created:
        key, secret = created
        print(
            f"credential (all scopes + admin, tenant {settings.default_tenant}): {key}:{secret}",
            flush=True,
        )
    elif settings.bootstrap_key:
        print(f"credential: {settings.bootstrap_key}:<LRS_BOOTSTRAP_SECRET>", flush=True)
    else:
        print(
            "credential: the store already has credentials (created on its first start)", flush=True
        )
    print(f"API docs: {base}/docs (Authorize with a credential: key as user, secret as password)")
    print(f"dashboard: {base}/dashboard (log in with a credential's key and secret)")
    print(f"broker: {parts.kafka_bootstrap}{embedded_note(settings.embedded_kafka)}")
    store = redacted_uri(parts.mongodb_uri or "")
    print(f"store: {store}{embedded_note(settings.embedded_mongodb)}")
    if parts.doorbell_dir is not None:
        # what an `lrs` command publishing from another shell rings (docs/decisions/0021)
        print(f"doorbell: {parts.doorbell_dir} (LRS_DOORBELL_DIR for `lrs` commands beside it)")
    print(f"start page: {base}/", flush=True)


def embedded_note(embedded: bool) -> str:
    return " (embedded, started by lrs serve)" if embedded else ""


def redacted_uri(uri: str) -> str:
    """A MongoDB URI without the password it may carry (`user:secret@host`)."""
    scheme, sep, rest = uri.partition("://")
    at = rest.rfind("@", 0, rest.find("/") if "/" in rest else len(rest))
    if not sep or at < 0:
        return uri
    user = rest[:at].partition(":")[0]
    return f"{scheme}://{user}:***@{rest[at + 1 :]}"
