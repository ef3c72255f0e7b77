"""Before producing, the API looks up which of a request's ids are stored already (a retry is
skipped, Data 2.3.1; another statement with the same id is a 409, Communication 2.1.1). An id
the LRS makes up (a random UUID) cannot be stored already: only ids the client gave are read.
In `stored` mode one statement without attachments is not looked up: the wait for its stored
version compares it with what the store holds."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY

from lrs import topics
from lrs.adapters.memory import InMemoryAttachmentStore, InMemoryEventBus, InMemoryStatementStore
from lrs.codec import decode_accepted
from lrs.ports.credentials import Principal
from lrs.ports.events import OutgoingMessage
from lrs.services.ingest import IngestDeps, ingest
from lrs.settings import AckMode
from lrs.xapi.errors import StatementConflict
from tests.support.factories import agent, statement

PRINCIPAL = Principal("acme", "key", frozenset({"all"}), agent("authority"))


class CountingStore(InMemoryStatementStore):
    def __init__(self) -> None:
        super().__init__()
        self.lookups: list[list[str]] = []
        self.produced: list[OutgoingMessage] = []

    async def get_many(self, tenant: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        self.lookups.append(list(ids))
        return await super().get_many(tenant, ids)

    async def wait_stored(
        self, tenant: str, ids: Sequence[str], within: float
    ) -> dict[str, dict[str, Any]]:
        """What the store holds (the bus below stores at once), not counted as a lookup: the
        feed hands these over in a deployed API."""
        return await super().get_many(tenant, ids)


def deps(store: CountingStore, ack_mode: AckMode = "kafka") -> IngestDeps:
    """The bus stores what is produced at once (a stand-in persister, which does not look at
    `lrs_ack`: the in-memory store's wait hands over what it holds)."""
    counter = itertools.count()

    async def persist(topic: str, message: OutgoingMessage) -> None:
        store.produced.append(message)
        await store.insert_many([decode_accepted(message.value, message.headers)])

    return IngestDeps(
        store=store,
        bus=InMemoryEventBus(persist),
        attachments=InMemoryAttachmentStore(),
        clock=lambda: datetime.now(UTC),
        new_id=lambda: str(uuid.UUID(int=next(counter), version=4)),
        topic="xapi.statements",
        ack_mode=ack_mode,
        ack_timeout=15.0,
    )


async def test_a_request_without_ids_reads_nothing_before_producing() -> None:
    store = CountingStore()
    ids = await ingest(
        [statement(with_id=False) for _ in range(3)], PRINCIPAL, "2.0.0", deps(store)
    )
    assert len(ids) == 3
    assert store.lookups == []


async def test_only_the_ids_the_client_gave_are_looked_up() -> None:
    store = CountingStore()
    given = statement()
    await ingest([statement(with_id=False), given], PRINCIPAL, "2.0.0", deps(store))
    assert store.lookups == [[given["id"]]]


async def test_a_given_id_stored_with_other_content_is_still_a_conflict() -> None:
    store = CountingStore()
    first = statement()
    await ingest([first], PRINCIPAL, "2.0.0", deps(store))
    await ingest([first], PRINCIPAL, "2.0.0", deps(store))  # a retry: no error
    other = {**statement(verb="failed"), "id": first["id"]}
    with pytest.raises(StatementConflict):
        await ingest([other], PRINCIPAL, "2.0.0", deps(store))
    assert store.lookups == [[first["id"]]] * 3


async def test_stored_mode_reads_nothing_first_for_one_statement_and_still_finds_a_conflict() -> (
    None
):
    store = CountingStore()
    first = statement()
    await ingest([first], PRINCIPAL, "2.0.0", deps(store, "stored"))
    await ingest([first], PRINCIPAL, "2.0.0", deps(store, "stored"))  # a re-send: no error
    other = {**statement(verb="failed"), "id": first["id"]}
    with pytest.raises(StatementConflict):
        await ingest([other], PRINCIPAL, "2.0.0", deps(store, "stored"))
    assert store.lookups == []
    assert len(store.produced) == 3, "each was produced; the persister tells them apart"
    acks = [dict(m.headers).get(topics.HEADER_ACK) for m in store.produced]
    assert acks == [topics.ACK_STORED.encode()] * 3


async def test_stored_mode_still_reads_a_batch_first_so_a_conflict_produces_none_of_it() -> None:
    store = CountingStore()
    first = statement()
    await ingest([first], PRINCIPAL, "2.0.0", deps(store, "stored"))
    other = {**statement(verb="failed"), "id": first["id"]}
    with pytest.raises(StatementConflict):
        await ingest([statement(), other], PRINCIPAL, "2.0.0", deps(store, "stored"))
    assert len(store.lookups) == 1
    assert len(store.produced) == 1, "nothing of the conflicting batch was produced"


async def test_kafka_mode_records_carry_no_ack_header() -> None:
    store = CountingStore()
    await ingest([statement()], PRINCIPAL, "2.0.0", deps(store))
    [message] = store.produced
    assert topics.HEADER_ACK not in dict(message.headers)


def accepted_total() -> float:
    return REGISTRY.get_sample_value("lrs_statements_accepted_total") or 0.0


@pytest.mark.parametrize("ack_mode", ["stored", "kafka"])
async def test_a_statement_re_sent_is_not_counted_as_accepted_again(ack_mode: AckMode) -> None:
    store = CountingStore()
    ticks = itertools.count()
    start = datetime(2026, 12, 2, tzinfo=UTC)
    later = dataclasses.replace(  # each request stored a second after the one before
        deps(store, ack_mode), clock=lambda: start + timedelta(seconds=next(ticks))
    )
    first = statement()
    before = accepted_total()
    await ingest([first], PRINCIPAL, "2.0.0", later)
    await ingest([first], PRINCIPAL, "2.0.0", later)  # equivalent: answered, stored once
    await ingest([statement(), first], PRINCIPAL, "2.0.0", later)
    assert accepted_total() - before == 2
