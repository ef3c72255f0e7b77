"""Streaming a tenant's statements out as JSON lines or CSV, a page of the store at a time.

The filters are those of GET statements (Communication 2.1.3), parsed by the one parser,
`lrs.xapi.query.parse_query`. Statements come oldest first (`stored`, then id), so an import
of the file stores them in the order the LRS first received them. The LRS never returns voided
statements from a query; an export writes each voided statement just before the statement that
voids it, so that an export holds everything needed to rebuild the tenant (Data 2.3.2).
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from lrs.ports.statements import StatementReader
from lrs.transfer.csv_rows import COLUMNS, csv_row
from lrs.xapi.errors import BadRequest, Issue
from lrs.xapi.limits import StatementLimits
from lrs.xapi.query import STATEMENT_FILTERS, StatementQuery, parse_query

EXPORT_FILTERS = STATEMENT_FILTERS
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}
VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"
PAGE_SIZE = 500


@dataclass(frozen=True, slots=True)
class Exported:
    """One statement of an export; `voided` when a later statement of the export voids it."""

    statement: dict[str, Any]
    voided: bool = False


def export_query(
    filters: Mapping[str, str], *, limits: StatementLimits, page_size: int = PAGE_SIZE
) -> StatementQuery:
    """The query of an export: the Statement API's filters (400 naming any other parameter),
    oldest first, `page_size` statements per read of the store."""
    unknown = sorted(set(filters) - set(EXPORT_FILTERS))
    if unknown:
        message = (
            f"unknown export filter(s): {', '.join(unknown)}; known: {', '.join(EXPORT_FILTERS)}"
        )
        raise BadRequest(message, [Issue(unknown[0], "export-filter", message)])
    query = parse_query(filters, max_limit=page_size, limits=limits)
    return replace(query, ascending=True, limit=page_size)


def check_format(name: str) -> str:
    if name not in MEDIA_TYPES:
        raise BadRequest(f"format: must be one of {', '.join(MEDIA_TYPES)}, not {name!r}")
    return name


async def exported_pages(
    store: StatementReader, tenant: str, query: StatementQuery
) -> AsyncIterator[list[Exported]]:
    """The matching statements, one store page at a time (the next page is read only when the
    consumer asks for it, so memory holds one page whatever the tenant's size)."""
    while True:
        page = await store.query(tenant, query)
        yield await _with_voided_targets(store, tenant, page.statements)
        if page.next_cursor is None:
            return
        query = query.after(page.next_cursor)


async def _with_voided_targets(
    store: StatementReader, tenant: str, statements: Sequence[dict[str, Any]]
) -> list[Exported]:
    """The page with, before each voiding statement, the statement it voids (if stored)."""
    out: list[Exported] = []
    for statement in statements:
        target = voided_target_id(statement)
        if target is not None:
            voided = await store.get_statement(tenant, target, voided=True)
            if voided is not None:
                out.append(Exported(voided, voided=True))
        out.append(Exported(statement))
    return out


def voided_target_id(statement: Mapping[str, Any]) -> str | None:
    """The id a voiding statement voids (Data 2.3.2), None for any other statement."""
    verb = statement.get("verb")
    obj = statement.get("object")
    if not (isinstance(verb, Mapping) and verb.get("id") == VOIDED_VERB):
        return None
    if not (isinstance(obj, Mapping) and obj.get("objectType") == "StatementRef"):
        return None
    target = obj.get("id")
    return str(target) if target else None


async def encode(pages: AsyncIterator[list[Exported]], fmt: str) -> AsyncIterator[bytes]:
    """Bytes of the export, one chunk per page (CSV: the header row comes with the first)."""
    first = True
    async for page in pages:
        if fmt == "csv":
            yield _csv_chunk(page, header=first)
        else:
            yield b"".join(orjson.dumps(item.statement) + b"\n" for item in page)
        first = False


def _csv_chunk(page: Sequence[Exported], *, header: bool) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    if header:
        writer.writerow(COLUMNS)
    writer.writerows(csv_row(item.statement, item.voided) for item in page)
    return buffer.getvalue().encode()


def export_stream(
    store: StatementReader, tenant: str, query: StatementQuery, fmt: str
) -> AsyncIterator[bytes]:
    """The whole export of `tenant` as a stream of byte chunks."""
    return encode(exported_pages(store, tenant, query), fmt)
