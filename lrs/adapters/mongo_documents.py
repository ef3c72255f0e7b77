"""DocumentStore on MongoDB: State, Activity Profile and Agent Profile documents.

One MongoDB document per (tenant, resource, context, registration, document id)::

    {_id: sha256(those five), tenant, resource, context: sha256(resource, activity, agent),
     activityId, agentIfi, registration, documentId, contentType, etag, updated, size,
     content: <the bytes>}

Hashed keys keep `_id` short whatever the length of IRIs and ids, and never ambiguous. The
index `(tenant, context, updated)` serves the id lists (with `since`) and delete-all.

The bytes are held inline, so a document (with its context and ids) is limited to MongoDB's 16 MB
document size: a write beyond it is refused with PayloadTooLarge (413), whether the bytes came
in one PUT or grew by a POST merge.

Conditional writes are single atomic operations whose filter names the version read before:
`(etag, updated)`. `updated` strictly increases with every write of a document (the service
guarantees it), so of two writers that read the same version only one can match.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from bson import Binary
from pymongo import ASCENDING, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DocumentTooLarge, DuplicateKeyError

from lrs.ports.documents import DocumentRef, DocumentScope, DocumentStamp, StoredDocument
from lrs.xapi.errors import PayloadTooLarge

Doc = dict[str, Any]
_STAMP_FIELDS = {"documentId": 1, "registration": 1, "updated": 1}
_CONTENT_FIELDS = {"content": 1, "contentType": 1, "etag": 1, "updated": 1}


def _digest(parts: list[str | None]) -> str:
    return hashlib.sha256(orjson.dumps(parts)).hexdigest()


def context_key(scope: DocumentScope) -> str:
    """Identifies a resource's Activity/Agent context, whatever the registration."""
    return _digest([scope.resource, scope.activity_id, scope.agent_ifi])


def document_doc_id(ref: DocumentRef) -> str:
    s = ref.scope
    return _digest(
        [s.tenant, s.resource, s.activity_id, s.agent_ifi, s.registration, ref.document_id]
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stored(doc: Mapping[str, Any]) -> StoredDocument:
    return StoredDocument(
        content=bytes(doc["content"]),
        content_type=doc["contentType"],
        etag=doc["etag"],
        updated=_aware(doc["updated"]),
    )


def _stamp(doc: Mapping[str, Any]) -> DocumentStamp:
    return DocumentStamp(doc["documentId"], doc.get("registration"), _aware(doc["updated"]))


def _version_filter(ref: DocumentRef, expected: StoredDocument | None) -> Doc:
    flt: Doc = {"_id": document_doc_id(ref), "tenant": ref.scope.tenant}
    if expected is not None:
        flt["etag"] = expected.etag
        flt["updated"] = expected.updated
    return flt


def _too_large(exc: DocumentTooLarge) -> PayloadTooLarge:
    return PayloadTooLarge(f"the document exceeds what the store holds in one record: {exc}")


def _content_fields(doc: StoredDocument) -> Doc:
    return {
        "contentType": doc.content_type,
        "etag": doc.etag,
        "updated": doc.updated,
        "size": len(doc.content),
        "content": Binary(doc.content),
    }


class MongoDocumentStore:
    """The `documents` collection."""

    def __init__(self, db: AsyncDatabase[Doc]) -> None:
        self._db = db
        self._documents: AsyncCollection[Doc] = db["documents"]

    async def create_indexes(self) -> None:
        await self._documents.create_indexes(
            [
                IndexModel(
                    [("tenant", ASCENDING), ("context", ASCENDING), ("updated", ASCENDING)],
                    name="tenant_context_updated",
                )
            ]
        )

    async def ping(self) -> None:
        await self._db.command("ping")

    async def get(self, ref: DocumentRef) -> StoredDocument | None:
        doc = await self._documents.find_one(_version_filter(ref, None), _CONTENT_FIELDS)
        return _stored(doc) if doc else None

    async def create(self, ref: DocumentRef, doc: StoredDocument) -> bool:
        scope = ref.scope
        try:
            await self._documents.insert_one(
                {
                    "_id": document_doc_id(ref),
                    "tenant": scope.tenant,
                    "resource": scope.resource,
                    "context": context_key(scope),
                    "activityId": scope.activity_id,
                    "agentIfi": scope.agent_ifi,
                    "registration": scope.registration,
                    "documentId": ref.document_id,
                    **_content_fields(doc),
                }
            )
        except DuplicateKeyError:
            return False
        except DocumentTooLarge as exc:
            raise _too_large(exc) from None
        return True

    async def replace(
        self, ref: DocumentRef, expected: StoredDocument, doc: StoredDocument
    ) -> bool:
        try:
            result = await self._documents.update_one(
                _version_filter(ref, expected), {"$set": _content_fields(doc)}
            )
        except DocumentTooLarge as exc:
            raise _too_large(exc) from None
        return result.matched_count == 1

    async def delete(
        self, ref: DocumentRef, expected: StoredDocument | None
    ) -> StoredDocument | None:
        doc = await self._documents.find_one_and_delete(
            _version_filter(ref, expected), projection=_CONTENT_FIELDS
        )
        return _stored(doc) if doc else None

    def _scope_filter(self, scope: DocumentScope) -> Doc:
        flt: Doc = {"tenant": scope.tenant, "context": context_key(scope)}
        if scope.registration is not None:
            flt["registration"] = scope.registration
        return flt

    async def list_ids(self, scope: DocumentScope, since: datetime | None) -> list[DocumentStamp]:
        flt = self._scope_filter(scope)
        if since is not None:
            flt["updated"] = {"$gt": since}
        docs = await self._documents.find(flt, _STAMP_FIELDS).to_list(None)
        return [_stamp(d) for d in docs]

    async def delete_all(self, scope: DocumentScope) -> list[DocumentStamp]:
        """Each document is deleted by its own atomic find-and-delete, so the result lists
        exactly the documents this call removed (and each change event is exact)."""
        found = await self._documents.find(self._scope_filter(scope), {"_id": 1}).to_list(None)
        deleted = await asyncio.gather(
            *(
                self._documents.find_one_and_delete(
                    {"_id": d["_id"], "tenant": scope.tenant}, projection=_STAMP_FIELDS
                )
                for d in found
            )
        )
        return [_stamp(d) for d in deleted if d is not None]
