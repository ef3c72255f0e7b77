"""State, Activity Profile and Agent Profile documents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class DocumentScope:
    """The documents of one tenant's resource (state, activityProfile, agentProfile) in one
    context: an Activity and/or Agent (by identifier) and, for State, a registration. A scope
    with `registration=None` is read by list and delete-all as "every registration"."""

    tenant: str
    resource: str
    activity_id: str | None
    agent_ifi: str | None
    registration: str | None = None


@dataclass(frozen=True, slots=True)
class DocumentRef:
    """One document: its scope (with the exact registration, None for none) and its id."""

    scope: DocumentScope
    document_id: str


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """A document's bytes and metadata. `(etag, updated)` identifies one version of it."""

    content: bytes
    content_type: str
    etag: str
    updated: datetime


@dataclass(frozen=True, slots=True)
class DocumentStamp:
    """An entry of a document-id list: the id, its registration and when it last changed."""

    document_id: str
    registration: str | None
    updated: datetime


class DocumentStore(Protocol):
    """State and profile documents. Conditional writes are atomic: `replace` and `delete`
    with an expected version change nothing when the stored version differs."""

    async def get(self, ref: DocumentRef) -> StoredDocument | None: ...

    async def create(self, ref: DocumentRef, doc: StoredDocument) -> bool:
        """Insert; False (and nothing written) when the document already exists."""
        ...

    async def replace(
        self, ref: DocumentRef, expected: StoredDocument, doc: StoredDocument
    ) -> bool:
        """Overwrite only the version `expected`; False when it changed or disappeared."""
        ...

    async def delete(
        self, ref: DocumentRef, expected: StoredDocument | None
    ) -> StoredDocument | None:
        """Delete (only version `expected`, when given); the deleted document or None."""
        ...

    async def list_ids(self, scope: DocumentScope, since: datetime | None) -> list[DocumentStamp]:
        """Documents of the scope updated strictly after `since`."""
        ...

    async def delete_all(self, scope: DocumentScope) -> list[DocumentStamp]:
        """Delete every document of the scope; the deleted ones."""
        ...

    async def ping(self) -> None: ...
