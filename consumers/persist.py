"""The persist consumer: `xapi.statements` -> MongoDB, idempotently.

Each batch is one unordered bulk insert. A statement whose id is already stored is a replay
(at-least-once delivery) when the content is equivalent, and a conflict otherwise: conflicts go
to the dead-letter topic with `StatementConflict`, so they are never silently lost.

Before the insert, the batch's Activity definitions and Agents are merged into their stores
(Communication 2.4, 2.5): a statement that can be read then has them merged already, so GET
activities / agents read what was just written in every acknowledgement mode. The merges are
idempotent, so a replayed batch changes nothing. Activity definitions are adopted only from
statements whose credential holds the `define` scope (the `lrs_define` header, Communication
4.1); the others' Activities keep what they had, or none (docs/decisions/0005).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from consumers.runner import Outcome, Poison, Record
from lrs import metrics
from lrs.codec import UnusableMessage, decode_accepted
from lrs.ports import AcceptedStatement, ActivityStore, AgentStore, StatementStore
from lrs.xapi.equivalence import statements_equivalent
from lrs.xapi.errors import StatementConflict


class PersistHandler:
    name = "persist"

    def __init__(
        self, store: StatementStore, activities: ActivityStore, agents: AgentStore
    ) -> None:
        self._store = store
        self._activities = activities
        self._agents = agents

    async def handle(self, records: Sequence[Record]) -> Outcome:
        poison: list[Poison] = []
        decoded: list[tuple[Record, AcceptedStatement]] = []
        for record in records:
            try:
                decoded.append((record, decode_accepted(record.value, record.headers)))
            except UnusableMessage as exc:
                poison.append(Poison(record, exc))
        accepted_all = [accepted for _, accepted in decoded]
        await self._activities.merge([a for a in accepted_all if a.define])
        await self._agents.merge(accepted_all)
        report = await self._store.insert_many(accepted_all)
        source = {id(accepted): record for record, accepted in decoded}
        for duplicate in report.duplicates:
            if statements_equivalent(duplicate.incoming.statement, duplicate.existing):
                continue
            metrics.STATEMENT_CONFLICTS.inc()
            conflict = StatementConflict(
                f"statement {duplicate.incoming.statement_id} of tenant"
                f" {duplicate.incoming.tenant} is stored with different content"
            )
            poison.append(Poison(source[id(duplicate.incoming)], conflict))
        return Outcome(poison=poison)

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        await self._store.record_watermarks(topic, partitions)
