"""The seams between the LRS's logic and its I/O. Implementations live in `lrs.adapters`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from lrs.progress.registry import Team
from lrs.xapi.attachments import AttachmentPayload
from lrs.xapi.query import Cursor, StatementQuery


@dataclass(frozen=True, slots=True)
class Credential:
    """A key/secret pair of one tenant. Only a salted hash of the secret is kept."""

    key: str
    secret_hash: str
    tenant: str
    scopes: frozenset[str]
    authority: Mapping[str, Any]
    created_at: datetime
    expires_at: datetime | None = None
    revoked: bool = False
    label: str = ""


@dataclass(frozen=True, slots=True)
class Tenant:
    """An LRS "store" of one organisation. A disabled tenant's credentials are refused (403)."""

    name: str
    created_at: datetime
    label: str = ""
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the tenant whose data they reach, their scopes and statement authority."""

    tenant: str
    key: str
    scopes: frozenset[str]
    authority: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AcceptedStatement:
    """A canonical statement the API accepted, as it travels on `xapi.statements`."""

    tenant: str
    statement: dict[str, Any]
    stored: datetime
    actor_ifi: str
    # Whether the credential that sent it may (re)define Activities (the `define` scope,
    # Communication 4.1). Travels as the `lrs_define` Kafka header, not in the value.
    define: bool = True

    @property
    def statement_id(self) -> str:
        return str(self.statement["id"])


@dataclass(frozen=True, slots=True)
class DuplicateId:
    """An incoming statement whose id was already stored; `existing` is the stored one."""

    incoming: AcceptedStatement
    existing: dict[str, Any]


@dataclass(slots=True)
class InsertReport:
    inserted: int = 0
    duplicates: list[DuplicateId] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StatementPage:
    statements: list[dict[str, Any]]
    next_cursor: Cursor | None


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A record to produce: key, JSON value bytes, headers."""

    key: bytes
    value: bytes
    headers: Sequence[tuple[str, bytes]] = ()


class StatementStore(Protocol):
    """Where statements are kept and queried (the persister writes; the API reads)."""

    async def insert_many(self, records: Sequence[AcceptedStatement]) -> InsertReport:
        """Idempotent by (tenant, id): a record whose id exists is reported, not written."""
        ...

    async def get_many(self, tenant: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Stored statements by id (voided or not)."""
        ...

    async def get_statement(
        self, tenant: str, statement_id: str, *, voided: bool
    ) -> dict[str, Any] | None:
        """One statement, if stored and its voided state is `voided` (Communication 2.1.3)."""
        ...

    async def wait_stored(
        self, tenant: str, ids: Sequence[str], within: float
    ) -> dict[str, dict[str, Any]]:
        """The stored statements among `ids`, waiting up to `within` seconds for all of them."""
        ...

    async def query(self, tenant: str, query: StatementQuery) -> StatementPage:
        """Non-voided statements matching the filters, one page, ordered by (stored, id)."""
        ...

    async def record_watermarks(self, topic: str, caught_up: Mapping[int, datetime]) -> None:
        """Per-partition times up to which the persister had stored everything."""
        ...

    async def consistent_through(self, topic: str, partitions: int) -> datetime | None:
        """The earliest of the partitions' watermarks (None until every partition has one)."""
        ...

    async def watermarks(self, topic: str) -> dict[int, datetime]:
        """The recorded watermark of each partition that has one."""
        ...

    async def ping(self) -> None: ...


class AttachmentStore(Protocol):
    """Attachment bytes, content-addressed by SHA-2 per tenant (the claim check: they are stored
    before the statement is produced and never travel through Kafka)."""

    async def put_many(self, tenant: str, payloads: Sequence[AttachmentPayload]) -> None: ...

    async def get_many(self, tenant: str, sha2s: Sequence[str]) -> dict[str, AttachmentPayload]: ...


class CredentialStore(Protocol):
    async def find(self, key: str) -> Credential | None: ...

    async def insert(self, credential: Credential) -> None: ...

    async def count(self) -> int: ...


class CredentialRegistry(CredentialStore, Protocol):
    """Credential administration on top of lookup (the admin API and `lrs credentials`)."""

    async def list_credentials(self, tenant: str | None) -> list[Credential]:
        """Every credential (of one tenant, when given), revoked ones included."""
        ...

    async def revoke(self, key: str) -> Credential | None:
        """Mark a credential revoked; the updated credential, or None when the key is unknown."""
        ...


class TenantStore(Protocol):
    """The tenants. A tenant with no record is active (stores created before tenants existed)."""

    async def get(self, name: str) -> Tenant | None: ...

    async def insert(self, tenant: Tenant) -> bool:
        """False (nothing written) when a tenant of that name exists."""
        ...

    async def list_tenants(self) -> list[Tenant]: ...

    async def set_disabled(self, name: str, disabled: bool) -> Tenant | None:
        """The updated tenant, or None when it does not exist."""
        ...


class EventBus(Protocol):
    """Publishing to Kafka topics; `publish` returns once the broker acknowledged (acks=all)."""

    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None: ...

    async def ping(self) -> None: ...


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


@dataclass(frozen=True, slots=True)
class KnownAgent:
    """What the LRS has seen of one Agent (one identifier): for the Person Object."""

    identifier: Mapping[str, Any]
    names: list[str]


class ActivityStore(Protocol):
    """Canonical Activity definitions per tenant, merged from statements (Data 2.4.4.1).
    Merging is atomic per field, so concurrent writers never lose each other's updates, and
    replaying statements changes nothing."""

    async def merge(self, records: Sequence[AcceptedStatement]) -> None: ...

    async def get(self, tenant: str, activity_id: str) -> dict[str, Any] | None:
        """The canonical definition, or None when the Activity was never seen."""
        ...

    async def ping(self) -> None: ...


class AgentStore(Protocol):
    """Agents seen in statements per tenant, by canonical IFI, with the names they used."""

    async def merge(self, records: Sequence[AcceptedStatement]) -> None: ...

    async def get(self, tenant: str, ifi: str) -> KnownAgent | None: ...

    async def ping(self) -> None: ...


@dataclass(frozen=True, slots=True)
class LearnerProgressDoc:
    """One learner's stored progress (`progress_learners`, written by the progress consumer)."""

    learner: str
    state: Mapping[str, Any]  # LearnerState.to_dict()
    summary: Mapping[str, Any]
    teams: Sequence[str]
    version: int


@dataclass(frozen=True, slots=True)
class TeamProgressDoc:
    """One team's stored progress (`progress_teams`, written by the progress consumer)."""

    team: str
    summary: Mapping[str, Any]
    members: Sequence[str]
    version: int


class ProgressReader(Protocol):
    """Reading the progress the consumers derived (the API never writes it)."""

    async def learner(self, tenant: str, learner: str) -> LearnerProgressDoc | None: ...

    async def learners(self, tenant: str, learners: Sequence[str]) -> dict[str, LearnerProgressDoc]:
        """The stored progress of those of `learners` that have any."""
        ...

    async def team(self, tenant: str, team: str) -> TeamProgressDoc | None: ...

    async def summaries(self, tenant: str, limit: int) -> list[Mapping[str, Any]]:
        """The stored summaries of at most `limit` of the tenant's learners, the most recently
        changed first (the organisation overview)."""
        ...

    async def teams(self, tenant: str) -> list[TeamProgressDoc]:
        """Every team of the tenant with stored progress."""
        ...


class TeamRegistry(Protocol):
    """The team registry (`teams`). Writes are conditional on the version read before, so two
    concurrent changes of one team never lose each other."""

    async def get(self, tenant: str, team: str) -> Team | None: ...

    async def list_teams(self, tenant: str) -> list[Team]: ...

    async def teams_of(self, tenant: str, learner: str) -> list[str]:
        """Ids of the registry teams that list this learner."""
        ...

    async def teams_of_members(self, tenant: str, learners: Sequence[str]) -> dict[str, list[str]]:
        """`teams_of` for many learners in one read (learners no team lists are left out)."""
        ...

    async def create(self, team: Team) -> bool:
        """Insert; False (nothing written) when the team id exists in the tenant."""
        ...

    async def replace(self, expected_version: int, team: Team) -> bool:
        """Overwrite only if the stored version is `expected_version`."""
        ...

    async def delete(self, tenant: str, team: str) -> Team | None:
        """Delete; the deleted team, or None when there was none."""
        ...
