"""In-memory DocumentStore: the reference fake of `lrs.ports.documents.DocumentStore`, held to
`lrs.adapters.mongo_documents.MongoDocumentStore` by tests/contract/test_document_store.py.
(Unlike MongoDB it has no 16 MB bound per document.)"""

from __future__ import annotations

from datetime import datetime

from lrs.ports.documents import DocumentRef, DocumentScope, DocumentStamp, StoredDocument


class InMemoryDocumentStore:
    def __init__(self) -> None:
        self._documents: dict[DocumentRef, StoredDocument] = {}

    async def get(self, ref: DocumentRef) -> StoredDocument | None:
        return self._documents.get(ref)

    async def create(self, ref: DocumentRef, doc: StoredDocument) -> bool:
        if ref in self._documents:
            return False
        self._documents[ref] = doc
        return True

    async def replace(
        self, ref: DocumentRef, expected: StoredDocument, doc: StoredDocument
    ) -> bool:
        if not _is_version(self._documents.get(ref), expected):
            return False
        self._documents[ref] = doc
        return True

    async def delete(
        self, ref: DocumentRef, expected: StoredDocument | None
    ) -> StoredDocument | None:
        current = self._documents.get(ref)
        if current is None or (expected is not None and not _is_version(current, expected)):
            return None
        return self._documents.pop(ref)

    async def list_ids(self, scope: DocumentScope, since: datetime | None) -> list[DocumentStamp]:
        return [
            _stamp(ref, doc)
            for ref, doc in self._documents.items()
            if _in_scope(ref, scope) and (since is None or doc.updated > since)
        ]

    async def delete_all(self, scope: DocumentScope) -> list[DocumentStamp]:
        found = [ref for ref in self._documents if _in_scope(ref, scope)]
        return [_stamp(ref, self._documents.pop(ref)) for ref in found]

    async def ping(self) -> None:
        return None


def _is_version(current: StoredDocument | None, expected: StoredDocument) -> bool:
    """`(etag, updated)` names one version of a document (as MongoDB's filter matches it)."""
    return current is not None and (current.etag, current.updated) == (
        expected.etag,
        expected.updated,
    )


def _in_scope(ref: DocumentRef, scope: DocumentScope) -> bool:
    """Same tenant, resource and context; a scope without registration takes every one."""
    mine = ref.scope
    same_context = (mine.tenant, mine.resource, mine.activity_id, mine.agent_ifi) == (
        scope.tenant,
        scope.resource,
        scope.activity_id,
        scope.agent_ifi,
    )
    return same_context and scope.registration in (None, mine.registration)


def _stamp(ref: DocumentRef, doc: StoredDocument) -> DocumentStamp:
    return DocumentStamp(ref.document_id, ref.scope.registration, doc.updated)
