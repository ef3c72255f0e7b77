"""Accepting statements: validate -> canonicalise -> dedupe -> conflict check -> produce -> ack.

Kafka is the first and only write of a statement (docs/decisions/0001). In `stored`
acknowledgement mode the call returns only once the persister has written every statement to
the store, and then compares what was stored with what was sent, so a concurrent write of the
same id with other content is reported as 409 here too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lrs import metrics
from lrs.codec import encode_accepted
from lrs.ports import AcceptedStatement, AttachmentStore, EventBus, Principal, StatementStore
from lrs.services.auth import has_scope
from lrs.settings import AckMode
from lrs.xapi.attachments import AttachmentPayload, check_attachments, signed_statement_parts
from lrs.xapi.canonical import canonicalize
from lrs.xapi.equivalence import statements_equivalent
from lrs.xapi.errors import DuplicateStatementId, Issue, StatementConflict, Unavailable
from lrs.xapi.ifi import actor_ifi
from lrs.xapi.limits import DEFAULT_LIMITS, StatementLimits, check_statement_limits
from lrs.xapi.signature import verify_signature
from lrs.xapi.validation import validate_statements


@dataclass(frozen=True)
class IngestDeps:
    """Everything `ingest` needs from the outside world, injected."""

    store: StatementStore
    bus: EventBus
    attachments: AttachmentStore
    clock: Callable[[], datetime]
    new_id: Callable[[], str]
    topic: str
    ack_mode: AckMode
    ack_timeout: float
    source: str = "lrs-api"
    limits: StatementLimits = DEFAULT_LIMITS


def truncate_to_millis(moment: datetime) -> datetime:
    """`stored` is kept at millisecond precision, the precision MongoDB dates have."""
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def check_request(
    raws: Sequence[Any],
    payloads: Mapping[str, AttachmentPayload],
    spec_version: str,
    limits: StatementLimits = DEFAULT_LIMITS,
) -> None:
    """Every rule on the statements as sent: first the limits of what the pipeline can hold
    (`lrs.xapi.limits`: count, depth, identifier lengths, size; Communication 3.2), then Data 2
    (validation), Communication 1.5.2 (every attachment has its part or a fileUrl, every part
    is used, hashes match) and Data 2.6 (a signature attachment holds a valid JWS of this very
    statement)."""
    check_statement_limits(raws, limits)
    validate_statements(list(raws), version=spec_version)
    check_attachments(raws, payloads)
    for raw in raws:
        for _, signature in signed_statement_parts(raw, payloads):
            verify_signature(raw, signature.data)


def prepare(
    raws: Sequence[Any], principal: Principal, spec_version: str, deps: IngestDeps
) -> list[AcceptedStatement]:
    """Canonicalise a request's checked statements and reject repeated ids (pure)."""
    stored = truncate_to_millis(deps.clock())
    define = has_scope(principal, "define")
    records = []
    for raw in raws:
        statement = canonicalize(
            raw,
            authority=principal.authority,
            stored=stored,
            new_id=deps.new_id,
            spec_version=spec_version,
        )
        records.append(
            AcceptedStatement(
                principal.tenant, statement, stored, actor_ifi(statement["actor"]), define
            )
        )
    _reject_duplicate_ids(records)
    return records


def _reject_duplicate_ids(records: Sequence[AcceptedStatement]) -> None:
    """Communication 2.1.2: a batch with two statements of the same id is rejected (400)."""
    seen: dict[str, int] = {}
    for position, record in enumerate(records):
        first = seen.setdefault(record.statement_id, position)
        if first != position:
            raise DuplicateStatementId(
                f"$[{position}].id: {record.statement_id} is also the id of $[{first}];"
                " ids must be unique within a request (Communication 2.1.2)",
                [Issue(f"$[{position}].id", "duplicate-id-in-batch", "id repeated in batch")],
            )


async def ingest(
    raws: Sequence[Any],
    principal: Principal,
    spec_version: str,
    deps: IngestDeps,
    payloads: Mapping[str, AttachmentPayload] | None = None,
) -> list[str]:
    """Accept statements all-or-nothing; return their ids in request order.

    Attachment bytes are stored (content-addressed) before the statements are produced, so a
    statement on the topic never refers to bytes the LRS does not have.
    """
    payloads = payloads or {}
    check_request(raws, payloads, spec_version, deps.limits)
    records = prepare(raws, principal, spec_version, deps)
    new = await _drop_already_stored(records, deps)
    if new:
        await deps.attachments.put_many(principal.tenant, list(payloads.values()))
        await deps.bus.publish(deps.topic, [encode_accepted(r, source=deps.source) for r in new])
        if deps.ack_mode == "stored":
            await _wait_until_stored(new, deps)
    metrics.STATEMENTS_ACCEPTED.inc(len(new))
    return [r.statement_id for r in records]


async def _drop_already_stored(
    records: list[AcceptedStatement], deps: IngestDeps
) -> list[AcceptedStatement]:
    """Statements whose id is stored: equivalent ones are skipped (a retry is never an error,
    Data 2.3.1); different ones make the whole request fail with 409 (Communication 2.1.1)."""
    tenant = records[0].tenant if records else ""
    existing = await deps.store.get_many(tenant, [r.statement_id for r in records])
    _raise_on_conflict(records, existing)
    return [r for r in records if r.statement_id not in existing]


def _raise_on_conflict(records: Sequence[AcceptedStatement], stored: dict[str, Any]) -> None:
    for record in records:
        other = stored.get(record.statement_id)
        if other is not None and not statements_equivalent(record.statement, other):
            raise StatementConflict(
                f"statement {record.statement_id} already exists with different content"
                " (Communication 2.1.1)"
            )


async def _wait_until_stored(records: list[AcceptedStatement], deps: IngestDeps) -> None:
    """Wait until the persister has written every record, then check for a concurrent
    conflicting write. Unavailable (503) if the persister is not keeping up."""
    ids = [r.statement_id for r in records]
    stored = await deps.store.wait_stored(records[0].tenant, ids, deps.ack_timeout)
    missing = [i for i in ids if i not in stored]
    if missing:
        metrics.ACK_TIMEOUTS.inc()
        raise Unavailable(
            f"{len(missing)} statement(s) reached the broker but were not stored within"
            f" {deps.ack_timeout:.0f}s; retry with the same statement ids",
            [Issue("$", "not-yet-stored", statement_id) for statement_id in missing],
        )
    _raise_on_conflict(records, stored)
