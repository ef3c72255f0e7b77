"""The AttachmentStore contract (lrs.ports.attachments), run against the in-memory reference
and the MongoDB adapter on the real (embedded) store."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import pytest

from lrs.adapters.memory import InMemoryAttachmentStore
from lrs.adapters.mongo_attachments import MongoAttachmentStore
from lrs.ports.attachments import MAX_ATTACHMENT_BYTES, AttachmentStore
from lrs.xapi.attachments import AttachmentPayload
from lrs.xapi.errors import PayloadTooLarge
from tests.contract.conftest import KINDS, fresh_database


def payload(data: bytes, content_type: str = "text/plain") -> AttachmentPayload:
    return AttachmentPayload(hashlib.sha256(data).hexdigest(), content_type, data)


@pytest.fixture(params=KINDS)
async def attachments(request: pytest.FixtureRequest) -> AsyncIterator[AttachmentStore]:
    if request.param == "memory":
        yield InMemoryAttachmentStore()
        return
    async with fresh_database(request) as db:
        yield MongoAttachmentStore(db)


async def test_attachments_read_back_per_tenant(attachments: AttachmentStore) -> None:
    one, two = payload(b"one"), payload(b"\x00\xff two", "application/octet-stream")
    await attachments.put_many("acme", [one, two])
    await attachments.put_many("acme", [])
    found = await attachments.get_many("acme", [one.sha2, two.sha2, "0" * 64])
    assert found == {one.sha2: one, two.sha2: two}
    assert await attachments.get_many("other", [one.sha2]) == {}


async def test_the_first_write_of_a_hash_is_kept(attachments: AttachmentStore) -> None:
    first = payload(b"same bytes")
    await attachments.put_many("acme", [first])
    await attachments.put_many("acme", [AttachmentPayload(first.sha2, "text/other", first.data)])
    assert await attachments.get_many("acme", [first.sha2]) == {first.sha2: first}


async def test_an_attachment_past_the_bound_is_refused_with_its_batch(
    attachments: AttachmentStore,
) -> None:
    small, large = payload(b"small"), payload(b"x" * (MAX_ATTACHMENT_BYTES + 1))
    with pytest.raises(PayloadTooLarge, match=large.sha2):
        await attachments.put_many("acme", [small, large])
    assert await attachments.get_many("acme", [small.sha2, large.sha2]) == {}
