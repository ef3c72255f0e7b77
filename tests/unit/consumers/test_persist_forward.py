"""The persister forwards exactly what the store holds to `lrs.statements.stored` (in-memory
store, no broker): inserted statements as sent, equivalent replays as stored, and for a
conflict the stored statement when its producer answers the client itself, else nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson

from consumers.persist import PersistHandler
from lrs import topics
from lrs.adapters.memory import InMemoryStatementStore
from lrs.adapters.memory_definitions import InMemoryActivityStore, InMemoryAgentStore
from lrs.codec import decode_accepted, encode_accepted
from lrs.ports.statements import AcceptedStatement
from lrs.progress import learner_id
from tests.support.factories import statement
from tests.support.records import StubRecord

STORED = datetime(2026, 11, 23, 12, tzinfo=UTC)
AUTHORITY = {"objectType": "Agent", "mbox": "mailto:lms@example.org"}


def record(
    doc: dict[str, object], offset: int, stored: datetime = STORED, *, answered: bool = False
) -> StubRecord:
    full = {**doc, "stored": stored.isoformat(), "authority": AUTHORITY, "version": "1.0.0"}
    accepted = AcceptedStatement("acme", full, stored, learner_id(full))
    message = encode_accepted(accepted, source="/test", answered=answered)
    return StubRecord(
        "xapi.statements", 0, offset, message.key, message.value, list(message.headers)
    )


def handler() -> PersistHandler:
    store = InMemoryStatementStore()
    return PersistHandler(store, InMemoryActivityStore(), InMemoryAgentStore(), prefix="p.")


async def test_inserted_statements_are_forwarded_with_their_key() -> None:
    first = record(statement(1), 0)
    outcome = await handler().handle([first])
    assert outcome.poison == []
    [(topic, message)] = outcome.outputs
    assert topic == "p." + topics.STORED_STATEMENTS
    assert message.key == first.key
    assert decode_accepted(message.value).statement == decode_accepted(first.value).statement


async def test_a_replay_forwards_the_stored_version_and_a_conflict_nothing() -> None:
    persist = handler()
    original = statement(1)
    await persist.handle([record(original, 0)])
    later = datetime(2026, 11, 24, tzinfo=UTC)
    replay = record(original, 1, stored=later)  # equivalent: only `stored` differs
    conflict = record({**original, "actor": statement(2)["actor"]}, 2)
    outcome = await persist.handle([replay, conflict])
    assert [p.record for p in outcome.poison] == [conflict]
    [(_, message)] = outcome.outputs
    forwarded = decode_accepted(message.value)
    assert forwarded.stored == STORED
    assert forwarded.statement["stored"] == STORED.isoformat()
    assert orjson.loads(message.value)["actor_ifi"] == learner_id(original)


async def test_a_conflict_its_producer_answers_forwards_the_stored_statement() -> None:
    """An API in `stored` mode waits for the id and answers 409 itself: the stored statement
    ends its wait, and nothing goes to the dead-letter topic."""
    persist = handler()
    original = statement(1)
    await persist.handle([record(original, 0)])
    other_actor = statement(2)["actor"]
    conflict = record({**original, "actor": other_actor}, 1, answered=True)
    outcome = await persist.handle([conflict])
    assert outcome.poison == []
    [(topic, message)] = outcome.outputs
    assert topic == "p." + topics.STORED_STATEMENTS
    forwarded = decode_accepted(message.value)
    assert forwarded.statement["actor"] == original["actor"]
    assert forwarded.stored == STORED
    assert orjson.loads(message.value)["actor_ifi"] == learner_id(original)
    assert topics.HEADER_ACK not in dict(message.headers), "the forward carries no ack header"
