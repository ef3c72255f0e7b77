"""Statements as they are accepted, stored and read back."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from lrs.xapi.query import Cursor, StatementQuery


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


class StatementLookup(Protocol):
    async def get_many(self, tenant: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Stored statements by id (voided or not)."""
        ...


class StatementWriter(StatementLookup, Protocol):
    """The persister's role: idempotent inserts and the watermarks behind Consistent-Through."""

    async def insert_many(self, records: Sequence[AcceptedStatement]) -> InsertReport:
        """Idempotent by (tenant, id): a record whose id exists is reported, not written."""
        ...

    async def record_watermarks(self, topic: str, caught_up: Mapping[int, datetime]) -> None:
        """Per-partition times up to which the persister had stored everything."""
        ...

    async def watermarks(self, topic: str) -> dict[int, datetime]:
        """The recorded watermark of each partition that has one."""
        ...


class StatementReader(Protocol):
    """The API's read role (GET /statements, export): queries and Consistent-Through."""

    async def get_statement(
        self, tenant: str, statement_id: str, *, voided: bool
    ) -> dict[str, Any] | None:
        """One statement, if stored and its voided state is `voided` (Communication 2.1.3)."""
        ...

    async def query(self, tenant: str, query: StatementQuery) -> StatementPage:
        """Non-voided statements matching the filters, one page, ordered by (stored, id)."""
        ...

    async def consistent_through(self, topic: str, partitions: int) -> datetime | None:
        """The earliest of the partitions' watermarks (None until every partition has one)."""
        ...

    async def ping(self) -> None: ...


class AcknowledgementWaiter(StatementLookup, Protocol):
    """The API's write side: which ids are stored already, and waiting for statements to be
    stored before acknowledging them (LRS_ACK_MODE)."""

    async def wait_stored(
        self, tenant: str, ids: Sequence[str], within: float
    ) -> dict[str, dict[str, Any]]:
        """The stored statements among `ids`, waiting up to `within` seconds for all of them."""
        ...


class StatementStore(StatementWriter, StatementReader, AcknowledgementWaiter, Protocol):
    """Every role at once: what the adapters implement and the contract suite checks."""
