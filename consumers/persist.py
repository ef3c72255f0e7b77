"""The persist consumer: `xapi.statements` -> MongoDB, idempotently.

Each batch is one unordered bulk insert. A statement whose id is already stored is a replay
(at-least-once delivery, or a client's re-send) when the content is equivalent, and a conflict
otherwise. A conflict goes to the dead-letter topic with `StatementConflict`, so it is never
silently lost, unless its producer answers it itself (the `lrs_ack` header of an API in
`stored` mode, lrs.topics): that API waits for the id to be stored and answers the client 409,
so the stored statement is forwarded to end its wait, as for an equivalent replay.

Before the insert, the Activity definitions and Agents of the statements the store is about
to keep are merged into their stores (Communication 2.4, 2.5): a statement that can be read
then has them merged already, so GET activities / agents read what was just written in every
acknowledgement mode. A statement whose id the store already holds merges nothing: a
conflicting one is refused, and an equivalent replay was merged before it was first stored
(merging it again could undo a later statement's change). Of two with one id in the batch,
only the first (the one the store keeps) merges. Activity definitions are adopted only from
statements whose credential holds the `define` scope (the `lrs_define` header, Communication
4.1); the others' Activities keep what they had, or none (docs/decisions/0005).

A statement whose `stored` is earlier than its partition's recorded watermark less the
Consistent-Through margin reached the broker after that watermark's fetch, later than the
API acknowledges (docs/decisions/0003): the header may already have passed its `stored`, so
it is stored with the watermark less the margin as `stored` instead (Data 2.4.8: `stored` is
the LRS's to set).

After the insert, every statement the store now holds for the batch's ids is forwarded to
`lrs.statements.stored` (same key, same envelope): the ones just inserted, and for a replay the
STORED version (so a crash between the insert and the produce is repaired by the replay).
What is forwarded is always what the store holds, never a conflicting statement: the progress
consumer reads that topic, so it counts exactly what the store holds, whichever of two racing
writers won (docs/decisions/0006); a statement it has already counted changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from consumers.failures import TransientFailure
from consumers.runner import Outcome, Poison, Record
from lrs import topics
from lrs.codec import UnusableMessage, answered_by_producer, decode_accepted, encode_accepted
from lrs.ports.definitions import ActivityStore, AgentStore
from lrs.ports.events import OutgoingMessage
from lrs.ports.statements import AcceptedStatement, DuplicateId, InsertReport, StatementWriter
from lrs.services.erasure import ErasedAgents, screen_pairs
from lrs.xapi.equivalence import statements_equivalent
from lrs.xapi.errors import StatementConflict
from lrs.xapi.ifi import actor_ifi
from lrs.xapi.timefmt import format_timestamp

SOURCE = "/lrs/consumers/persist"
log = logging.getLogger("consumers.persist")


class PersistHandler:
    name = "persist"

    def __init__(
        self,
        store: StatementWriter,
        activities: ActivityStore,
        agents: AgentStore,
        *,
        prefix: str = "",
        consistency_margin: timedelta = timedelta(seconds=2),  # LRS_PRODUCE_TIMEOUT_SECONDS
        erased: ErasedAgents | None = None,  # erased learners (docs/erasure.md)
    ) -> None:
        self._erased = erased
        self._store = store
        self._margin = consistency_margin
        self._activities = activities
        self._agents = agents
        self._stored_topic = prefix + topics.STORED_STATEMENTS  # prefix: the settings' one

    async def handle(self, records: Sequence[Record]) -> Outcome:
        poison: list[Poison] = []
        decoded: list[tuple[Record, AcceptedStatement]] = []
        for record in records:
            try:
                decoded.append((record, decode_accepted(record.value, record.headers)))
            except UnusableMessage as exc:
                poison.append(Poison(record, exc))
        listed: set[tuple[str, str]] = set()  # the batch's Agents an erasure named
        # three independent reads at once: the batch then waits for the slowest, not their sum
        screened, marks, held = await asyncio.gather(
            # statements in flight when their learner was erased are dropped
            screen_pairs(self._erased, decoded, listed),
            self._watermarks({record.topic for record, _ in decoded}),
            self._held_ids([accepted for _, accepted in decoded]),
        )
        decoded, restamped = self._not_before_watermarks(screened, marks)
        accepted_all = [accepted for _, accepted in decoded]
        await self._merge_projections(_to_be_inserted(accepted_all, held), listed)
        report = await self._store.insert_many(accepted_all)
        _log_restamped(restamped, report)
        source = {id(accepted): record for record, accepted in decoded}
        conflicts = [d for d in report.duplicates if _dead_letter(d, source[id(d.incoming)])]
        poison += [Poison(source[id(d.incoming)], _conflict(d)) for d in conflicts]
        kept_back = {id(d.incoming) for d in conflicts}
        return Outcome(poison=poison, outputs=self._forward(accepted_all, report, kept_back))

    async def _watermarks(self, topics_seen: set[str]) -> dict[str, dict[int, datetime]]:
        """Each topic's partition watermarks."""
        ordered = sorted(topics_seen)
        found = await asyncio.gather(*(self._store.watermarks(topic) for topic in ordered))
        return dict(zip(ordered, found, strict=True))

    def _not_before_watermarks(
        self,
        decoded: list[tuple[Record, AcceptedStatement]],
        marks: Mapping[str, Mapping[int, datetime]],
    ) -> tuple[list[tuple[Record, AcceptedStatement]], list[AcceptedStatement]]:
        """Each statement with its `stored` moved up to its partition's watermark less the
        margin when it is earlier (see the module docstring); and the ones moved."""
        result, moved = [], []
        for record, accepted in decoded:
            mark = marks[record.topic].get(record.partition)
            if mark is not None and accepted.stored < mark - self._margin:
                accepted = _restamped(accepted, _ceil_millis(mark - self._margin))
                moved.append(accepted)
            result.append((record, accepted))
        return result, moved

    async def _held_ids(self, batch: Sequence[AcceptedStatement]) -> set[tuple[str, str]]:
        """The (tenant, id) of the batch's statements the store already holds."""
        tenants = list(dict.fromkeys(a.tenant for a in batch))
        found = await asyncio.gather(
            *(
                self._store.get_many(tenant, [a.statement_id for a in batch if a.tenant == tenant])
                for tenant in tenants
            )
        )
        return {(tenant, i) for tenant, ids in zip(tenants, found, strict=True) for i in ids}

    async def _merge_projections(
        self, inserting: Sequence[AcceptedStatement], erased: set[tuple[str, str]]
    ) -> None:
        await asyncio.gather(  # two collections, neither waiting for the other
            self._activities.merge([a for a in inserting if a.define]),
            self._agents.merge(inserting, erased),
        )

    def _forward(
        self, batch: Sequence[AcceptedStatement], report: InsertReport, kept_back: set[int]
    ) -> list[tuple[str, OutgoingMessage]]:
        """What the store holds for the batch, in batch order: inserted records as they are,
        every other duplicate as stored (Data 2.3.1), the dead-lettered conflicts (`kept_back`,
        ids of the batch's objects) not at all."""
        duplicates = {id(d.incoming): d for d in report.duplicates}
        reported_failed = len(batch) - report.inserted
        held: list[AcceptedStatement] = []
        for accepted in batch:
            duplicate = duplicates.get(id(accepted))
            if duplicate is None:
                held.append(accepted)
            elif id(accepted) not in kept_back:
                held.append(_as_stored(accepted, duplicate.existing))
        if reported_failed != len(duplicates):
            # a refused id the store cannot show: not knowing what it holds, retry the batch
            raise StoreUnsure(f"{reported_failed - len(duplicates)} refused ids are not stored")
        return [(self._stored_topic, encode_accepted(a, source=SOURCE)) for a in held]

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        await self._store.record_watermarks(topic, partitions)


class StoreUnsure(TransientFailure):
    """The store refused ids it then could not show (transient: the batch is retried)."""


def _restamped(accepted: AcceptedStatement, stored: datetime) -> AcceptedStatement:
    statement = {**accepted.statement, "stored": format_timestamp(stored)}
    return replace(accepted, statement=statement, stored=stored)


def _log_restamped(restamped: Sequence[AcceptedStatement], report: InsertReport) -> None:
    """Report the moved statements that were new (a moved replay is refused as a duplicate)."""
    refused = {id(d.incoming) for d in report.duplicates}
    for accepted in restamped:
        if id(accepted) not in refused:
            log.warning(
                "statement %s reached the broker after its partition's watermark; stored as %s",
                accepted.statement_id,
                accepted.statement["stored"],
            )


def _ceil_millis(moment: datetime) -> datetime:
    """`stored` has millisecond precision; rounding up keeps it no earlier than `moment`."""
    spare = moment.microsecond % 1000
    return moment + timedelta(microseconds=1000 - spare) if spare else moment


def _as_stored(incoming: AcceptedStatement, existing: dict[str, Any]) -> AcceptedStatement:
    """The record of the stored version of a duplicate: its statement, its `stored`
    time and its actor's identifier (equivalent actors may be spelled differently, Data 2.3.1;
    the key follows the stored spelling, like the progress that counts it)."""
    try:
        stored = datetime.fromisoformat(str(existing.get("stored")))
    except ValueError:
        stored = incoming.stored
    actor = existing.get("actor")
    ifi = actor_ifi(actor) if isinstance(actor, Mapping) else incoming.actor_ifi
    return replace(incoming, statement=existing, stored=stored, actor_ifi=ifi)


def _dead_letter(duplicate: DuplicateId, record: Record) -> bool:
    """Whether a duplicate goes to the dead-letter topic: a conflicting one, unless its
    producer answers its client the conflict itself (`lrs_ack`, see the module docstring)."""
    if answered_by_producer(record.headers):
        return False
    return not statements_equivalent(duplicate.incoming.statement, duplicate.existing)


def _conflict(duplicate: DuplicateId) -> StatementConflict:
    """The conflict's error; counted when it is dead-lettered (`lrs_dead_lettered_total`
    with error_class StatementConflict), not here: the runner may re-run the batch."""
    return StatementConflict(
        f"statement {duplicate.incoming.statement_id} of tenant"
        f" {duplicate.incoming.tenant} is stored with different content"
    )


def _to_be_inserted(
    batch: Sequence[AcceptedStatement], held: set[tuple[str, str]]
) -> list[AcceptedStatement]:
    """The statements of the batch the store will keep: not those whose id it holds (`held`),
    and of two with one id, the first."""
    taken = set(held)
    kept = []
    for accepted in batch:
        key = (accepted.tenant, accepted.statement_id)
        if key not in taken:
            taken.add(key)
            kept.append(accepted)
    return kept
