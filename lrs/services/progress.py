"""The progress API: learner and team progress, read and streamed live.

Read-time recomputation: the REST answers and every stream snapshot are computed from the
learners' stored states (`progress_learners.state`, the pure model's input) with `as_of` = now,
so active days, streaks and "active in the last 7/30 days" are true today, not on the day the
consumer last saw a statement. Registry membership is read at the same time, so a member
removed a minute ago is gone. Live changes pushed after a snapshot are the consumers' summaries
as published (computed when the change happened). Team streams are served by one shared
channel per team (lrs.services.team_channel).

Scopes: progress aggregates every statement of a learner, whoever sent them, so it needs
`statements/read` (or `all/read`, `all`). A credential with only `statements/read/mine` is
refused (403): it may read its own statements only, and no progress figure can be limited to
those.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from lrs.ports.credentials import Principal
from lrs.ports.progress import ProgressReader
from lrs.ports.teams import TeamRegistry
from lrs.services import stream_tokens
from lrs.services.progress_hub import Change, Closed, Kind, Overflow, ProgressHub
from lrs.services.progress_views import learner_view, team_view
from lrs.services.team_channel import Snapshot, TeamChannels
from lrs.services.team_channel import StreamEvent as StreamEvent  # the one event type, re-exported
from lrs.xapi.errors import Forbidden, NotFound, Unauthenticated
from lrs.xapi.params import bounded_int

log = logging.getLogger("lrs.progress")
READ_SCOPES = frozenset({"all", "all/read", "statements/read"})


@dataclass(frozen=True)
class ProgressDeps:
    progress: ProgressReader
    registry: TeamRegistry
    hub: ProgressHub
    clock: Callable[[], datetime]
    token_secret: bytes
    token_ttl: timedelta
    keepalive_seconds: float = 15.0
    retry_ms: int = 3000
    channels: TeamChannels = field(default_factory=TeamChannels)  # this process' team streams


def authorize_read(who: Principal) -> None:
    if who.scopes & READ_SCOPES:
        return
    if "statements/read/mine" in who.scopes:
        raise Forbidden(
            "progress covers every statement of a learner; the statements/read/mine scope"
            " reads only the credential's own statements, so it cannot read progress"
        )
    raise Forbidden("reading progress needs the statements/read scope (or all/read, all)")


def issue_stream_token(deps: ProgressDeps, who: Principal) -> stream_tokens.StreamToken:
    authorize_read(who)
    return stream_tokens.issue(deps.token_secret, who, deps.clock(), deps.token_ttl)


def stream_principal(deps: ProgressDeps, token: str) -> Principal:
    return stream_tokens.verify(deps.token_secret, token, deps.clock())


# ---------------------------------------------------------------------------- read-time views


async def learner_progress(deps: ProgressDeps, who: Principal, learner: str) -> dict[str, Any]:
    authorize_read(who)
    view = await _learner(deps, who.tenant, learner, deps.clock())
    if view is None:
        raise NotFound(f"no progress for learner {learner!r} yet")
    return view


async def _learner(
    deps: ProgressDeps, tenant: str, learner: str, now: datetime
) -> dict[str, Any] | None:
    doc = await deps.progress.learner(tenant, learner)
    if doc is None:
        return None
    return learner_view(doc, tenant, await deps.registry.teams_of(tenant, learner), now)


async def team_progress(deps: ProgressDeps, who: Principal, team: str) -> dict[str, Any]:
    authorize_read(who)
    view = await team_view(deps, who.tenant, team, deps.clock())
    if not view.exists or view.summary is None:
        raise NotFound(f"no team {team!r} (neither in the registry nor in any statement)")
    return view.summary


# ---------------------------------------------------------------------------------- streaming


@dataclass(frozen=True, slots=True)
class StreamTarget:
    kind: Literal["learner", "team"]
    entity: str


def open_stream(
    deps: ProgressDeps, who: Principal, target: StreamTarget, last_event_id: str | None
) -> AsyncIterator[StreamEvent]:
    """Snapshot (unless Last-Event-ID says the client has it), then every change, with
    keep-alive comments. Subscribes before reading the snapshot, and drops live changes not
    newer than what was sent, so nothing between the two is lost or sent twice. Authorization
    is checked now, before the response starts."""
    authorize_read(who)
    if target.kind == "learner":
        return _learner_stream(deps, who.tenant, target.entity, last_event_id)
    return _team_stream(deps, who.tenant, target.entity, last_event_id)


Resync = Callable[[], Awaitable[list[StreamEvent]]]
OnChange = Callable[[Change], Awaitable[list[StreamEvent]]]


async def while_valid(
    events: AsyncIterator[StreamEvent], check: Callable[[], Awaitable[None]]
) -> AsyncIterator[StreamEvent]:
    """A stream's events while `check()` (the caller's credential and tenant still usable)
    passes before each one (a keep-alive comes at least every LRS_STREAM_KEEPALIVE_SECONDS):
    once it raises Unauthenticated or Forbidden, a last comment says why and the stream ends,
    and the client's reconnect gets the 401 or 403. A check that cannot be made (the store
    unreachable) keeps the stream open: its events come from the broker, and the caller was
    allowed when it was last checked."""
    try:
        async for event in events:
            try:
                await check()
            except (Unauthenticated, Forbidden) as refused:
                yield StreamEvent(comment=f"closed: {refused}")
                return
            except Exception as exc:
                log.warning("stream: the caller's credential could not be checked (%r)", exc)
            yield event
    finally:
        if isinstance(events, AsyncGenerator):  # its own clean-up (unsubscribing) runs now
            await events.aclose()


Watches = tuple[str, Sequence[tuple[Kind, Sequence[str]]]]  # tenant, (kind, entities) pairs


async def follow_hub(
    deps: ProgressDeps, watches: Watches, snapshot: Resync, on_change: OnChange
) -> AsyncIterator[StreamEvent]:
    """The one snapshot-then-changes loop of the hub-fed streams (a learner's progress, goals):
    the retry hint, `snapshot()` (the subscription to `watches` already registered and the feed
    following the progress topics, so nothing published while it is read is lost), then for
    each item: a keep-alive comment when idle, the end when the hub closes, `snapshot()` again
    after an overflow, `on_change(change)` for a change (the callers drop what is not newer
    than what they sent). Subscribes once iterated, and unsubscribes at the end: a stream never
    started holds no subscription (which would keep the feed following for ever)."""
    tenant, kinds = watches
    subscription = deps.hub.subscribe(tenant)
    for kind, entities in kinds:
        deps.hub.watch(subscription, kind, entities)
    try:
        yield StreamEvent(retry_ms=deps.retry_ms)
        await deps.hub.followed(subscription)
        for event in await snapshot():
            yield event
        while True:
            item = await subscription.next_within(deps.keepalive_seconds)
            if item is None:
                yield StreamEvent(comment="keep-alive")
            elif isinstance(item, Closed):
                return
            elif isinstance(item, Overflow):
                for event in await snapshot():
                    yield event
            elif isinstance(item, Change):
                for event in await on_change(item):
                    yield event
    finally:
        deps.hub.unsubscribe(subscription)


def _learner_stream(
    deps: ProgressDeps, tenant: str, learner: str, last_event_id: str | None
) -> AsyncIterator[StreamEvent]:
    """The event id is the learner's progress version."""
    last = [bounded_int(last_event_id) if last_event_id is not None else None]
    sent = [0]

    async def snapshot() -> list[StreamEvent]:
        sent[0], events = await _learner_snapshot(deps, tenant, learner)
        if last[0] is not None and last[0] >= sent[0]:
            events = [StreamEvent(comment="up to date")]
        last[0] = None  # a later snapshot (after an overflow) is sent whole
        return events

    async def on_change(item: Change) -> list[StreamEvent]:
        if item.version and item.version <= sent[0]:
            return []
        sent[0] = item.version
        return [StreamEvent("learner-progress", item.value, str(item.version))]

    return follow_hub(deps, (tenant, [("learner", [learner])]), snapshot, on_change)


async def _learner_snapshot(
    deps: ProgressDeps, tenant: str, learner: str
) -> tuple[int, list[StreamEvent]]:
    view = await _learner(deps, tenant, learner, deps.clock())
    if view is None:
        return 0, [StreamEvent(comment="no progress yet")]
    version = int(view["version"])
    return version, [StreamEvent("learner-progress", view, str(version))]


async def _team_stream(
    deps: ProgressDeps, tenant: str, team: str, last_event_id: str | None
) -> AsyncIterator[StreamEvent]:
    """Items of the team's shared channel; the event id is its opaque cursor."""
    listener = deps.channels.listen(deps, tenant, team)
    try:
        yield StreamEvent(retry_ms=deps.retry_ms)
        while True:
            item = await listener.next_within(deps.keepalive_seconds)
            if item is None:
                yield StreamEvent(comment="keep-alive")
            elif isinstance(item, Closed):
                return
            elif isinstance(item, Overflow):
                listener.resync()
            elif isinstance(item, Snapshot) and item.token == last_event_id:
                yield StreamEvent(comment="up to date")
            else:
                for event in item.events:
                    yield event
            if isinstance(item, Snapshot):
                last_event_id = None  # a later snapshot (after an overflow) is sent whole
    finally:
        listener.close()
