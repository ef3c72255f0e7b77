"""In-memory reference adapters, for fast unit tests of logic above the ports.

The statement, credential and attachment stores are held to the MongoDB adapters by the suites
of tests/contract (test_statement_store.py, test_credential_store.py, test_attachment_store.py),
each run against both. The event bus only records what is published (and may hand it to a
stand-in persister): no suite holds it to the Kafka adapter. None of them replaces the
integration tests on the real broker and store.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from lrs.codec import decode_accepted
from lrs.ports.attachments import MAX_ATTACHMENT_BYTES
from lrs.ports.credentials import Credential
from lrs.ports.events import OutgoingMessage
from lrs.ports.statements import AcceptedStatement, DuplicateId, InsertReport, StatementPage
from lrs.xapi.attachments import AttachmentPayload
from lrs.xapi.errors import PayloadTooLarge
from lrs.xapi.index import authority_key, index_statement
from lrs.xapi.query import Cursor, StatementQuery


class InMemoryStatementStore:
    def __init__(self) -> None:
        self._rows: dict[tuple[str, str], dict[str, Any]] = {}
        self._watermarks: dict[tuple[str, int], datetime] = {}

    async def insert_many(self, records: Sequence[AcceptedStatement]) -> InsertReport:
        report = InsertReport()
        for record in records:
            key = (record.tenant, record.statement_id)
            if key in self._rows:
                report.duplicates.append(DuplicateId(record, self._rows[key]["statement"]))
                continue
            index = index_statement(record.statement)
            self._rows[key] = {
                "statement": record.statement,
                "stored": record.stored,
                "index": index,
                "voided": False,
            }
            report.inserted += 1
            self._void(record.tenant, record.statement_id, index.voids)
        return report

    def _void(self, tenant: str, statement_id: str, target: str | None) -> None:
        """Voiding in either arrival order (Data 2.3.2); voiding statements are never voided."""
        if target:
            row = self._rows.get((tenant, target))
            if row and row["index"].voids is None:
                row["voided"] = True
        elif any(
            t == tenant and r["index"].voids == statement_id for (t, _), r in self._rows.items()
        ):
            self._rows[(tenant, statement_id)]["voided"] = True

    async def get_many(self, tenant: str, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        return {i: self._rows[(tenant, i)]["statement"] for i in ids if (tenant, i) in self._rows}

    async def wait_stored(
        self, tenant: str, ids: Sequence[str], within: float
    ) -> dict[str, dict[str, Any]]:
        """Polls; the memory store is written synchronously by `persisting_bus`."""
        deadline = asyncio.get_running_loop().time() + within
        while True:
            found = await self.get_many(tenant, ids)
            if len(found) == len(set(ids)) or asyncio.get_running_loop().time() >= deadline:
                return found
            await asyncio.sleep(0.01)

    async def get_statement(
        self, tenant: str, statement_id: str, *, voided: bool
    ) -> dict[str, Any] | None:
        row = self._rows.get((tenant, statement_id))
        if row is None or row["voided"] != voided:
            return None
        statement: dict[str, Any] = row["statement"]
        return statement

    async def query(self, tenant: str, query: StatementQuery) -> StatementPage:
        rows = [
            r
            for (t, _), r in self._rows.items()
            if t == tenant and not r["voided"] and _matches(r, self._chain(tenant, r), query)
        ]
        rows.sort(key=lambda r: (r["stored"], r["statement"]["id"]), reverse=not query.ascending)
        page = rows[: query.limit]
        more = len(rows) > query.limit and page
        cursor = Cursor(page[-1]["stored"], page[-1]["statement"]["id"]) if more else None
        return StatementPage([r["statement"] for r in page], cursor)

    def _chain(self, tenant: str, row: Mapping[str, Any]) -> list[Any]:
        """The row's index and those of the statements it targets through StatementRefs
        (Communication 2.1.3 "Filter Conditions for StatementRefs")."""
        chain = [row["index"]]
        for _ in range(10):
            target = self._rows.get((tenant, chain[-1].ref or ""))
            if target is None:
                break
            chain.append(target["index"])
        return chain

    async def record_watermarks(self, topic: str, caught_up: Mapping[int, datetime]) -> None:
        for partition, moment in caught_up.items():
            previous = self._watermarks.get((topic, partition))
            self._watermarks[(topic, partition)] = max(previous or moment, moment)

    async def watermarks(self, topic: str) -> dict[int, datetime]:
        return {p: moment for (t, p), moment in self._watermarks.items() if t == topic}

    async def consistent_through(self, topic: str, partitions: int) -> datetime | None:
        marks = [self._watermarks.get((topic, p)) for p in range(partitions)]
        present = [m for m in marks if m is not None]
        return min(present) if len(present) == partitions else None

    async def ping(self) -> None:
        return None

    def stored_statements(self, tenant: str | None) -> list[tuple[str, dict[str, Any]]]:
        """Every stored statement (of one tenant, when given) with its tenant, voided or not:
        what the progress fake reads where the MongoDB one reads `statements`."""
        return [(t, r["statement"]) for (t, _), r in self._rows.items() if tenant in (None, t)]


def _matches(row: Mapping[str, Any], chain: Sequence[Any], query: StatementQuery) -> bool:
    """Each non-time filter may be met by the statement or by one it targets."""
    stored: datetime = row["stored"]
    checks = [
        query.agent is None
        or any(
            query.agent in (i.related_agents if query.related_agents else i.agents) for i in chain
        ),
        query.verb is None or any(i.verb == query.verb for i in chain),
        query.activity is None
        or any(
            query.activity in i.related_activities
            if query.related_activities
            else i.activity == query.activity
            for i in chain
        ),
        query.registration is None or any(i.registration == query.registration for i in chain),
        query.authority is None
        or authority_key(row["statement"].get("authority")) == query.authority,
        query.since is None or stored > query.since,
        query.until is None or stored <= query.until,
        query.cursor is None or _after_cursor(row, query.cursor, query.ascending),
    ]
    return all(checks)


def _after_cursor(row: Mapping[str, Any], cursor: Cursor, ascending: bool) -> bool:
    position = (row["stored"], row["statement"]["id"])
    mark = (cursor.stored, cursor.statement_id)
    return position > mark if ascending else position < mark


class InMemoryEventBus:
    """Records published messages; optionally hands each to a callback (a stand-in persister).
    While `failure` is set, `publish` raises it and records nothing (a broker outage)."""

    def __init__(
        self, on_publish: Callable[[str, OutgoingMessage], Awaitable[None]] | None = None
    ) -> None:
        self.published: list[tuple[str, OutgoingMessage]] = []
        self.tombstoned: list[tuple[str, bytes]] = []
        # Every record in the order produced: (topic, key, value; None for a tombstone).
        self.records: list[tuple[str, bytes, bytes | None]] = []
        self.failure: Exception | None = None
        self._on_publish = on_publish

    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        if self.failure is not None:
            raise self.failure
        for message in messages:
            self.published.append((topic, message))
            self.records.append((topic, message.key, message.value))
            if self._on_publish is not None:
                await self._on_publish(topic, message)

    async def tombstones(self, topic: str, keys: Sequence[bytes]) -> None:
        """lrs.ports.events.ErasureBus: a null value for every key."""
        if self.failure is not None:
            raise self.failure
        self.tombstoned.extend((topic, key) for key in keys)
        self.records.extend((topic, key, None) for key in keys)

    async def ping(self) -> None:
        return None


def persisting_bus(store: InMemoryStatementStore) -> InMemoryEventBus:
    """A bus whose 'persister' writes each statement to `store` at once."""

    async def persist(topic: str, message: OutgoingMessage) -> None:
        await store.insert_many([decode_accepted(message.value, message.headers)])

    return InMemoryEventBus(persist)


class InMemoryCredentialStore:
    """The credentials given, and those inserted since. `finds` and `inserted` record every
    lookup and insert in order (what tests of the credential cache and bootstrap count)."""

    def __init__(self, *credentials: Credential) -> None:
        self._credentials: dict[str, Credential] = {c.key: c for c in credentials}
        self.finds: list[str] = []
        self.inserted: list[Credential] = []

    async def find(self, key: str) -> Credential | None:
        self.finds.append(key)
        return self._credentials.get(key)

    async def insert(self, credential: Credential) -> None:
        """A key that exists is refused, as MongoDB's unique `_id` refuses it."""
        if credential.key in self._credentials:
            raise ValueError(f"a credential with key {credential.key!r} exists")
        self.inserted.append(credential)
        self._credentials[credential.key] = credential

    async def count(self) -> int:
        return len(self._credentials)

    async def list_credentials(self, tenant: str | None) -> list[Credential]:
        found = [c for c in self._credentials.values() if tenant in (None, c.tenant)]
        return sorted(found, key=lambda c: c.key)

    async def revoke(self, key: str) -> Credential | None:
        found = self._credentials.get(key)
        if found is None:
            return None
        self._credentials[key] = dataclasses.replace(found, revoked=True)
        return self._credentials[key]


class InMemoryAttachmentStore:
    def __init__(self) -> None:
        self._payloads: dict[tuple[str, str], AttachmentPayload] = {}

    async def put_many(self, tenant: str, payloads: Sequence[AttachmentPayload]) -> None:
        too_big = [p.sha2 for p in payloads if len(p.data) > MAX_ATTACHMENT_BYTES]
        if too_big:  # as MongoDB's store refuses them
            raise PayloadTooLarge(
                f"attachment(s) {', '.join(too_big)} exceed {MAX_ATTACHMENT_BYTES} bytes"
            )
        for payload in payloads:
            self._payloads.setdefault((tenant, payload.sha2), payload)

    async def get_many(self, tenant: str, sha2s: Sequence[str]) -> dict[str, AttachmentPayload]:
        return {s: self._payloads[(tenant, s)] for s in sha2s if (tenant, s) in self._payloads}
