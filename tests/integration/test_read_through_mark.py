"""The read-through mark of `lrs serve` (lrs.entry.counted) on the real broker and store: a
mark is recorded only once every reader of `lrs.statements.stored` has committed past the
records that were on it when the mark was taken, never passes a statement stored later, and is
dropped when a replay runs meanwhile. The readers' positions are set by committing offsets
under their group ids, as the consumers do."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from lrs import topics
from lrs.entry.counted import MarkRecorder, Pending, read_mark, stored_topic_readers
from lrs.settings import LrsSettings
from tests.conftest import Infra, unique_name
from tests.support.factories import statement
from tests.support.polling import eventually
from tests.support.stack import (
    api_client,
    commit_as,
    prepared_settings,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(infra: Infra) -> LrsSettings:
    return await prepared_settings(infra, unique_name("mark"))


async def read_up_to(settings: LrsSettings, reader: str, ends: dict[int, int]) -> None:
    """Commit `reader`'s position on `lrs.statements.stored` at `ends`."""
    await commit_as(settings, reader, settings.topic(topics.STORED_STATEMENTS), ends)


async def post(api: httpx.AsyncClient, docs: list[dict[str, Any]]) -> list[datetime]:
    """Post and read back each statement's `stored`."""
    answer = await api.post("/xapi/statements", json=docs, headers=xapi_headers())
    assert answer.status_code == 200, answer.text
    stored = []
    for doc in docs:
        got = await api.get(
            "/xapi/statements", params={"statementId": doc["id"]}, headers=xapi_headers()
        )
        stored.append(datetime.fromisoformat(got.json()["stored"]))
    return stored


async def pending_holding_records(recorder: MarkRecorder) -> Pending:
    """A mark taken once the persister has reported every partition and forwarded what was
    posted (a record may hold several statements)."""

    async def take() -> Pending | None:
        return await recorder.take(datetime.now(UTC), 0)

    pending = await eventually(take, lambda p: p is not None and sum(p.ends.values()) > 0)
    assert pending is not None
    assert sum(pending.ends.values()) > 0
    return pending


async def test_a_mark_is_recorded_once_every_reader_has_read_past_it(
    settings: LrsSettings,
) -> None:
    async with api_client(settings) as api, running_persister(settings):
        await post(api, [statement("mark-a") for _ in range(5)])
        recorder = MarkRecorder(settings)
        await recorder.start()
        try:
            recorder.pending = await pending_holding_records(recorder)
            taken = recorder.pending
            later = await post(api, [statement("mark-b") for _ in range(3)])
            assert await recorder.round(datetime.now(UTC), 0) is None  # nobody has read
            first, *others = stored_topic_readers()
            assert others  # progress and webhooks
            await read_up_to(settings, first, dict(taken.ends))
            assert await recorder.round(datetime.now(UTC), 0) is None  # one reader is behind
            assert await read_mark(settings) is None
            for reader in others:
                await read_up_to(settings, reader, dict(taken.ends))
            recorded = await recorder.round(datetime.now(UTC), 0)
        finally:
            await recorder.close()
    assert recorded == taken.through
    assert await read_mark(settings) == taken.through
    # a mark lies at least LRS_PRODUCE_TIMEOUT_SECONDS before the persister's watermark, so it
    # may not pass yet what was read; it never passes what was stored after it was taken
    assert all(moment > taken.through for moment in later)


async def test_a_replay_drops_the_pending_mark(settings: LrsSettings) -> None:
    async with api_client(settings) as api, running_persister(settings):
        await post(api, [statement("mark-c") for _ in range(2)])
        recorder = MarkRecorder(settings)
        await recorder.start()
        try:
            recorder.pending = await pending_holding_records(recorder)
            ends = dict(recorder.pending.ends)
            for reader in stored_topic_readers():
                await read_up_to(settings, reader, ends)
            assert await recorder.round(datetime.now(UTC), None) is None  # a replay runs
            assert recorder.pending is None
            assert await recorder.round(datetime.now(UTC), 1) is None  # taken anew
            assert recorder.pending is not None
            assert recorder.pending.generation == 1
            assert await recorder.round(datetime.now(UTC), 2) is None  # another replay ran
            assert recorder.pending is not None
            assert recorder.pending.generation == 2  # dropped and taken anew
            expected = recorder.pending.through
            assert await recorder.round(datetime.now(UTC), 2) == expected  # read past its ends
        finally:
            await recorder.close()
    assert await read_mark(settings) == expected


async def test_a_mark_is_taken_at_the_precision_the_store_keeps(settings: LrsSettings) -> None:
    """Rounded down to the millisecond, so the mark recorded and read back is the one taken,
    even when it comes from the clock (a clock earlier than the persister's watermark)."""
    async with api_client(settings) as api, running_persister(settings):
        await post(api, [statement("mark-p")])
        recorder = MarkRecorder(settings)
        await recorder.start()
        try:
            await pending_holding_records(recorder)  # the persister has reported
            early = datetime(2001, 1, 1, 0, 0, 0, 123_457, tzinfo=UTC)
            taken = await recorder.take(early, 0)
        finally:
            await recorder.close()
    assert taken is not None
    expected = datetime(2001, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)
    assert taken.through == expected - timedelta(seconds=settings.produce_timeout_seconds)
