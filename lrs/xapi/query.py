"""GET /statements parameters (xAPI Communication 2.1.3) as one validated value object.

Paging uses an opaque cursor, the `(stored, id)` of the last statement returned, carried in the
`more` link together with the original filters; no `skip`.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TypeVar

from lrs.xapi import params as p
from lrs.xapi.bounded_json import loads_bounded
from lrs.xapi.errors import BadRequest, bad_request
from lrs.xapi.index import agent_key
from lrs.xapi.limits import StatementLimits
from lrs.xapi.params import check_known
from lrs.xapi.versions import V1

T = TypeVar("T")
D = TypeVar("D")
FORMATS = ("exact", "ids", "canonical")
SINGLE_PARAMS = {"statementId", "voidedStatementId"}
# The parameters that select statements (Communication 2.1.3), in the order they are documented.
STATEMENT_FILTERS = (
    "agent",
    "verb",
    "activity",
    "registration",
    "related_activities",
    "related_agents",
    "since",
    "until",
)
FILTER_PARAMS = {*STATEMENT_FILTERS, "limit", "ascending"}
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
    params: Mapping[str, str],
    *,
    max_limit: int,
    limits: StatementLimits,
    version: str = V1,
) -> StatementQuery:
    """Validate query parameters (Communication 2.1.3), each by its rule in `lrs.xapi.params`
    (a repeated parameter is refused by `lrs.xapi.params.single_values`, which makes `params`).
    Raises BadRequest naming the parameter. `limits` (those statements keep) bound the nesting
    and identifiers of the `agent` JSON, held to the rules of `version` (the Agent and Group
    rules are the same in 1.0.3 and 2.0.0)."""
    check_known(params, ALLOWED_PARAMS, "GET statements (Communication 2.1.3)")
    if SINGLE_PARAMS & set(params):
        return _parse_single(params)
    limit = _optional(params, "limit", p.parse_int, 0)
    return StatementQuery(
        agent=_optional(params, "agent", lambda _, text: _agent_key(text, version, limits), None),
        verb=_optional(params, "verb", p.parse_iri, None),
        activity=_optional(params, "activity", p.parse_iri, None),
        registration=_optional(params, "registration", p.parse_uuid, None),
        related_activities=_optional(params, "related_activities", p.parse_bool, False),
        related_agents=_optional(params, "related_agents", p.parse_bool, False),
        since=_optional(params, "since", p.parse_time, None),
        until=_optional(params, "until", p.parse_time, None),
        limit=max_limit if limit == 0 else min(limit, max_limit),
        ascending=_optional(params, "ascending", p.parse_bool, False),
        format=_parse_format(params),
        attachments=_optional(params, "attachments", p.parse_bool, False),
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
        statement_id=_optional(params, "statementId", p.parse_uuid, None),
        voided_statement_id=_optional(params, "voidedStatementId", p.parse_uuid, None),
        format=_parse_format(params),
        attachments=_optional(params, "attachments", p.parse_bool, False),
    )


def _optional(
    params: Mapping[str, str], name: str, parse: Callable[[str, str], T], default: D
) -> T | D:
    """`parse(name, value)` of a parameter given, else `default`."""
    value = params.get(name)
    return default if value is None else parse(name, value)


def _parse_format(params: Mapping[str, str]) -> str:
    value = params.get("format", "exact")
    if value not in FORMATS:
        raise bad_request("format", "format", f"must be one of {', '.join(FORMATS)}, not {value!r}")
    return value


def _agent_key(text: str, version: str, limits: StatementLimits) -> str:
    """The `agent` filter: an Agent or an identified Group (Communication 2.1.3), as its key."""
    agent = p.parse_agent(text, version, limits=limits, group_allowed=True)
    key = agent_key(agent)
    assert key is not None  # `parse_agent` accepts one identifier exactly
    return key
