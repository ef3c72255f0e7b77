"""The `xapi.statements` message: an accepted statement envelope <-> Kafka record.

Value: JSON described by `schemas/events/statement-accepted.v1.json`. Headers follow
CloudEvents' Kafka binary mode (`ce_*`) plus `lrs_tenant`, so subscribers can route without
parsing the value, `lrs_define` (whether the sender holds the `define` scope: the persister
adopts Activity definitions only from those that do) and, from an API that waits for the
stored version, `lrs_ack`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson

from lrs import topics
from lrs.ports.events import OutgoingMessage
from lrs.ports.statements import AcceptedStatement

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
STATEMENT_ACCEPTED_SCHEMA = SCHEMA_DIR / "events" / "statement-accepted.v1.json"


class UnusableMessage(ValueError):
    """A record that can never be processed (bad JSON, wrong shape): it goes to the DLQ."""


@cache
def _accepted_validator() -> Any:
    schema = orjson.loads(STATEMENT_ACCEPTED_SCHEMA.read_bytes())
    return jsonschema_rs.validator_for(schema)


def accepted_event_id(tenant: str, statement_id: str) -> str:
    """The `ce_id` of a statement's record on `xapi.statements` and `lrs.statements.stored`
    (what an API process's acknowledgement wait listens for: lrs.adapters.stored_waiters)."""
    return f"{tenant}/{statement_id}"


def encode_accepted(
    record: AcceptedStatement, *, source: str, answered: bool = False
) -> OutgoingMessage:
    """The record of an accepted statement; `answered`: its producer waits for the stored
    version and answers its client a conflict itself (the `lrs_ack` header, lrs.topics)."""
    value = orjson.dumps(
        {
            "tenant": record.tenant,
            "stored": record.stored.isoformat(),
            "actor_ifi": record.actor_ifi,
            "statement": record.statement,
        }
    )
    ce_id = accepted_event_id(record.tenant, record.statement_id)
    headers = topics.cloud_event_headers(
        topics.STATEMENT_ACCEPTED_TYPE, source, record.tenant, ce_id, record.stored.isoformat()
    )
    headers.append((topics.HEADER_DEFINE, b"1" if record.define else b"0"))
    if answered:
        headers.append((topics.HEADER_ACK, topics.ACK_STORED.encode()))
    return OutgoingMessage(topics.statement_key(record.tenant, record.actor_ifi), value, headers)


def decode_accepted(
    value: bytes | None, headers: Sequence[tuple[str, bytes]] | None = None
) -> AcceptedStatement:
    """Parse and check one record value (and its `lrs_define` header); raise UnusableMessage
    when it cannot be used."""
    if value is None:
        raise UnusableMessage("record has no value")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise UnusableMessage(f"value is not JSON: {exc}") from exc
    errors = list(_accepted_validator().iter_errors(doc))
    if errors:
        first = errors[0]
        path = "/".join(str(p) for p in first.instance_path)
        raise UnusableMessage(f"value breaks statement-accepted.v1 at /{path}: {first.message}")
    return AcceptedStatement(
        tenant=doc["tenant"],
        statement=doc["statement"],
        stored=datetime.fromisoformat(doc["stored"]),
        actor_ifi=doc["actor_ifi"],
        define=header(headers, topics.HEADER_DEFINE) != "0",
    )


def answered_by_producer(headers: Sequence[tuple[str, bytes]] | None) -> bool:
    """Whether the producer of an `xapi.statements` record answers its client a conflict
    itself (`encode_accepted(answered=True)`)."""
    return header(headers, topics.HEADER_ACK) == topics.ACK_STORED


def accepted_statement_unchecked(value: bytes | None) -> dict[str, Any] | None:
    """The statement of a record value `encode_accepted` wrote, without `decode_accepted`'s
    schema check (for a reader that only compares it with a statement the API validated: an
    API process's acknowledgement); None when the value has no statement with a string id."""
    try:
        doc = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        return None
    statement = doc.get("statement") if isinstance(doc, dict) else None
    if not isinstance(statement, dict) or not isinstance(statement.get("id"), str):
        return None
    return statement


def header(headers: Sequence[tuple[str, bytes]] | None, name: str) -> str | None:
    for key, value in headers or ():
        if key == name:
            return value.decode(errors="replace")
    return None
