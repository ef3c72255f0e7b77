"""A statement that reaches the broker after its partition's watermark already let
Consistent-Through pass its `stored` (a produce the API refused with 503 that landed anyway)
becomes visible with a `stored` the header has not passed (docs/decisions/0003)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from consumers.persist import PersistHandler
from lrs.adapters.memory import InMemoryAttachmentStore, InMemoryStatementStore
from lrs.adapters.memory_definitions import InMemoryActivityStore, InMemoryAgentStore
from lrs.codec import decode_accepted, encode_accepted
from lrs.ports.statements import AcceptedStatement
from lrs.progress import learner_id
from lrs.services.read import ReadDeps, consistent_through
from lrs.xapi.query import StatementQuery
from lrs.xapi.timefmt import parse_timestamp
from tests.support.factories import statement
from tests.support.records import StubRecord

TOPIC = "xapi.statements"
MARGIN = timedelta(seconds=2)
WATERMARK = datetime(2026, 11, 30, 9, 0, 10, tzinfo=UTC)
AUTHORITY = {"objectType": "Agent", "mbox": "mailto:lms@example.org"}


def record(stored: datetime, partition: int = 0) -> StubRecord:
    full = {
        **statement(),
        "stored": stored.isoformat(),
        "authority": AUTHORITY,
        "version": "1.0.0",
    }
    accepted = AcceptedStatement("acme", full, stored, learner_id(full))
    message = encode_accepted(accepted, source="/test")
    return StubRecord(TOPIC, partition, 0, message.key, message.value, list(message.headers))


async def persisted(stored: datetime) -> tuple[InMemoryStatementStore, datetime, datetime]:
    """Handle one record after partition 0's watermark; the `stored` it is visible with and
    the one forwarded."""
    store = InMemoryStatementStore()
    await store.record_watermarks(TOPIC, {0: WATERMARK})
    handler = PersistHandler(
        store, InMemoryActivityStore(), InMemoryAgentStore(), consistency_margin=MARGIN
    )
    outcome = await handler.handle([record(stored)])
    [(_, forwarded)] = outcome.outputs
    page = await store.query("acme", StatementQuery(limit=10))
    [visible] = page.statements
    return store, parse_timestamp(visible["stored"]), decode_accepted(forwarded.value).stored


async def test_a_record_older_than_the_watermark_allows_is_stored_no_earlier() -> None:
    late = WATERMARK - MARGIN - timedelta(seconds=5)
    store, visible, forwarded = await persisted(late)
    read = ReadDeps(store, InMemoryAttachmentStore(), TOPIC, 1, MARGIN)
    through = await consistent_through(read, WATERMARK)
    assert through <= visible, f"Consistent-Through {through} passed stored {visible}"
    assert visible == forwarded == WATERMARK - MARGIN


async def test_a_record_in_time_keeps_its_stored() -> None:
    in_time = WATERMARK - MARGIN + timedelta(milliseconds=1)
    _, visible, forwarded = await persisted(in_time)
    assert visible == forwarded == in_time
