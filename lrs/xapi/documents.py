"""The rules of the Document Resources (xAPI Communication 2.2, 2.3, 2.6, 2.7 and 3.1), pure.

State, Activity Profile and Agent Profile documents are arbitrary bytes with a content type,
addressed by a context (an Activity and/or an Agent, plus a registration for State) and an id.
This module validates request parameters, merges JSON documents for POST, computes ETags and
decides whether If-Match / If-None-Match preconditions hold. It does no I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from typing import Any

from lrs.xapi.bounded_json import loads_bounded
from lrs.xapi.errors import (
    Conflict,
    InvalidDocument,
    Issue,
    PayloadTooLarge,
    PreconditionFailed,
)
from lrs.xapi.ifi import IFI_PROPERTIES, agent_ifi
from lrs.xapi.limits import StatementLimits, structure_issue
from lrs.xapi.timefmt import parse_timestamp
from lrs.xapi.versions import V2

JSON_MEDIA_TYPE = "application/json"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
_SHA1_HEX = re.compile(r"^[0-9a-fA-F]{40}$")


class Resource(StrEnum):
    STATE = "state"
    ACTIVITY_PROFILE = "activityProfile"
    AGENT_PROFILE = "agentProfile"


ID_PARAM = {
    Resource.STATE: "stateId",
    Resource.ACTIVITY_PROFILE: "profileId",
    Resource.AGENT_PROFILE: "profileId",
}
CONTEXT_PARAMS = {
    Resource.STATE: ("activityId", "agent"),
    Resource.ACTIVITY_PROFILE: ("activityId",),
    Resource.AGENT_PROFILE: ("agent",),
}
SECTION = {
    Resource.STATE: "Communication 2.3",
    Resource.ACTIVITY_PROFILE: "Communication 2.7",
    Resource.AGENT_PROFILE: "Communication 2.6",
}


@dataclass(frozen=True, slots=True)
class DocumentParams:
    """A validated document request: the context, and the document id when one is named.

    `agent` is the canonical Agent (objectType and its one identifier, nothing else) and
    `agent_ifi` its identifier string (`lrs.xapi.ifi`), which documents are keyed by.
    """

    resource: Resource
    activity_id: str | None = None
    agent: dict[str, Any] | None = None
    agent_ifi: str | None = None
    registration: str | None = None
    document_id: str | None = None
    since: datetime | None = None


def _bad(param: str, rule: str, message: str) -> InvalidDocument:
    return InvalidDocument(f"{param}: {message}", [Issue(param, rule, message)])


def allowed_params(resource: Resource, method: str) -> frozenset[str]:
    """Parameters each request may carry (Communication 2.3, 2.6, 2.7 tables)."""
    names = set(CONTEXT_PARAMS[resource]) | {ID_PARAM[resource]}
    if resource is Resource.STATE:
        names.add("registration")
    if method in ("GET", "HEAD"):
        names.add("since")
    return frozenset(names)


def id_required(resource: Resource, method: str) -> bool:
    """Writes always name a document; a DELETE does too, except State's delete-all (2.3)."""
    if method in ("GET", "HEAD"):
        return False
    return not (method == "DELETE" and resource is Resource.STATE)


def parse_params(
    resource: Resource, method: str, items: Iterable[tuple[str, str]], *, limits: StatementLimits
) -> DocumentParams:
    """Validate a request's query parameters.

    Communication 3.2: the LRS MUST reject with 400 any parameter it does not recognise in its
    context, including one that matches a known name in all but case; repeated parameters are
    rejected too. Required parameters per method follow the tables of 2.3, 2.6 and 2.7.
    `limits` (those statements keep) bound the nesting and identifiers of the `agent` JSON.
    """
    params = _unique(items)
    id_param = ID_PARAM[resource]
    has_id = id_param in params
    unknown = sorted(set(params) - allowed_params(resource, method))
    if unknown:
        raise _bad(
            unknown[0],
            "unknown-parameter",
            f"not a parameter of {method} on this resource ({SECTION[resource]}, "
            "Communication 3.2); unexpected: " + ", ".join(unknown),
        )
    for name in CONTEXT_PARAMS[resource]:
        if name not in params:
            raise _bad(name, "required", f"is required ({SECTION[resource]})")
    if not has_id and id_required(resource, method):
        raise _bad(id_param, "required", f"is required for {method} ({SECTION[resource]})")
    return _build(resource, params, limits)


def _build(
    resource: Resource, params: Mapping[str, str], limits: StatementLimits
) -> DocumentParams:
    agent, ifi = parse_agent(params["agent"], limits) if "agent" in params else (None, None)
    return DocumentParams(
        resource=resource,
        activity_id=parse_iri("activityId", params["activityId"])
        if "activityId" in params
        else None,
        agent=agent,
        agent_ifi=ifi,
        registration=parse_uuid("registration", params.get("registration")),
        document_id=parse_document_id(ID_PARAM[resource], params.get(ID_PARAM[resource])),
        since=parse_since(params.get("since")),
    )


def _unique(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    params: dict[str, str] = {}
    for name, value in items:
        if name in params:
            raise _bad(name, "repeated-parameter", "is given more than once")
        params[name] = value
    return params


def parse_iri(name: str, value: str) -> str:
    """An absolute IRI: a scheme, a colon and something after it, no spaces."""
    scheme, sep, rest = value.partition(":")
    valid_scheme = bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme))
    if not (sep and rest and valid_scheme) or any(c.isspace() for c in value):
        raise _bad(name, "iri", f"{value!r} is not an absolute IRI")
    return value


def parse_uuid(name: str, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise _bad(name, "uuid", f"{value!r} is not a UUID") from None


def parse_document_id(name: str, value: str | None) -> str | None:
    if value is not None and not value:
        raise _bad(name, "non-empty-string", "must not be empty")
    return value


def parse_since(value: str | None) -> datetime | None:
    """`since`: a Timestamp (Communication 2.3, 2.6, 2.7 multiple-document GET)."""
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError:
        raise _bad("since", "timestamp", f"{value!r} is not an ISO 8601 timestamp") from None


def parse_agent(text: str, limits: StatementLimits) -> tuple[dict[str, Any], str]:
    """The `agent` parameter: an Agent as JSON with exactly one inverse functional identifier
    (Data 2.4.2.1). Communication 2.6 note: it is an Agent, not a Group. Returns the canonical
    Agent (objectType + the identifier only) and its identifier string."""
    agent = loads_bounded(
        text, max_depth=limits.max_json_depth, what="agent", error=InvalidDocument
    )
    if not isinstance(agent, dict):
        raise _bad("agent", "agent-object", "must be a JSON object describing an Agent")
    too_long = structure_issue(agent, limits, "agent")
    if too_long is not None:
        raise InvalidDocument(f"{too_long.path}: {too_long.message}", [too_long])
    if agent.get("objectType", "Agent") != "Agent":
        raise _bad("agent", "agent-object", "must be an Agent, not a Group (Communication 2.6)")
    present = [p for p in IFI_PROPERTIES if agent.get(p) is not None]
    if len(present) != 1:
        raise _bad(
            "agent", "agent-ifi", "must have exactly one inverse functional identifier (Data 2.4.2)"
        )
    prop = present[0]
    canonical = {"objectType": "Agent", prop: _checked_ifi(prop, agent[prop])}
    ifi = agent_ifi(canonical)
    assert ifi is not None
    return canonical, ifi


def _checked_ifi(prop: str, value: Any) -> Any:
    ok = isinstance(value, str)
    if prop == "mbox":
        ok = ok and value.startswith("mailto:") and "@" in value
    elif prop == "mbox_sha1sum":
        ok = ok and bool(_SHA1_HEX.match(value))
    elif prop == "openid" and ok:
        parse_iri("agent.openid", value)
    elif prop == "account":
        return _checked_account(value)
    if not ok:
        raise _bad(f"agent.{prop}", "agent-ifi", f"{value!r} is not a valid {prop}")
    return value


def _checked_account(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != {"homePage", "name"}:
        raise _bad("agent.account", "agent-ifi", "must be an object with homePage and name")
    home, name = value["homePage"], value["name"]
    if not isinstance(home, str) or not isinstance(name, str):
        raise _bad("agent.account", "agent-ifi", "homePage and name must be strings")
    parse_iri("agent.account.homePage", home)
    return {"homePage": home, "name": name}


# --- content ---------------------------------------------------------------------------------


def media_type(content_type: str | None) -> str:
    """The essence of a Content-Type (`application/json; charset=utf-8` -> `application/json`)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    return media_type(content_type) == JSON_MEDIA_TYPE


def parse_json(body: bytes, what: str, max_depth: int) -> Any:
    """A document declared as JSON, parsed within `max_depth` (`lrs.xapi.bounded_json`)."""
    return loads_bounded(body, max_depth=max_depth, what=what, error=InvalidDocument)


def check_size(content: bytes, limit: int, what: str) -> None:
    """A document (as PUT, or as a POST merge makes it) holds at most `limit` bytes, the
    LRS_MAX_DOCUMENT_BYTES setting: the store keeps each document in one bounded record."""
    if len(content) > limit:
        raise PayloadTooLarge(
            f"{what} of {len(content)} bytes exceeds the limit of {limit} (LRS_MAX_DOCUMENT_BYTES)"
        )


def check_put_body(body: bytes, content_type: str | None, max_depth: int) -> None:
    """Communication 3.2: a body declared as application/json SHOULD* parse as JSON; it must
    also stay within the nesting limit, so that a later merge (POST) can read it."""
    if is_json(content_type):
        parse_json(body, "document", max_depth)


def json_object(body: bytes, content_type: str | None, what: str, max_depth: int) -> None:
    """Communication 2.2 (JSON procedure): a document taking part in a merge MUST have the
    application/json content type and parse as a JSON Object, else 400."""
    if not is_json(content_type):
        raise _bad(
            what,
            "merge-content-type",
            f"has content-type {media_type(content_type) or 'untyped'}, not application/json:"
            " only JSON Objects can be merged by POST (Communication 2.2)",
        )
    doc = parse_json(body, what, max_depth)
    if not isinstance(doc, dict):
        raise _bad(what, "merge-json-object", "is not a JSON Object, so it cannot be merged")


def merge_json(
    existing: bytes, existing_type: str, posted: bytes, posted_type: str | None, max_depth: int
) -> bytes:
    """Communication 2.2: set every top-level property of the posted Object on the existing one
    (only the top level is merged; a nested Object is replaced whole). Both are checked within
    bounds first; the merge itself reads them with `json`, which keeps every number exact."""
    json_object(posted, posted_type, "document", max_depth)
    json_object(existing, existing_type, "stored document", max_depth)
    current = json.loads(existing)
    current.update(json.loads(posted))
    return json.dumps(current, ensure_ascii=False, separators=(",", ":")).encode()


def etag_of(content: bytes) -> str:
    """Communication 3.1: the quoted, lowercase hexadecimal SHA-1 of the document's bytes."""
    return '"' + hashlib.sha1(content, usedforsecurity=False).hexdigest() + '"'


def http_date(moment: datetime) -> str:
    """The Last-Modified form (RFC 7231 IMF-fixdate)."""
    return format_datetime(moment.astimezone(UTC), usegmt=True)


# --- preconditions (Communication 3.1) ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Preconditions:
    """If-Match and If-None-Match as sets of opaque tags (quotes removed); None when absent."""

    if_match: frozenset[str] | None = None
    if_none_match: frozenset[str] | None = None

    @property
    def given(self) -> bool:
        return self.if_match is not None or self.if_none_match is not None


def _tags(header: str | None, *, weak_allowed: bool) -> frozenset[str] | None:
    if header is None:
        return None
    tags = set()
    for raw in header.split(","):
        tag = raw.strip()
        if tag.startswith("W/"):
            if not weak_allowed:
                continue  # RFC 7232 3.1: If-Match uses strong comparison; weak tags never match
            tag = tag[2:]
        if tag:
            tags.add(tag.strip('"'))
    return frozenset(tags)


def parse_preconditions(if_match: str | None, if_none_match: str | None) -> Preconditions:
    return Preconditions(
        _tags(if_match, weak_allowed=False), _tags(if_none_match, weak_allowed=True)
    )


def _opaque(etag: str) -> str:
    return etag.strip('"')


def check_preconditions(pre: Preconditions, current_etag: str | None) -> None:
    """Communication 3.1: If-Match with an ETag (or "*") holds only when the document exists
    with that ETag; If-None-Match "*" holds only when it does not exist. A PUT whose
    precondition fails MUST get 412 and no change (a POST or DELETE SHOULD*; we do the same)."""
    if pre.if_match is not None and not _if_match_holds(pre.if_match, current_etag):
        raise PreconditionFailed(
            "If-Match does not match the document's current ETag"
            + ("" if current_etag else " (the document does not exist)")
            + "; GET it for the current ETag (Communication 3.1)"
        )
    if pre.if_none_match is not None and _if_match_holds(pre.if_none_match, current_etag):
        raise PreconditionFailed("If-None-Match: the document already exists (Communication 3.1)")


def _if_match_holds(tags: frozenset[str], current_etag: str | None) -> bool:
    if current_etag is None:
        return False
    return "*" in tags or _opaque(current_etag) in tags


def put_needs_precondition(resource: Resource, version: str) -> bool:
    """Communication 3.1: a PUT to an existing Agent or Activity Profile document MUST carry
    If-Match or If-None-Match. xAPI 1.0.3 exempts the State Resource; xAPI 2.0 does not."""
    return resource is not Resource.STATE or version == V2


def check_put(
    pre: Preconditions,
    current_etag: str | None,
    *,
    resource: Resource,
    version: str,
    unconditional_create: bool = False,
) -> None:
    """Preconditions of a PUT. Without either header (Communication 3.1): to a document that
    exists, 409 explaining how to resolve it ("If a PUT request is received without either
    header for a resource that already exists, the LRS MUST return HTTP status 409 Conflict");
    to a new profile document, 400, because "a Client making a PUT request to either the Agent
    Profile Resource or Activity Profile Resource MUST include the If-Match header or the
    If-None-Match header" (as ADL's 1.0.3 suite checks). That last rule binds clients, not the
    LRS: with `unconditional_create` (LRS_ALLOW_UNCONDITIONAL_PROFILE_CREATE, for clients that
    never send the headers) such a PUT creates the new document; the 409 stays.
    """
    check_preconditions(pre, current_etag)
    if pre.given or not put_needs_precondition(resource, version):
        return
    if current_etag is not None:
        raise Conflict(
            "the document already exists and the PUT carried neither If-Match nor If-None-Match:"
            " GET the document to check its current state, then PUT again with If-Match set to"
            " its ETag (Communication 3.1)"
        )
    if resource is not Resource.STATE and not unconditional_create:
        raise InvalidDocument(
            "a PUT to a profile resource must carry If-Match (with the document's ETag) or"
            ' If-None-Match: "*" for a new document (Communication 3.1)',
            [Issue("If-Match", "precondition-required", "neither If-Match nor If-None-Match")],
        )
