"""Reading statements (xAPI Communication 2.1.3) and the honest Consistent-Through time."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from lrs.ports.attachments import AttachmentStore
from lrs.ports.credentials import Principal
from lrs.ports.statements import StatementReader
from lrs.services.auth import has_scope
from lrs.xapi.attachments import AttachmentPayload
from lrs.xapi.errors import NotFound
from lrs.xapi.formatting import format_statement
from lrs.xapi.index import authority_key
from lrs.xapi.query import StatementQuery

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


WATERMARK_REUSE = timedelta(milliseconds=500)


@dataclass
class WatermarkCache:
    """The persister's watermark as this process last read it, used again for `reuse`: a
    Consistent-Through that was true a moment ago is still true (every statement stored before
    it is still retrievable; it is only less recent), so under load a GET of statements reads
    the store once, not twice. Nothing is kept while not every partition has reported."""

    reuse: timedelta = WATERMARK_REUSE
    value: datetime | None = None
    read_at: datetime | None = None

    def fresh(self, now: datetime) -> datetime | None:
        if self.value is None or self.read_at is None:
            return None
        return self.value if timedelta(0) <= now - self.read_at < self.reuse else None

    def keep(self, value: datetime | None, now: datetime) -> None:
        self.value, self.read_at = value, now


@dataclass(frozen=True)
class ReadDeps:
    store: StatementReader
    attachments: AttachmentStore
    topic: str
    partitions: int
    consistency_margin: timedelta
    watermark: WatermarkCache = field(default_factory=WatermarkCache)


async def consistent_through(deps: ReadDeps, now: datetime) -> datetime:
    """Every statement with an earlier `stored` is retrievable (see docs/decisions/0003).

    The persister records, per partition, when it had stored everything the broker held; the
    earliest of those, less `consistency_margin`, is the answer. The margin is the deadline
    within which ingest requires the broker's acknowledgement, counted from `stored` (a later
    one is refused, never acknowledged), so it bounds `stored` -> broker for every acknowledged
    statement. Until every partition has reported: the epoch. The watermark read is used
    again for a moment (`WatermarkCache`).
    """
    watermark = deps.watermark.fresh(now)
    if watermark is None:
        watermark = await deps.store.consistent_through(deps.topic, deps.partitions)
        deps.watermark.keep(watermark, now)
    if watermark is None:
        return EPOCH
    return max(EPOCH, min(watermark, now) - deps.consistency_margin)


def only_mine(principal: Principal) -> str | None:
    """For a caller limited to `statements/read/mine` (Communication 4.1): the authority key its
    statements carry; None when it may read every statement of its tenant. A principal with no
    usable authority key sees nothing ("\x00" matches no statement)."""
    if has_scope(principal, "statements/read"):
        return None
    return authority_key(principal.authority) or "\x00"


async def get_one(
    deps: ReadDeps, principal: Principal, query: StatementQuery, languages: Sequence[str]
) -> dict[str, Any]:
    """GET by statementId (not voided) or voidedStatementId (voided only); 404 otherwise."""
    voided = query.voided_statement_id is not None
    statement_id = query.voided_statement_id if voided else query.statement_id
    assert statement_id is not None
    statement = await deps.store.get_statement(principal.tenant, statement_id, voided=voided)
    mine = only_mine(principal)
    if statement is not None and mine and authority_key(statement.get("authority")) != mine:
        statement = None  # another credential's statement: as if it did not exist
    if statement is None:
        kind = "voided statement" if voided else "statement"
        raise NotFound(f"no {kind} with id {statement_id}")
    return format_statement(statement, query.format, languages)


async def get_many(
    deps: ReadDeps,
    principal: Principal,
    query: StatementQuery,
    languages: Sequence[str],
    params: dict[str, str],
) -> dict[str, Any]:
    """A StatementResult: one page and, when there is more, a `more` link with a cursor."""
    page = await deps.store.query(principal.tenant, replace(query, authority=only_mine(principal)))
    result: dict[str, Any] = {
        "statements": [format_statement(s, query.format, languages) for s in page.statements],
        "more": "",
    }
    if page.next_cursor is not None:
        next_params = {k: v for k, v in params.items() if k != "cursor"}
        next_params["cursor"] = page.next_cursor.encode()
        result["more"] = "/xapi/statements?" + urlencode(next_params)
    return result


async def attachments_of(
    deps: ReadDeps, principal: Principal, statements: Sequence[Mapping[str, Any]]
) -> list[AttachmentPayload]:
    """The stored attachment bytes the returned statements refer to by SHA-2 (each once)."""
    wanted: list[str] = []
    for statement in statements:
        for holder in (statement, statement.get("object") or {}):
            wanted += [a["sha2"] for a in holder.get("attachments") or [] if a.get("sha2")]
    found = await deps.attachments.get_many(principal.tenant, list(dict.fromkeys(wanted)))
    return [found[sha2] for sha2 in dict.fromkeys(wanted) if sha2 in found]
