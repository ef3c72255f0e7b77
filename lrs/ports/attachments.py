"""Attachment bytes, kept apart from statements (the claim check)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lrs.xapi.attachments import AttachmentPayload

# The largest attachment a store keeps (MongoDB holds the bytes inline, in one 16 MB document);
# `put_many` refuses a larger one with PayloadTooLarge and writes none of the batch.
MAX_ATTACHMENT_BYTES = 15 * 1024 * 1024


class AttachmentStore(Protocol):
    """Attachment bytes, content-addressed by SHA-2 per tenant (the claim check: they are stored
    before the statement is produced and never travel through Kafka)."""

    async def put_many(self, tenant: str, payloads: Sequence[AttachmentPayload]) -> None: ...

    async def get_many(self, tenant: str, sha2s: Sequence[str]) -> dict[str, AttachmentPayload]: ...
