"""`lrs progress rebuild [--tenant T]`: recompute all progress from the stored statements (the
command connects in lrs.wiring.rebuild and runs `rebuild` here on the progress-store port).

Steps, each through the consumers' own code paths (`LearnerProgress`, `TeamProgress`):

1. empty every learner's state (documents and versions stay; the void bookkeeping of the tenant
   is dropped, it is rebuilt with the states);
2. feed the stored statements (`ProgressStore.stored_statements`) through
   `LearnerProgress.apply_statements` in batches, any order (progress is a function of the set);
3. refresh every learner document (registry teams; learners whose statements are gone);
4. recompute every team named by the registry or by a learner;
5. republish every learner and team summary to `lrs.progress.learner` / `lrs.progress.team`,
   then send a plain trigger for every team recomputed or stored (`lrs.progress.team-changes`),
   so that a running team-progress consumer reads their members again instead of computing
   from the summaries it held, and recomputes a team no learner lists any more
   (docs/decisions/0033).

Versions keep growing, so subscribers that drop values older than one they hold stay right.
Run it with the progress consumers stopped, or accept that while it runs the API shows partial
progress (step 1 empties the states); the compare-and-set writes keep concurrent consumers from
losing statements either way.
"""

from __future__ import annotations

import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from aiokafka import AIOKafkaProducer

from consumers.progress.learner import DEFAULT_HELD_FACTS, Clock, LearnerProgress
from consumers.progress.messages import (
    MAX_VALUE_BYTES,
    learner_message,
    team_change_message,
    team_message,
)
from consumers.progress.team import TeamProgress
from consumers.runner import produce_all
from lrs import topics
from lrs.ports.events import OutgoingMessage
from lrs.ports.progress import ProgressStore

BATCH = 500
Publish = Callable[[Sequence[tuple[str, OutgoingMessage]]], Any]


@dataclass
class RebuildReport:
    statements: int = 0
    learners: int = 0
    teams: int = 0


class ProgressBar:
    """A plain-text progress bar on a stream (redrawn in place on a terminal, else by line)."""

    def __init__(self, total: int, stream: TextIO, label: str = "statements") -> None:
        self.total, self.stream, self.label = total, stream, label
        self.done = 0
        self._shown = -1
        self._started = time.monotonic()

    def advance(self, count: int) -> None:
        self.done += count
        percent = 100 if not self.total else min(100, self.done * 100 // self.total)
        if percent == self._shown or (not self.stream.isatty() and percent % 10 and percent < 100):
            return
        self._shown = percent
        filled = percent // 5
        rate = self.done / max(time.monotonic() - self._started, 1e-6)
        line = (
            f"[{'#' * filled}{'.' * (20 - filled)}] {percent:3d}% "
            f"{self.done}/{self.total} {self.label} ({rate:.0f}/s)"
        )
        end = "\r" if self.stream.isatty() and percent < 100 else "\n"
        self.stream.write(line + end)
        self.stream.flush()


async def rebuild(
    store: ProgressStore,
    clock: Clock,
    publish: Publish,
    *,
    tenant: str | None = None,
    stream: TextIO = sys.stderr,
    max_value_bytes: int = MAX_VALUE_BYTES,
    held_facts: int = DEFAULT_HELD_FACTS,
) -> RebuildReport:
    report = RebuildReport()
    learners = LearnerProgress(store, clock, held_facts)
    await store.create_indexes()
    await store.reset_learners(tenant)
    total = await store.count_statements(tenant)
    bar = ProgressBar(total, stream)
    async for tenant_name, statements in _statement_batches(store, tenant):
        await learners.apply_statements(tenant_name, statements)
        report.statements += len(statements)
        bar.advance(len(statements))
    if not total:
        bar.advance(0)
    await _refresh_learners(store, learners, tenant)
    teams = TeamProgress(store, clock)
    for tenant_name, names in sorted((await store.tenants_and_teams(tenant)).items()):
        await teams.recompute(tenant_name, sorted(names))
    report.learners, report.teams = await republish(store, clock, publish, tenant, max_value_bytes)
    await _trigger_every_team(store, clock, publish, tenant)
    return report


async def _trigger_every_team(
    store: ProgressStore,
    clock: Clock,
    publish: Publish,
    tenant: str | None,
) -> None:
    """A plain trigger for every stored team (each team recomputed has a document by now; one
    that no learner lists any more, which the rebuild did not recompute, included): a running
    team-progress reads every member of them again instead of computing from the summaries it
    held (0033)."""
    teams = {(d.tenant, d.team) async for d in store.iterate_teams(tenant)}
    triggers = [
        (topics.TEAM_CHANGES, team_change_message(name, team, clock()))
        for name, team in sorted(teams)
    ]
    if triggers:
        await publish(triggers)


async def _statement_batches(
    store: ProgressStore, tenant: str | None
) -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """Stored statements in batches of one tenant each."""
    batches: dict[str, list[dict[str, Any]]] = {}
    async for tenant_name, statement in store.stored_statements(tenant):
        batch = batches.setdefault(tenant_name, [])
        batch.append(statement)
        if len(batch) >= BATCH:
            yield tenant_name, batches.pop(tenant_name)
    for name, batch in sorted(batches.items()):
        yield name, batch


async def _refresh_learners(
    store: ProgressStore, learners: LearnerProgress, tenant: str | None
) -> None:
    pending: dict[str, list[str]] = {}
    async for doc in store.iterate_learners(tenant):
        batch = pending.setdefault(doc.tenant, [])
        batch.append(doc.learner)
        if len(batch) >= BATCH:
            await learners.refresh(doc.tenant, pending.pop(doc.tenant))
    for name, batch in sorted(pending.items()):
        await learners.refresh(name, batch)


async def republish(
    store: ProgressStore,
    clock: Clock,
    publish: Publish,
    tenant: str | None,
    max_value_bytes: int = MAX_VALUE_BYTES,
) -> tuple[int, int]:
    """Produce every stored learner and team summary (each value at most `max_value_bytes`);
    return how many of each."""
    learners = (
        (topics.LEARNER_PROGRESS, learner_message(doc, clock(), max_value_bytes))
        async for doc in store.iterate_learners(tenant)
    )
    teams = (
        (topics.TEAM_PROGRESS, team_message(doc, clock(), max_value_bytes))
        async for doc in store.iterate_teams(tenant)
    )
    return await _publish_all(learners, publish), await _publish_all(teams, publish)


async def _publish_all(
    messages: AsyncIterator[tuple[str, OutgoingMessage]], publish: Publish
) -> int:
    """Publish in batches of `BATCH`; how many were published."""
    outputs: list[tuple[str, OutgoingMessage]] = []
    count = 0
    async for output in messages:
        outputs.append(output)
        count += 1
        if len(outputs) >= BATCH:
            await publish(outputs)
            outputs = []
    if outputs:
        await publish(outputs)
    return count


def kafka_publisher(producer: AIOKafkaProducer, prefix: str) -> Publish:
    async def publish(outputs: Sequence[tuple[str, OutgoingMessage]]) -> None:
        await produce_all(producer, [(prefix + topic, message) for topic, message in outputs])

    return publish
