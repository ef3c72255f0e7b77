"""GET /statements parameters (xAPI Communication 2.1.3) as one validated value object.

Paging uses an opaque cursor, the `(stored, id)` of the last statement returned, carried in the
`more` link together with the original filters; no `skip`.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from lrs.xapi.agents import agent_issues
from lrs.xapi.bounded_json import loads_bounded
from lrs.xapi.errors import BadRequest, Issue
from lrs.xapi.index import agent_key
from lrs.xapi.limits import StatementLimits
from lrs.xapi.params import BoundedIntError, parse_bounded_int
from lrs.xapi.timefmt import parse_timestamp
from lrs.xapi.versions import V1

FORMATS = ("exact", "ids", "canonical")
SINGLE_PARAMS = {"statementId", "voidedStatementId"}
FILTER_PARAMS = {
    "agent",
    "verb",
    "activity",
    "registration",
    "related_activities",
    "related_agents",
    "since",
    "until",
    "limit",
    "ascending",
}
COMMON_PARAMS = {"format", "attachments"}
PAGING_PARAMS = {"cursor"}
ALLOWED_PARAMS = SINGLE_PARAMS | FILTER_PARAMS | COMMON_PARAMS | PAGING_PARAMS


@dataclass(frozen=True, slots=True)
class Cursor:
    """Position after the last statement of a page."""

    stored: datetime
    statement_id: str

    def encode(self) -> str:
        raw = json.dumps([self.stored.isoformat(), self.statement_id]).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """The cursor `encode` wrote; anything else (garbage, deep JSON, a time the store cannot
        compare, an id that is not a UUID) is a 400 naming the parameter. The LRS writes only
        UTC times of years 1 to 9999, so a time outside them is no cursor it issued."""
        try:
            raw = base64.urlsafe_b64decode((token + "=" * (-len(token) % 4)).encode("ascii"))
            value = loads_bounded(raw, max_depth=1, what="cursor")
            if not (isinstance(value, list) and len(value) == 2):
                raise ValueError("not a pair")
            stored, statement_id = value
            moment = datetime.fromisoformat(stored)
            if moment.tzinfo is None:
                raise ValueError("no time zone")
            moment.astimezone(UTC)  # OverflowError when UTC cannot hold it
            uuid.UUID(statement_id)
            return cls(moment, statement_id)
        except (ValueError, TypeError, AttributeError, OverflowError, BadRequest) as exc:
            raise BadRequest("cursor: not a cursor this LRS issued") from exc


@dataclass(frozen=True, slots=True)
class StatementQuery:
    """A validated statement query. Either a single lookup or a filtered, paged list."""

    statement_id: str | None = None
    voided_statement_id: str | None = None
    agent: str | None = None
    verb: str | None = None
    activity: str | None = None
    registration: str | None = None
    related_activities: bool = False
    related_agents: bool = False
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 0
    ascending: bool = False
    format: str = "exact"
    attachments: bool = False
    cursor: Cursor | None = None
    # Only statements whose authority has this key (`lrs.xapi.index.authority_key`): set by
    # the LRS for callers limited to `statements/read/mine`, never from a query parameter.
    authority: str | None = None

    @property
    def is_single(self) -> bool:
        return self.statement_id is not None or self.voided_statement_id is not None

    def after(self, cursor: Cursor) -> StatementQuery:
        return replace(self, cursor=cursor)


def parse_query(
    params: Mapping[str, str], *, max_limit: int, limits: StatementLimits
) -> StatementQuery:
    """Validate query parameters (Communication 2.1.3). Raises BadRequest naming the parameter.
    `limits` (those statements keep) bound the nesting and identifiers of the `agent` JSON."""
    unknown = sorted(set(params) - ALLOWED_PARAMS)
    if unknown:
        raise BadRequest(f"unknown parameter(s) for GET statements: {', '.join(unknown)}")
    if SINGLE_PARAMS & set(params):
        return _parse_single(params)
    limit = _parse_int(params, "limit", 0)
    return StatementQuery(
        agent=_parse_agent(params.get("agent"), limits),
        verb=_parse_iri(params, "verb"),
        activity=_parse_iri(params, "activity"),
        registration=_parse_uuid(params, "registration"),
        related_activities=_parse_bool(params, "related_activities"),
        related_agents=_parse_bool(params, "related_agents"),
        since=_parse_time(params, "since"),
        until=_parse_time(params, "until"),
        limit=max_limit if limit == 0 else min(limit, max_limit),
        ascending=_parse_bool(params, "ascending"),
        format=_parse_format(params),
        attachments=_parse_bool(params, "attachments"),
        cursor=Cursor.decode(params["cursor"]) if "cursor" in params else None,
    )


def _parse_single(params: Mapping[str, str]) -> StatementQuery:
    """Communication 2.1.3: with statementId or voidedStatementId, only `attachments` and
    `format` may also be given; anything else MUST be rejected with 400."""
    if {"statementId", "voidedStatementId"} <= set(params):
        raise BadRequest("statementId and voidedStatementId cannot be used together")
    extra = sorted(set(params) - SINGLE_PARAMS - COMMON_PARAMS)
    if extra:
        raise BadRequest(
            "statementId/voidedStatementId cannot be combined with: "
            + ", ".join(extra)
            + " (Communication 2.1.3)"
        )
    return StatementQuery(
        statement_id=_parse_uuid(params, "statementId"),
        voided_statement_id=_parse_uuid(params, "voidedStatementId"),
        format=_parse_format(params),
        attachments=_parse_bool(params, "attachments"),
    )


def _bad(name: str, rule: str, message: str) -> BadRequest:
    return BadRequest(f"{name}: {message}", [Issue(name, rule, message)])


def _parse_uuid(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _bad(name, "uuid", f"{value!r} is not a UUID") from None


def _parse_iri(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    scheme, sep, rest = value.partition(":")
    if not sep or not scheme or not rest or not scheme[0].isalpha():
        raise _bad(name, "iri", f"{value!r} is not an absolute IRI")
    return value


def _parse_bool(params: Mapping[str, str], name: str) -> bool:
    value = params.get(name)
    if value is None:
        return False
    if value.lower() not in ("true", "false"):
        raise _bad(name, "boolean", f"must be true or false, not {value!r}")
    return value.lower() == "true"


def _parse_int(params: Mapping[str, str], name: str, default: int) -> int:
    """A non-negative integer of at most MAX_INT_DIGITS digits (`lrs.xapi.params`)."""
    value = params.get(name)
    if value is None:
        return default
    try:
        return parse_bounded_int(value)
    except BoundedIntError as exc:
        raise _bad(name, exc.rule, exc.message) from None


def _parse_time(params: Mapping[str, str], name: str) -> datetime | None:
    value = params.get(name)
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        raise _bad(name, "timestamp", f"{value!r} is not an ISO 8601 timestamp") from None


def _parse_format(params: Mapping[str, str]) -> str:
    value = params.get("format", "exact")
    if value not in FORMATS:
        raise _bad("format", "format", f"must be one of {', '.join(FORMATS)}, not {value!r}")
    return value


def _parse_agent(text: str | None, limits: StatementLimits) -> str | None:
    """The `agent` parameter: an Agent or identified Group as JSON (Communication 2.1.3)."""
    if text is None:
        return None
    agent: Any = loads_bounded(text, max_depth=limits.max_json_depth, what="agent")
    if not isinstance(agent, dict):
        raise _bad("agent", "agent-object", "must be a JSON object describing an Agent or Group")
    key = agent_key(agent)
    if key is None:
        raise _bad("agent", "agent-ifi", "must have exactly one inverse functional identifier")
    # Data 2.2: parameter values are validated to the standard of the same values in statements
    # (the Agent/Group rules are the same in 1.0.3 and 2.0.0).
    issues = agent_issues(agent, V1, "agent", limits=limits, group_allowed=True)
    if issues:
        raise BadRequest(f"{issues[0].path}: {issues[0].message}", issues)
    return key
