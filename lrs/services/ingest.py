"""Accepting statements: validate -> canonicalise -> dedupe -> conflict check -> stamp `stored`
-> produce -> ack.

Kafka is the first and only write of a statement (docs/decisions/0001). `stored` is taken
immediately before producing, and the broker must acknowledge within `produce_deadline` of
that instant, or the request is refused (503): the bound Consistent-Through relies on
(docs/decisions/0003). In `stored`
acknowledgement mode the call returns only once the persister has written every statement to
the store, and then compares what was stored with what was sent, so a concurrent write of the
same id with other content is reported as 409 here too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lrs import metrics
from lrs.codec import encode_accepted
from lrs.ports.attachments import AttachmentStore
from lrs.ports.credentials import Principal
from lrs.ports.events import EventBus
from lrs.ports.statements import AcceptedStatement, AcknowledgementWaiter
from lrs.services.auth import has_scope
from lrs.settings import AckMode
from lrs.xapi.attachments import AttachmentPayload, check_attachments, signed_statement_parts
from lrs.xapi.canonical import canonicalize
from lrs.xapi.equivalence import statements_equivalent
from lrs.xapi.errors import DuplicateStatementId, Issue, StatementConflict, Unavailable
from lrs.xapi.ifi import actor_ifi
from lrs.xapi.limits import DEFAULT_LIMITS, StatementLimits, check_statement_limits
from lrs.xapi.signature import verify_signature
from lrs.xapi.timefmt import floor_to_millis
from lrs.xapi.validation import validate_statements


@dataclass(frozen=True)
class IngestDeps:
    """Everything `ingest` needs from the outside world, injected."""

    store: AcknowledgementWaiter
    bus: EventBus
    attachments: AttachmentStore
    clock: Callable[[], datetime]
    new_id: Callable[[], str]
    topic: str
    ack_mode: AckMode
    ack_timeout: float
    source: str = "lrs-api"
    limits: StatementLimits = DEFAULT_LIMITS
    # The longest time from taking `stored` to the broker's acknowledgement; the read side
    # holds Consistent-Through back by the same amount (LRS_PRODUCE_TIMEOUT_SECONDS).
    produce_deadline: timedelta = timedelta(seconds=2)


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
    """Canonicalise a request's checked statements and reject repeated ids (pure). Their
    `stored` is provisional: `stamp` sets the real one just before they are produced."""
    stored = floor_to_millis(deps.clock())
    records = [_accepted(raw, principal, spec_version, stored, deps.new_id) for raw in raws]
    _reject_duplicate_ids(records)
    return records


def stamp(
    raws: Sequence[Any],
    records: Sequence[AcceptedStatement],
    chosen: Sequence[AcceptedStatement],
    principal: Principal,
    spec_version: str,
    stored: datetime,
) -> list[AcceptedStatement]:
    """The `chosen` records canonicalised again with their final `stored` (Data 2.4.8),
    keeping the ids `prepare` gave them (`records` are `prepare`'s, in the order of `raws`)."""
    keep = {id(record) for record in chosen}
    return [
        _accepted(raw, principal, spec_version, stored, _given(record.statement_id))
        for raw, record in zip(raws, records, strict=True)
        if id(record) in keep
    ]


def _given(statement_id: str) -> Callable[[], str]:
    return lambda: statement_id


def _accepted(
    raw: Any,
    principal: Principal,
    spec_version: str,
    stored: datetime,
    new_id: Callable[[], str],
) -> AcceptedStatement:
    statement = canonicalize(
        raw,
        authority=principal.authority,
        stored=stored,
        new_id=new_id,
        spec_version=spec_version,
    )
    define = has_scope(principal, "define")
    return AcceptedStatement(
        principal.tenant, statement, stored, actor_ifi(statement["actor"]), define
    )


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
    statement on the topic never refers to bytes the LRS does not have. `stored` is taken
    after that, immediately before producing (Communication 2.1.3, docs/decisions/0003).
    """
    payloads = payloads or {}
    check_request(raws, payloads, spec_version, deps.limits)
    records = prepare(raws, principal, spec_version, deps)
    new = records
    if _reads_before_producing(records, payloads, deps):
        new = await _drop_already_stored(records, _given_ids(raws), deps)
    if new:
        await deps.attachments.put_many(principal.tenant, list(payloads.values()))
        stored = floor_to_millis(deps.clock())
        new = stamp(raws, records, new, principal, spec_version, stored)
        await _produce_within_deadline(new, deps)
        if deps.ack_mode == "stored":
            new = _stored_by_this_request(new, await _wait_until_stored(new, deps))
    metrics.STATEMENTS_ACCEPTED.inc(len(new))
    return [r.statement_id for r in records]


async def _produce_within_deadline(records: list[AcceptedStatement], deps: IngestDeps) -> None:
    """Produce the records; Unavailable (503) unless the broker acknowledged them within
    `deps.produce_deadline` of their `stored`, measured on the clock that gave `stored`.

    Consistent-Through is held back by that deadline (docs/decisions/0003), so a statement
    acknowledged here reached the broker no later than `stored + produce_deadline`.
    """
    stored = records[0].stored
    answered = deps.ack_mode == "stored"  # `_wait_until_stored` reports a conflict
    messages = [encode_accepted(r, source=deps.source, answered=answered) for r in records]
    remaining = (stored + deps.produce_deadline - deps.clock()).total_seconds()
    try:
        if remaining <= 0:
            raise TimeoutError
        async with asyncio.timeout(remaining):
            await deps.bus.publish(deps.topic, messages)
    except TimeoutError:
        raise _late(deps) from None
    if deps.clock() - stored > deps.produce_deadline:
        raise _late(deps)


def _late(deps: IngestDeps) -> Unavailable:
    return Unavailable(
        "the broker did not acknowledge the statements within"
        f" {deps.produce_deadline.total_seconds():g}s of their stored time;"
        " retry with the same statement ids"
    )


def _given_ids(raws: Sequence[Any]) -> list[bool]:
    """For each statement of the request, whether the client gave its id (one the LRS makes
    up, a random UUID, cannot be stored already)."""
    return [isinstance(raw, Mapping) and raw.get("id") is not None for raw in raws]


def _reads_before_producing(
    records: Sequence[AcceptedStatement],
    payloads: Mapping[str, AttachmentPayload],
    deps: IngestDeps,
) -> bool:
    """Whether the request's given ids are looked up in the store before anything is produced.

    Not for one statement without attachments when the answer waits for the stored version
    (`stored` mode): the persister finds a held id itself, stores nothing and changes no other
    Object (Communication 2.1.1, 2.1.2: MUST NOT modify), and forwards the statement the store
    holds instead (docs/decisions/0002). That ends the wait, which answers an equivalent
    statement as stored and a different one 409. A batch is read first, since a conflict fails
    it whole and none of it may be produced; so is a request with attachments, whose bytes are
    stored before producing (a conflict would leave them behind); and the `kafka` mode, which
    answers before the persister has looked.
    """
    return deps.ack_mode != "stored" or len(records) != 1 or bool(payloads)


async def _drop_already_stored(
    records: list[AcceptedStatement], given: Sequence[bool], deps: IngestDeps
) -> list[AcceptedStatement]:
    """Statements whose id is stored: equivalent ones are skipped (a retry is never an error,
    Data 2.3.1); different ones make the whole request fail with 409 (Communication 2.1.1).
    Only ids the client gave are looked up: a request without any reads nothing."""
    asked = [r.statement_id for r, gave in zip(records, given, strict=True) if gave]
    if not asked:
        return records
    existing = await deps.store.get_many(records[0].tenant, asked)
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


async def _wait_until_stored(
    records: list[AcceptedStatement], deps: IngestDeps
) -> dict[str, dict[str, Any]]:
    """Wait until the store holds every record's id, then compare: a statement held with
    other content (written by a concurrent request, or earlier when `_reads_before_producing`
    did not look) is a 409. Unavailable (503) if the persister is not keeping up. Returns what
    the store holds."""
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
    return stored


def _stored_by_this_request(
    records: Sequence[AcceptedStatement], held: Mapping[str, Mapping[str, Any]]
) -> list[AcceptedStatement]:
    """The records stored as this request produced them: an equivalent statement the store
    held already (one statement re-sent, produced without a lookup first) keeps the `stored`
    of the request that stored it (Data 2.4.8), and was not accepted again."""
    return [
        r for r in records if held.get(r.statement_id, {}).get("stored") == r.statement["stored"]
    ]
