"""Organisation progress (`GET /progress/organisation` and its live stream): the value the
organisation-progress consumer last stored for the caller's tenant (docs/organisation.md,
docs/decisions/0020-organisation-progress.md). Same scopes as every progress read."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from lrs import topics
from lrs.ports import Principal
from lrs.services.progress import ProgressDeps, StreamEvent, authorize_read
from lrs.services.progress_hub import Change, Closed, Overflow
from lrs.xapi.errors import NotFound

ORGANISATION_EVENT = "organisation-progress"


class OrganisationReader(Protocol):
    async def read_organisation(self, tenant: str) -> dict[str, Any] | None:
        """The tenant's stored value (with `tenant` and `version`), None before the first."""
        ...


class InMemoryOrganisationReader:
    """For the API's unit tests and the in-memory app."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {}

    async def read_organisation(self, tenant: str) -> dict[str, Any] | None:
        return self.values.get(tenant)


async def organisation_progress(reader: OrganisationReader, who: Principal) -> dict[str, Any]:
    """GET /progress/organisation: the consumer's last value for the caller's tenant."""
    authorize_read(who)
    value = await reader.read_organisation(who.tenant)
    if value is None:
        raise NotFound(
            "no organisation progress yet: it is computed after the first learner, team or"
            " goal progress change of the tenant"
        )
    return value


def open_organisation_stream(
    reader: OrganisationReader, live: ProgressDeps, who: Principal
) -> AsyncIterator[StreamEvent]:
    """`GET /progress/organisation/stream`: an `organisation-progress` event with the value now
    (when there is one), then one per newer `version`, with keep-alive comments. Subscribes
    before reading the snapshot, so nothing in between is lost or sent twice. The event id is
    the version. Authorization is checked now, before the response starts."""
    authorize_read(who)
    return _stream(reader, live, who.tenant)


async def _stream(
    reader: OrganisationReader, live: ProgressDeps, tenant: str
) -> AsyncIterator[StreamEvent]:
    subscription = live.hub.subscribe(tenant)
    live.hub.watch(subscription, "organisation", [topics.ORGANISATION_ENTITY])
    sent = [0]
    try:
        yield StreamEvent(retry_ms=live.retry_ms)
        yield await _snapshot(reader, tenant, sent)
        while True:
            item = await subscription.next_within(live.keepalive_seconds)
            if item is None:
                yield StreamEvent(comment="keep-alive")
            elif isinstance(item, Closed):
                return
            elif isinstance(item, Overflow):
                yield await _snapshot(reader, tenant, sent)
            elif isinstance(item, Change) and _newer(item.value, sent):
                yield _event(item.value)
    finally:
        live.hub.unsubscribe(subscription)


async def _snapshot(reader: OrganisationReader, tenant: str, sent: list[int]) -> StreamEvent:
    value = await reader.read_organisation(tenant)
    if value is None:
        return StreamEvent(comment="no organisation progress yet")
    return _event(value) if _newer(value, sent) else StreamEvent(comment="up to date")


def _event(value: Mapping[str, Any]) -> StreamEvent:
    return StreamEvent(ORGANISATION_EVENT, value, id=str(value.get("version")))


def _newer(value: Mapping[str, Any], sent: list[int]) -> bool:
    """True (and remembered) when the value's version is above the last one sent."""
    version = value.get("version")
    if not isinstance(version, int) or version <= sent[0]:
        return False
    sent[0] = version
    return True
