"""The rules of the Document Resources (xAPI Communication 2.2, 2.3, 2.6, 2.7 and 3.1), pure.

State, Activity Profile and Agent Profile documents are arbitrary bytes with a content type,
addressed by a context (an Activity and/or an Agent, plus a registration for State) and an id.
This module validates request parameters, merges JSON documents for POST, computes ETags and
decides whether If-Match / If-None-Match preconditions hold. It does no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import StrEnum
from typing import Any, TypeVar

from lrs.xapi import params as p
from lrs.xapi.bounded_json import loads_bounded
from lrs.xapi.errors import (
    Conflict,
    InvalidDocument,
    Issue,
    PayloadTooLarge,
    PreconditionFailed,
    refusal,
)
from lrs.xapi.ifi import IFI_PROPERTIES, agent_ifi
from lrs.xapi.limits import StatementLimits
from lrs.xapi.versions import V1, V2

JSON_MEDIA_TYPE = "application/json"
DEFAULT_CONTENT_TYPE = "application/octet-stream"
T = TypeVar("T")


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
    resource: Resource,
    method: str,
    items: Iterable[tuple[str, str]],
    *,
    limits: StatementLimits,
    version: str = V1,
) -> DocumentParams:
    """Validate a request's query parameters, each by its rule in `lrs.xapi.params`.

    Communication 3.2: the LRS MUST reject with 400 any parameter it does not recognise in its
    context, including one that matches a known name in all but case; repeated parameters are
    rejected too. Required parameters per method follow the tables of 2.3, 2.6 and 2.7.
    `limits` (those statements keep) bound the nesting and identifiers of the `agent` JSON,
    an Agent by the rules of `version` (Communication 2.6: an Agent, not a Group).
    """
    params = p.single_values(items)
    context = f"{method} on this resource ({SECTION[resource]})"
    p.check_known(params, allowed_params(resource, method), context)
    for name in CONTEXT_PARAMS[resource]:
        p.required(params, name, SECTION[resource])
    id_param = ID_PARAM[resource]
    if id_required(resource, method):
        p.required(params, id_param, f"{method}, {SECTION[resource]}")
    return _build(resource, params, limits, version)


def _build(
    resource: Resource, params: Mapping[str, str], limits: StatementLimits, version: str
) -> DocumentParams:
    agent, ifi = (
        parse_agent(params["agent"], limits, version) if "agent" in params else (None, None)
    )
    id_param = ID_PARAM[resource]
    return DocumentParams(
        resource=resource,
        activity_id=_given(params, "activityId", p.parse_iri),
        agent=agent,
        agent_ifi=ifi,
        registration=_given(params, "registration", p.parse_uuid),
        document_id=_given(params, id_param, p.parse_non_empty),
        since=_given(params, "since", p.parse_time),
    )


def _given(params: Mapping[str, str], name: str, parse: Callable[[str, str], T]) -> T | None:
    value = params.get(name)
    return None if value is None else parse(name, value)


def parse_agent(
    text: str, limits: StatementLimits, version: str = V1
) -> tuple[dict[str, Any], str]:
    """The `agent` parameter (`lrs.xapi.params.parse_agent`): an Agent as JSON with exactly one
    inverse functional identifier (Data 2.4.2.1); Communication 2.6 note: an Agent, not a Group.
    Returns the canonical Agent (objectType + the identifier only) and its identifier string,
    which documents are keyed by."""
    agent = p.parse_agent(text, version, limits=limits)
    prop = next(name for name in IFI_PROPERTIES if agent.get(name) is not None)
    canonical = {"objectType": "Agent", prop: agent[prop]}
    ifi = agent_ifi(canonical)
    assert ifi is not None
    return canonical, ifi


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
        raise refusal(
            InvalidDocument,
            what,
            "merge-content-type",
            f"has content-type {media_type(content_type) or 'untyped'}, not application/json:"
            " only JSON Objects can be merged by POST (Communication 2.2)",
        )
    doc = parse_json(body, what, max_depth)
    if not isinstance(doc, dict):
        raise refusal(
            InvalidDocument,
            what,
            "merge-json-object",
            "is not a JSON Object, so it cannot be merged",
        )


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
