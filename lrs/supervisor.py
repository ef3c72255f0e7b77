"""`lrs serve`: the whole LRS in one process tree.

Starts the embedded broker and store when no external ones are configured, creates the topics,
makes sure a first credential exists, then runs the API and the consumers as child processes and
keeps them alive: a dead API or consumer is restarted; a dead broker (memory-only: its topics,
data and offsets are gone) restarts the whole stack so no client talks to an empty broker.
Ctrl-C / SIGTERM stops everything, API first, broker and store last.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from consumers.registry import CONSUMERS
from lrs import topics
from lrs.adapters.kafka_bus import ensure_topics
from lrs.bootstrap import ensure_first_credential
from lrs.embedded import Child, broker_child, free_port, lrs_child, start_and_wait, store_child
from lrs.settings import LrsSettings

log = logging.getLogger("lrs.serve")
CHECK_INTERVAL = 0.5
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0


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

    def start_parts(self) -> None:
        """Embedded broker and store, for whichever is not configured externally."""
        s = self.settings
        logs = s.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        if s.embedded_mongodb:
            port = free_port()
            self.store = store_child(port, s.data_dir / "store", logs / "store.log")
            start_and_wait(self.store, port)
            self.env["LRS_MONGODB_URI"] = f"mongodb://127.0.0.1:{port}/?directConnection=true"
        if s.embedded_kafka:
            self.start_broker()

    def start_broker(self) -> None:
        port = free_port()
        self.broker = broker_child(port, self.settings.data_dir / "logs" / "broker.log")
        start_and_wait(self.broker, port)
        self.env["LRS_KAFKA_BOOTSTRAP"] = f"127.0.0.1:{port}"

    def start_workers(self) -> None:
        logs = self.settings.data_dir / "logs"
        port = self.settings.consumer_metrics_port
        self.workers = [
            lrs_child(
                name,
                ["consume", name],
                {**self.env, "LRS_CONSUMER_METRICS_PORT": str(port + offset)},
                logs / f"{name}.log",
            )
            for offset, name in enumerate(CONSUMERS)
        ]
        self.workers.append(lrs_child("api", ["api"], self.env, None))
        for worker in self.workers:
            worker.start()

    def stop_workers(self) -> None:
        for worker in reversed(self.workers):
            worker.stop()

    def stop_all(self) -> None:
        self.stop_workers()
        for part in (self.broker, self.store):
            if part is not None:
                part.stop()

    def check(self) -> None:
        """One round of supervision: restart whatever died."""
        if self.broker is not None and not self.broker.alive():
            log.error("embedded broker died: its topics are gone; restarting the whole stack")
            self.stop_workers()
            self.start_broker()
            asyncio.run(prepare(self.resolved()))
            self.start_workers()
            return
        if self.store is not None and not self.store.alive():
            log.error("embedded store died; restarting it (its data is on disk)")
            self.store.start()
        for worker in self.workers:
            if not worker.alive():
                self.restart_when_due(worker)

    def restart_when_due(self, worker: Child) -> None:
        """Restart a dead worker at once the first time, then with a doubling delay (up to
        MAX_BACKOFF) while it keeps dying within STABLE_AFTER seconds of its start."""
        now = time.monotonic()
        backoff = self.backoff.setdefault(worker.name, Backoff())
        if now < backoff.not_before:
            return
        if now - backoff.started > STABLE_AFTER:
            backoff.failures = 0
        backoff.failures += 1
        delay = min(MAX_BACKOFF, CHECK_INTERVAL * 2 ** (backoff.failures - 1))
        log.error(
            "%s exited; restarting it (next restart no sooner than %.1fs)", worker.name, delay
        )
        worker.start()
        backoff.started, backoff.not_before = now, now + delay

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


async def prepare(settings: LrsSettings) -> tuple[str, str] | None:
    """Create the topics; make sure the first credential exists. Returns a new credential."""
    assert settings.kafka_bootstrap
    assert settings.mongodb_uri
    specs = topics.topic_specs(settings.topic_prefix, settings.statement_partitions)
    await ensure_topics(settings.kafka_bootstrap, specs, settings.replication_factor)
    return await ensure_first_credential(settings, "lrs serve")


def serve(settings: LrsSettings) -> int:
    stack = Stack(settings)
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack.start_parts()
        created = asyncio.run(prepare(stack.resolved()))
        stack.start_workers()
        announce(settings, created)
        while not stopping:
            time.sleep(CHECK_INTERVAL)
            stack.check()
    finally:
        print("lrs: stopping", file=sys.stderr, flush=True)
        stack.stop_all()
    return 0


def announce(settings: LrsSettings, created: tuple[str, str] | None) -> None:
    """Where the LRS is and how to get in: the xAPI endpoint, the credential, the API docs
    and the dashboard (both log in with that credential's key and secret)."""
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
    print(f"start page: {base}/", flush=True)
