"""AttachmentStore on MongoDB: one document per (tenant, SHA-2), written once.

A document holds the bytes inline, so one attachment is limited to MongoDB's 16 MB document
size (less overhead); the request body limit (LRS_MAX_BODY_BYTES) keeps requests below it by
default. Larger attachments would need GridFS chunks: not implemented.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bson import Binary
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from lrs.ports.attachments import MAX_ATTACHMENT_BYTES
from lrs.xapi.attachments import AttachmentPayload
from lrs.xapi.errors import PayloadTooLarge

MAX_INLINE_BYTES = MAX_ATTACHMENT_BYTES


def _doc_id(tenant: str, sha2: str) -> str:
    return f"{tenant}/{sha2}"


class MongoAttachmentStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self._attachments: AsyncCollection[dict[str, Any]] = db["attachments"]

    async def put_many(self, tenant: str, payloads: Sequence[AttachmentPayload]) -> None:
        """Idempotent: the same bytes have the same id; an existing document is left alone."""
        too_big = [p.sha2 for p in payloads if len(p.data) > MAX_INLINE_BYTES]
        if too_big:
            raise PayloadTooLarge(
                f"attachment(s) {', '.join(too_big)} exceed {MAX_INLINE_BYTES} bytes"
            )
        if not payloads:
            return
        await self._attachments.bulk_write(
            [
                UpdateOne(
                    {"_id": _doc_id(tenant, p.sha2)},
                    {
                        "$setOnInsert": {
                            "tenant": tenant,
                            "sha2": p.sha2,
                            "content_type": p.content_type,
                            "data": Binary(p.data),
                        }
                    },
                    upsert=True,
                )
                for p in payloads
            ],
            ordered=False,
        )

    async def get_many(self, tenant: str, sha2s: Sequence[str]) -> dict[str, AttachmentPayload]:
        ids = [_doc_id(tenant, s) for s in sha2s]
        return {
            d["sha2"]: AttachmentPayload(d["sha2"], d["content_type"], bytes(d["data"]))
            async for d in self._attachments.find({"_id": {"$in": ids}})
        }
