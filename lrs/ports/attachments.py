"""Attachment bytes, kept apart from statements (the claim check)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from lrs.xapi.attachments import AttachmentPayload


class AttachmentStore(Protocol):
    """Attachment bytes, content-addressed by SHA-2 per tenant (the claim check: they are stored
    before the statement is produced and never travel through Kafka)."""

    async def put_many(self, tenant: str, payloads: Sequence[AttachmentPayload]) -> None: ...

    async def get_many(self, tenant: str, sha2s: Sequence[str]) -> dict[str, AttachmentPayload]: ...
