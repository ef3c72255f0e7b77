"""The Document Resources (xAPI Communication 2.2, 2.3, 2.6, 2.7) with concurrency control (3.1).

Documents are written to the DocumentStore directly, not through Kafka (read-after-write and
ETag preconditions need it), every document scoped to the caller's tenant. A write reads the
current version, decides (preconditions, merge) with the pure rules of `lrs.xapi.documents`,
and writes conditionally on that version; when another writer got in between, it reads again
and decides again, so a precondition is always judged against the version actually replaced.

After each successful write or delete a document-change event goes to `xapi.documents`
(`schemas/events/document-changed.v1.json`). The store is the source of truth: an event that
cannot be published is logged and counted, and the client still gets its success.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson

from lrs import metrics, topics
from lrs.ports.credentials import Principal
from lrs.ports.documents import DocumentRef, DocumentScope, DocumentStore, StoredDocument
from lrs.ports.events import EventBus, OutgoingMessage
from lrs.xapi import documents as rules
from lrs.xapi.documents import DocumentParams, Preconditions, Resource
from lrs.xapi.errors import NotFound, Unavailable
from lrs.xapi.timefmt import floor_to_millis, format_timestamp

log = logging.getLogger("lrs.documents")

MAX_ATTEMPTS = 64
MILLISECOND = timedelta(milliseconds=1)
Decision = Callable[[StoredDocument | None], tuple[bytes, str]]


@dataclass(frozen=True)
class DocumentDeps:
    """Everything the document operations need from the outside world, injected."""

    store: DocumentStore
    bus: EventBus
    clock: Callable[[], datetime]
    topic: str
    max_json_depth: int
    max_document_bytes: int
    source: str = "lrs-api"
    # LRS_ALLOW_UNCONDITIONAL_PROFILE_CREATE: a PUT without If-Match / If-None-Match may create
    # a new profile document (lrs.xapi.documents.check_put).
    unconditional_profile_create: bool = False


@dataclass(frozen=True, slots=True)
class Upload:
    """A request body and its declared Content-Type."""

    body: bytes
    content_type: str | None


@dataclass(frozen=True, slots=True)
class IdList:
    """Ids of a multiple-document GET, and when the most recent of them changed."""

    ids: list[str]
    last_modified: datetime | None


def scope_of(who: Principal, params: DocumentParams) -> DocumentScope:
    return DocumentScope(
        tenant=who.tenant,
        resource=params.resource.value,
        activity_id=params.activity_id,
        agent_ifi=params.agent_ifi,
        registration=params.registration,
    )


def ref_of(who: Principal, params: DocumentParams) -> DocumentRef:
    assert params.document_id is not None, "parse_params requires the id for this request"
    return DocumentRef(scope_of(who, params), params.document_id)


# --- reads ------------------------------------------------------------------------------------


async def get_document(
    deps: DocumentDeps, who: Principal, params: DocumentParams
) -> StoredDocument:
    """A single document (Communication 2.3, 2.6, 2.7); 404 when there is none."""
    doc = await deps.store.get(ref_of(who, params))
    if doc is None:
        raise NotFound(f"no such document: {rules.ID_PARAM[params.resource]}={params.document_id}")
    return doc


async def list_documents(deps: DocumentDeps, who: Principal, params: DocumentParams) -> IdList:
    """Ids of the context's documents changed after `since` (exclusive). Without a
    registration, State lists every registration's documents (2.3 Multiple Document GET)."""
    stamps = await deps.store.list_ids(scope_of(who, params), params.since)
    stamps.sort(key=lambda s: (s.updated, s.document_id))
    ids = list(dict.fromkeys(s.document_id for s in stamps))
    return IdList(ids, stamps[-1].updated if stamps else None)


# --- writes -----------------------------------------------------------------------------------


async def put_document(
    deps: DocumentDeps,
    who: Principal,
    params: DocumentParams,
    upload: Upload,
    pre: Preconditions,
    version: str,
) -> None:
    """Store or replace a document (PUT), under Communication 3.1's preconditions."""
    rules.check_size(upload.body, deps.max_document_bytes, "document")
    rules.check_put_body(upload.body, upload.content_type, deps.max_json_depth)
    content_type = upload.content_type or rules.DEFAULT_CONTENT_TYPE

    def decide(current: StoredDocument | None) -> tuple[bytes, str]:
        etag = current.etag if current else None
        rules.check_put(
            pre,
            etag,
            resource=params.resource,
            version=version,
            unconditional_create=deps.unconditional_profile_create,
        )
        return upload.body, content_type

    ref = ref_of(who, params)
    written = await _write(deps, ref, decide)
    await _publish(deps, [change_event(deps, params, ref, "put", written)])


async def post_document(
    deps: DocumentDeps, who: Principal, params: DocumentParams, upload: Upload, pre: Preconditions
) -> None:
    """Create a document, or merge a JSON Object into an existing one (Communication 2.2)."""

    def decide(current: StoredDocument | None) -> tuple[bytes, str]:
        rules.check_preconditions(pre, current.etag if current else None)
        if current is None:
            rules.check_size(upload.body, deps.max_document_bytes, "document")
            if rules.is_json(upload.content_type):
                rules.json_object(upload.body, upload.content_type, "document", deps.max_json_depth)
            return upload.body, upload.content_type or rules.DEFAULT_CONTENT_TYPE
        merged = rules.merge_json(
            current.content,
            current.content_type,
            upload.body,
            upload.content_type,
            deps.max_json_depth,
        )
        rules.check_size(merged, deps.max_document_bytes, "merged document")
        return merged, current.content_type

    ref = ref_of(who, params)
    written = await _write(deps, ref, decide)
    await _publish(deps, [change_event(deps, params, ref, "post", written)])


async def _write(deps: DocumentDeps, ref: DocumentRef, decide: Decision) -> StoredDocument:
    """Read, decide, write conditionally on the version read; again if someone got between."""
    for _ in range(MAX_ATTEMPTS):
        current = await deps.store.get(ref)
        content, content_type = decide(current)
        new = StoredDocument(
            content, content_type, rules.etag_of(content), next_updated(deps.clock(), current)
        )
        if current is None:
            written = await deps.store.create(ref, new)
        else:
            written = await deps.store.replace(ref, current, new)
        if written:
            return new
    raise Unavailable("the document kept changing under this request; retry it")


def next_updated(now: datetime, current: StoredDocument | None) -> datetime:
    """Millisecond time of a new version, strictly after the current one's (so Last-Modified
    and `since` see every change, and `(etag, updated)` never names two versions)."""
    moment = floor_to_millis(now)
    if current is not None and moment <= current.updated:
        return current.updated + MILLISECOND
    return moment


# --- deletes ----------------------------------------------------------------------------------


async def delete_documents(
    deps: DocumentDeps, who: Principal, params: DocumentParams, pre: Preconditions
) -> None:
    """Delete one document, or (State without stateId) every document of the context
    (Communication 2.3 Multiple Document DELETE). Deleting nothing is still a success."""
    if params.document_id is None:
        await _delete_all(deps, who, params)
        return
    ref = ref_of(who, params)
    deleted = await _delete_one(deps, ref, pre)
    if deleted is not None:
        await _publish(deps, [change_event(deps, params, ref, "delete", None)])


async def _delete_one(
    deps: DocumentDeps, ref: DocumentRef, pre: Preconditions
) -> StoredDocument | None:
    if not pre.given:
        return await deps.store.delete(ref, None)
    for _ in range(MAX_ATTEMPTS):
        current = await deps.store.get(ref)
        rules.check_preconditions(pre, current.etag if current else None)
        if current is None:
            return None
        deleted = await deps.store.delete(ref, current)
        if deleted is not None:
            return deleted
    raise Unavailable("the document kept changing under this request; retry it")


async def _delete_all(deps: DocumentDeps, who: Principal, params: DocumentParams) -> None:
    scope = scope_of(who, params)
    stamps = await deps.store.delete_all(scope)
    events = [
        change_event(
            deps,
            params,
            DocumentRef(
                DocumentScope(
                    scope.tenant, scope.resource, scope.activity_id, scope.agent_ifi, s.registration
                ),
                s.document_id,
            ),
            "delete",
            None,
        )
        for s in stamps
    ]
    await _publish(deps, events)


# --- events -----------------------------------------------------------------------------------


def event_value(
    params: DocumentParams, ref: DocumentRef, change: str, doc: StoredDocument | None, now: datetime
) -> dict[str, Any]:
    """The document-changed.v1 value (no document bytes)."""
    value: dict[str, Any] = {"tenant": ref.scope.tenant, "resource": params.resource.value}
    if params.activity_id is not None:
        value["activityId"] = params.activity_id
    if params.agent is not None:
        value["agent"] = params.agent
    if params.resource is Resource.STATE:
        value["registration"] = ref.scope.registration
    value[rules.ID_PARAM[params.resource]] = ref.document_id
    value["change"] = change
    value["etag"] = doc.etag if doc else None
    value["contentType"] = doc.content_type if doc else None
    value["updated"] = format_timestamp(doc.updated if doc else now)
    value["size"] = len(doc.content) if doc else 0
    return value


def change_event(
    deps: DocumentDeps,
    params: DocumentParams,
    ref: DocumentRef,
    change: str,
    doc: StoredDocument | None,
) -> OutgoingMessage:
    value = event_value(params, ref, change, doc, deps.clock())
    scope = ref.scope
    context = "|".join(p or "" for p in (scope.activity_id, scope.agent_ifi, scope.registration))
    headers = topics.cloud_event_headers(
        topics.DOCUMENT_CHANGED_TYPE, deps.source, scope.tenant, uuid.uuid4().hex, value["updated"]
    )
    key = topics.document_key(scope.tenant, scope.resource, context, ref.document_id)
    return OutgoingMessage(key, orjson.dumps(value), headers)


async def _publish(deps: DocumentDeps, messages: Sequence[OutgoingMessage]) -> None:
    """Best effort after the write: a failure is logged and counted, never reported."""
    if not messages:
        return
    try:
        await deps.bus.publish(deps.topic, messages)
    except Exception:
        metrics.DOCUMENT_EVENTS_FAILED.inc(len(messages))
        log.exception("could not publish %d document-change event(s)", len(messages))
