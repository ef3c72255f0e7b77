"""The DocumentStore contract (lrs.ports.documents: State, Activity Profile and Agent Profile
documents, Communication 2.3-2.6), run against the in-memory reference and the MongoDB adapter
on the real (embedded) store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from lrs.adapters.memory_documents import InMemoryDocumentStore
from lrs.adapters.mongo_documents import MongoDocumentStore
from lrs.ports.documents import (
    DocumentRef,
    DocumentScope,
    DocumentStamp,
    DocumentStore,
    StoredDocument,
)
from tests.contract.conftest import KINDS, fresh_database

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
COURSE = "https://content.example.org/course/1"
ANN = "mbox:mailto:ann@example.org"
REG1, REG2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"


def state_scope(registration: str | None = None, tenant: str = "acme") -> DocumentScope:
    return DocumentScope(tenant, "state", COURSE, ANN, registration)


def ref(document_id: str, registration: str | None = None, tenant: str = "acme") -> DocumentRef:
    return DocumentRef(state_scope(registration, tenant), document_id)


def version(content: bytes, at: int, content_type: str = "application/json") -> StoredDocument:
    """A document version `at` milliseconds after T0 (stores keep milliseconds)."""
    return StoredDocument(
        content, content_type, f'"{content.hex()}"', T0 + timedelta(milliseconds=at)
    )


@pytest.fixture(params=KINDS)
async def documents(request: pytest.FixtureRequest) -> AsyncIterator[DocumentStore]:
    if request.param == "memory":
        yield InMemoryDocumentStore()
        return
    async with fresh_database(request) as db:
        store = MongoDocumentStore(db)
        await store.create_indexes()
        yield store


async def test_a_document_is_created_once_and_read_back_whole(documents: DocumentStore) -> None:
    first = version(b'{"a": 1}', 1)
    assert await documents.create(ref("bookmark"), first)
    assert not await documents.create(ref("bookmark"), version(b"other", 2, "text/plain"))
    assert await documents.get(ref("bookmark")) == first
    assert await documents.get(ref("bookmark", REG1)) is None
    assert await documents.get(ref("bookmark", tenant="other")) is None
    profile = DocumentRef(DocumentScope("acme", "activityProfile", COURSE, None), "bookmark")
    assert await documents.get(profile) is None


async def test_replacing_needs_the_version_read(documents: DocumentStore) -> None:
    first, second = version(b"1", 1), version(b"2", 2)
    await documents.create(ref("d"), first)
    assert await documents.replace(ref("d"), first, second)
    assert not await documents.replace(ref("d"), first, version(b"3", 3))
    same_etag_other_time = StoredDocument(second.content, second.content_type, second.etag, T0)
    assert not await documents.replace(ref("d"), same_etag_other_time, version(b"3", 3))
    assert await documents.get(ref("d")) == second
    assert not await documents.replace(ref("missing"), first, second)
    assert await documents.get(ref("missing")) is None


async def test_deleting_returns_the_deleted_version(documents: DocumentStore) -> None:
    first, second = version(b"1", 1), version(b"2", 2)
    await documents.create(ref("d"), first)
    assert await documents.delete(ref("d"), second) is None
    assert await documents.get(ref("d")) == first
    assert await documents.delete(ref("d"), first) == first
    assert await documents.delete(ref("d"), None) is None
    await documents.create(ref("e"), second)
    assert await documents.delete(ref("e"), None) == second
    assert await documents.get(ref("e")) is None


async def test_ids_are_listed_per_context_and_registration(documents: DocumentStore) -> None:
    await documents.create(ref("a"), version(b"1", 1))
    await documents.create(ref("b", REG1), version(b"2", 2))
    await documents.create(ref("c", REG2), version(b"3", 3))
    await documents.create(ref("d", tenant="other"), version(b"4", 4))
    other_agent = DocumentScope("acme", "state", COURSE, "mbox:mailto:bob@example.org")
    await documents.create(DocumentRef(other_agent, "e"), version(b"5", 5))
    every = await documents.list_ids(state_scope(), None)
    assert sorted(every, key=lambda s: s.document_id) == [
        DocumentStamp("a", None, T0 + timedelta(milliseconds=1)),
        DocumentStamp("b", REG1, T0 + timedelta(milliseconds=2)),
        DocumentStamp("c", REG2, T0 + timedelta(milliseconds=3)),
    ]
    assert [s.document_id for s in await documents.list_ids(state_scope(REG1), None)] == ["b"]
    since = await documents.list_ids(state_scope(), T0 + timedelta(milliseconds=2))
    assert [s.document_id for s in since] == ["c"]


async def test_delete_all_deletes_the_scope_and_nothing_else(documents: DocumentStore) -> None:
    await documents.create(ref("a"), version(b"1", 1))
    await documents.create(ref("b", REG1), version(b"2", 2))
    await documents.create(ref("c", REG2), version(b"3", 3))
    await documents.create(ref("a", tenant="other"), version(b"4", 4))
    deleted = await documents.delete_all(state_scope(REG1))
    assert deleted == [DocumentStamp("b", REG1, T0 + timedelta(milliseconds=2))]
    rest = await documents.delete_all(state_scope())
    assert sorted(s.document_id for s in rest) == ["a", "c"]
    assert await documents.list_ids(state_scope(), None) == []
    assert await documents.get(ref("a", tenant="other")) == version(b"4", 4)
    assert await documents.delete_all(state_scope()) == []
