"""Request parameters: the one place for every rule a query parameter is held to.

Every resource (Statements, State, Activity Profile, Agent Profile, Agents, Activities, and the
LRS's own progress and team routes) reads its parameters with these functions, so the same bad
value gets the same 400 and the same `rule` wherever it is sent (Communication 3.2: a request
with an invalid parameter is a 400 Bad Request). Values are held to the standard of the same
values inside statements (Data 2.2): an IRI, a UUID or an Agent a statement could not hold is
no parameter either.

- repeated parameters: a name given twice is refused (rule `repeated-parameter`) on every
  resource, since which of the values was meant cannot be known;
- unknown parameters: refused (rule `unknown-parameter`, Communication 3.2);
- IRIs (`activityId`, `verb`, `activity`): absolute, no whitespace (rule `iri`, Data 4.3,
  RFC 3987);
- UUIDs (`registration`, `statementId`, ...): the standard string form (rule `uuid`, Data 4.4);
- timestamps (`since`, `until`): ISO 8601 (rule `timestamp`, Data 4.5);
- booleans (`ascending`, `attachments`, `related_*`): `true` or `false` (rule `boolean`);
- integers (`limit`, cursors, offsets): bounded, see `parse_bounded_int`;
- `agent`: a JSON Agent (or, where the resource allows, an identified Group) with exactly one
  inverse functional identifier (rules `agent-object`, `agent-ifi`, then those of Data 2.4.2).

A number given as text is converted only when it is short: Python refuses to convert more than
4,300 digits, and no count, offset or size this LRS reads needs more than 18 (every such number
fits a signed 64-bit integer, as Kafka offsets and store counts are).

Pure: no FastAPI, Kafka or MongoDB.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import Any

from lrs.xapi.agents import agent_issues
from lrs.xapi.bounded_json import loads_bounded
from lrs.xapi.definitions import AgentSighting, agent_sighting
from lrs.xapi.errors import BadRequest, bad_request
from lrs.xapi.ifi import IFI_PROPERTIES
from lrs.xapi.limits import DEFAULT_LIMITS, StatementLimits
from lrs.xapi.timefmt import parse_timestamp

MAX_INT_DIGITS = 18
NOT_AN_INTEGER = "non-negative-integer"
TOO_MANY_DIGITS = "integer-size"
REPEATED = "repeated-parameter"
UNKNOWN = "unknown-parameter"
REQUIRED = "required"
IRI = "iri"
UUID = "uuid"
TIMESTAMP = "timestamp"
BOOLEAN = "boolean"
AGENT_OBJECT = "agent-object"
AGENT_IFI = "agent-ifi"

# The statement schema's IRI and UUID forms (schemas/xapi/*/common.json, `iri` and `uuid`).
_IRI = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:[^\s<>\"{}|\\^`\x00-\x1F\x7F-\x9F]+")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


# --- the set of parameters ------------------------------------------------------------------


def single_values(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    """The parameters by name. A name given more than once is a 400 naming it: the request is
    ambiguous (Communication 3.2), and no xAPI parameter takes several values."""
    params: dict[str, str] = {}
    for name, value in items:
        if name in params:
            raise bad_request(name, REPEATED, "is given more than once")
        params[name] = value
    return params


def check_single(items: Iterable[tuple[str, str]], names: Collection[str]) -> None:
    """`single_values`' rule for the parameters `names` alone (a route whose other parameters
    are read elsewhere): one given more than once is a 400 naming it."""
    seen: set[str] = set()
    for name, _ in items:
        if name in names and name in seen:
            raise bad_request(name, REPEATED, "is given more than once")
        seen.add(name)


def check_known(params: Collection[str], allowed: Collection[str], context: str) -> None:
    """Communication 3.2: a parameter the resource does not know, including one that matches
    a known name in all but case, is a 400 naming it. `context` says where (for the message)."""
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise bad_request(
            unknown[0],
            UNKNOWN,
            f"not a parameter of {context} (Communication 3.2); unexpected: " + ", ".join(unknown),
        )


def required(params: Mapping[str, str], name: str, context: str) -> str:
    if name not in params:
        raise bad_request(name, REQUIRED, f"is required ({context})")
    return params[name]


def only_param(items: Iterable[tuple[str, str]], name: str, context: str) -> str:
    """The one required parameter of a resource that takes no other (Agents, Activities)."""
    params = single_values(items)
    check_known(params, {name}, context)
    return required(params, name, context)


# --- one value ------------------------------------------------------------------------------


class BoundedIntError(ValueError):
    """`text` is no bounded integer; `rule` says why (NOT_AN_INTEGER or TOO_MANY_DIGITS)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def parse_bounded_int(text: str, max_digits: int = MAX_INT_DIGITS) -> int:
    """`text` as a non-negative decimal integer: ASCII digits only, at most `max_digits` of
    them after leading zeros. Raises BoundedIntError otherwise, before converting anything."""
    if not (text.isascii() and text.isdigit()):
        raise BoundedIntError(NOT_AN_INTEGER, f"must be a non-negative integer, not {text[:40]!r}")
    significant = text.lstrip("0")
    if len(significant) > max_digits:
        raise BoundedIntError(TOO_MANY_DIGITS, f"must have at most {max_digits} digits")
    return int(significant or "0")  # int() itself refuses over 4,300 digits, zeros included


def bounded_int(text: str | None, max_digits: int = MAX_INT_DIGITS) -> int | None:
    """`parse_bounded_int`, or None when `text` is missing or no bounded integer."""
    if text is None:
        return None
    try:
        return parse_bounded_int(text, max_digits)
    except BoundedIntError:
        return None


def exceeds(text: str, limit: int) -> bool:
    """Whether `text`, a decimal integer of any length, is larger than `limit` (at most
    MAX_INT_DIGITS digits); False when `text` is no integer at all."""
    try:
        return parse_bounded_int(text) > limit
    except BoundedIntError as exc:
        return exc.rule == TOO_MANY_DIGITS


def parse_int(name: str, value: str) -> int:
    """A parameter holding a bounded non-negative integer (`parse_bounded_int`)."""
    try:
        return parse_bounded_int(value)
    except BoundedIntError as exc:
        raise bad_request(name, exc.rule, exc.message) from None


def parse_iri(name: str, value: str) -> str:
    """An absolute IRI (Data 4.3): a scheme, a colon, then no whitespace, no control
    characters and none of ``<>"{}|\\^` `` (RFC 3987), as statements hold them."""
    if not _IRI.fullmatch(value):
        raise bad_request(
            name, IRI, f"{value[:200]!r} is not an absolute IRI (no whitespace; Data 4.3)"
        )
    return value


def parse_uuid(name: str, value: str) -> str:
    """A UUID in the standard string form (Data 4.4: "UUIDs MUST be in the standard string
    form"), returned in lower case."""
    if not _UUID.fullmatch(value):
        raise bad_request(name, UUID, f"{value[:200]!r} is not a UUID in standard form (Data 4.4)")
    return str(uuid.UUID(value))


def parse_time(name: str, value: str) -> datetime:
    """A Timestamp (Data 4.5: ISO 8601), as `since` and `until` are."""
    try:
        return parse_timestamp(value)
    except ValueError:
        raise bad_request(
            name, TIMESTAMP, f"{value[:200]!r} is not an ISO 8601 timestamp"
        ) from None


def parse_bool(name: str, value: str) -> bool:
    """`true` or `false` (in any case)."""
    if value.lower() not in ("true", "false"):
        raise bad_request(name, BOOLEAN, f"must be true or false, not {value[:200]!r}")
    return value.lower() == "true"


def parse_non_empty(name: str, value: str) -> str:
    if not value:
        raise bad_request(name, "non-empty-string", "must not be empty")
    return value


# --- agent ----------------------------------------------------------------------------------


def parse_agent(
    text: str,
    version: str,
    *,
    limits: StatementLimits,
    group_allowed: bool = False,
    name: str = "agent",
) -> dict[str, Any]:
    """An `agent` parameter (Communication 2.1.3, 2.3, 2.4, 2.6): JSON nested no deeper than
    statements may be, holding an Agent, or where `group_allowed` (GET statements) an identified
    Group, valid as in a statement (`agent_object`)."""
    doc = loads_bounded(text, max_depth=limits.max_json_depth, what=name)
    return agent_object(doc, version, limits=limits, group_allowed=group_allowed, where=name)


def agent_object(
    doc: object,
    version: str,
    *,
    limits: StatementLimits = DEFAULT_LIMITS,
    group_allowed: bool = False,
    where: str = "agent",
) -> dict[str, Any]:
    """`doc` as an Agent (Data 2.4.2.1), or an identified Group (Data 2.4.2.2) when allowed:
    a JSON object (rule `agent-object`), with exactly one inverse functional identifier (rule
    `agent-ifi`, Data 2.4.2.3), and otherwise as valid as an Agent in a statement of `version`
    within `limits` (the schema's rules, e.g. `mbox-mailto`). Returns `doc`."""
    kind = "an Agent or an identified Group" if group_allowed else "an Agent"
    if not isinstance(doc, dict):
        raise bad_request(where, AGENT_OBJECT, f"must be a JSON object describing {kind}")
    if doc.get("objectType", "Agent") == "Group" and not group_allowed:
        raise bad_request(where, AGENT_OBJECT, "must be an Agent, not a Group")
    if sum(doc.get(p) is not None for p in IFI_PROPERTIES) != 1:
        raise bad_request(
            where, AGENT_IFI, "must have exactly one inverse functional identifier (Data 2.4.2)"
        )
    issues = agent_issues(doc, version, where, limits=limits, group_allowed=group_allowed)
    if issues:
        raise BadRequest(f"{issues[0].path}: {issues[0].message}", issues)
    return doc


def sighting_of(doc: Mapping[str, Any]) -> AgentSighting:
    """The identifier and name of an Agent `agent_object` accepted."""
    sighting = agent_sighting(doc)
    assert sighting is not None  # a valid Agent has exactly one IFI
    return sighting


def parse_agent_json(text: str, version: str, *, limits: StatementLimits) -> AgentSighting:
    """An `agent` parameter naming one Agent (`parse_agent`), as its sighting."""
    return sighting_of(parse_agent(text, version, limits=limits))


def parse_agent_query(
    items: Iterable[tuple[str, str]],
    version: str,
    *,
    limits: StatementLimits,
    context: str = "GET agents (Communication 2.4)",
) -> AgentSighting:
    """The parameters of GET agents (Communication 2.4), or of another resource taking only
    an Agent (`context`): `agent` only, required, once: "a normal Agent Object with a single
    identifier and no arrays ... not a Group"."""
    text = only_param(items, "agent", context)
    return parse_agent_json(text, version, limits=limits)


def parse_activity_query(items: Iterable[tuple[str, str]]) -> str:
    """The parameters of GET activities (Communication 2.5): `activityId` only, required,
    once, an IRI."""
    text = only_param(items, "activityId", "GET activities (Communication 2.5)")
    return parse_iri("activityId", text)
