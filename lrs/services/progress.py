"""The progress API: learner and team progress, read and streamed live.

Read-time recomputation: the REST answers and every stream snapshot are computed from the
learners' stored states (`progress_learners.state`, the pure model's input) with `as_of` = now,
so active days, streaks and "active in the last 7/30 days" are true today, not on the day the
consumer last saw a statement. Registry membership is read at the same time, so a member
removed a minute ago is gone. Live changes pushed after a snapshot are the consumers' summaries
as published (computed when the change happened).

Scopes: progress aggregates every statement of a learner, whoever sent them, so it needs
`statements/read` (or `all/read`, `all`). A credential with only `statements/read/mine` is
refused (403): it may read its own statements only, and no progress figure can be limited to
those.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from lrs.ports import LearnerProgressDoc, Principal, ProgressReader, TeamRegistry
from lrs.progress.model import LearnerState, summarize_learner
from lrs.progress.registry import Team
from lrs.progress.team import summarize_team
from lrs.services import stream_tokens
from lrs.services.progress_hub import Change, Closed, Overflow, ProgressHub, Subscription
from lrs.xapi.errors import Forbidden, NotFound
from lrs.xapi.params import bounded_int

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


def statement_teams(state: Mapping[str, Any]) -> set[str]:
    """Teams the learner's live statements name (context.team, contextGroups)."""
    facts = state.get("facts") or {}
    return {team for f in facts.values() for team in f.get("teams") or ()}


def learner_view(
    doc: LearnerProgressDoc, tenant: str, registry_teams: list[str], now: datetime
) -> dict[str, Any]:
    state = LearnerState.from_dict(doc.state)
    summary = summarize_learner(state, now.date(), registry_teams=registry_teams)
    return {**summary, "tenant": tenant, "version": doc.version}


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


@dataclass
class TeamView:
    """A team now: its summary (None when it has no members and no stored progress), its
    members' learner summaries, and the versions a stream cursor is made of."""

    team: str
    tenant: str
    name: str | None
    exists: bool
    members: list[str]
    names: Mapping[str, str]
    summary: dict[str, Any] | None
    learners: dict[str, dict[str, Any]] = field(default_factory=dict)
    version: int = 0
    registry_version: int = 0

    def members_event(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "team": self.team,
            "name": self.name,
            "exists": self.exists,
            "members": [{"learner": m, "name": self.names.get(m)} for m in self.members],
            "version": self.registry_version,
        }


async def team_view(deps: ProgressDeps, tenant: str, team: str, now: datetime) -> TeamView:
    """Members = registry members + learners whose live statements name the team (from the
    stored team progress' member list, each re-checked against the learner's state)."""
    registered: Team | None = await deps.registry.get(tenant, team)
    stored = await deps.progress.team(tenant, team)
    listed = set(registered.members if registered else ())
    candidates = listed | set(stored.members if stored else ())
    docs = await deps.progress.learners(tenant, sorted(candidates))
    members = sorted(
        m
        for m in candidates
        if m in listed or (m in docs and team in statement_teams(docs[m].state))
    )
    learners: dict[str, dict[str, Any]] = {}
    for member in members:
        if member in docs:
            teams = await deps.registry.teams_of(tenant, member)
            learners[member] = learner_view(docs[member], tenant, teams, now)
    summary = None
    if members or stored is not None:
        by_member: dict[str, Mapping[str, Any] | None] = {m: learners.get(m) for m in members}
        summary = {
            **summarize_team(team, by_member, now),
            "tenant": tenant,
            "version": stored.version if stored else 0,
        }
    return TeamView(
        team=team,
        tenant=tenant,
        name=registered.name if registered else None,
        exists=registered is not None or stored is not None,
        members=members,
        names=registered.names if registered else {},
        summary=summary,
        learners=learners,
        version=stored.version if stored else 0,
        registry_version=registered.version if registered else 0,
    )


async def team_progress(deps: ProgressDeps, who: Principal, team: str) -> dict[str, Any]:
    authorize_read(who)
    view = await team_view(deps, who.tenant, team, deps.clock())
    if not view.exists or view.summary is None:
        raise NotFound(f"no team {team!r} (neither in the registry nor in any statement)")
    return view.summary


# ---------------------------------------------------------------------------------- streaming


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One Server-Sent Event (or a comment / a retry hint), rendered by lrs.api.sse."""

    event: str | None = None
    data: Mapping[str, Any] | None = None
    id: str | None = None
    comment: str | None = None
    retry_ms: int | None = None


@dataclass(frozen=True, slots=True)
class StreamTarget:
    kind: Literal["learner", "team"]
    entity: str


class _Cursor:
    """Versions of everything a stream has sent; the event id is made from them.

    Learner stream: the id is the learner's progress version (an integer). Team stream: an
    opaque `<team version>.<registry version>.<digest of the members' versions>`; a reconnect
    whose Last-Event-ID equals the current cursor skips the snapshot, any other gets it.
    """

    def __init__(self, target: StreamTarget) -> None:
        self.target = target
        self.versions: dict[str, int] = {}

    def seen(self, key: str, version: int) -> bool:
        """Record `version` for `key`; False if it is not newer than what was sent."""
        if version and version <= self.versions.get(key, 0):
            return False
        self.versions[key] = version
        return True

    def token(self) -> str:
        if self.target.kind == "learner":
            return str(self.versions.get("l:" + self.target.entity, 0))
        learners = sorted((k, v) for k, v in self.versions.items() if k.startswith("l:"))
        digest = hashlib.sha256(repr(learners).encode()).hexdigest()[:16]
        return f"{self.versions.get('t', 0)}.{self.versions.get('r', 0)}.{digest}"

    def up_to_date(self, last_event_id: str | None) -> bool:
        if last_event_id is None:
            return False
        if self.target.kind == "learner":
            current = self.versions.get("l:" + self.target.entity, 0)
            version = bounded_int(last_event_id)
            return version is not None and version >= current
        return last_event_id == self.token()


def open_stream(
    deps: ProgressDeps, who: Principal, target: StreamTarget, last_event_id: str | None
) -> AsyncIterator[StreamEvent]:
    """Snapshot (unless Last-Event-ID says the client has it), then every change, with
    keep-alive comments. Subscribes before reading the snapshot, and drops live changes not
    newer than what was sent, so nothing between the two is lost or sent twice. Authorization
    is checked now, before the response starts."""
    authorize_read(who)
    return _stream(deps, who, target, last_event_id)


async def _stream(
    deps: ProgressDeps, who: Principal, target: StreamTarget, last_event_id: str | None
) -> AsyncIterator[StreamEvent]:
    subscription = deps.hub.subscribe(who.tenant)
    try:
        session = _Session(deps, who.tenant, target, subscription)
        yield StreamEvent(retry_ms=deps.retry_ms)
        snapshot = await session.snapshot()
        if session.cursor.up_to_date(last_event_id):
            yield StreamEvent(comment="up to date")
        else:
            for event in snapshot:
                yield event
        while True:
            item = await subscription.next_within(deps.keepalive_seconds)
            if item is None:
                yield StreamEvent(comment="keep-alive")
            elif isinstance(item, Closed):
                return
            elif isinstance(item, Overflow):
                for event in await session.snapshot():
                    yield event
            else:
                for event in await session.apply(item):
                    yield event
    finally:
        deps.hub.unsubscribe(subscription)


class _Session:
    def __init__(
        self, deps: ProgressDeps, tenant: str, target: StreamTarget, subscription: Subscription
    ) -> None:
        self.deps = deps
        self.tenant = tenant
        self.target = target
        self.subscription = subscription
        self.cursor = _Cursor(target)
        self.members: list[str] = []
        if target.kind == "learner":
            deps.hub.watch(subscription, "learner", [target.entity])
        else:
            deps.hub.watch(subscription, "team", [target.entity])
            deps.hub.watch(subscription, "registry", [target.entity])

    async def snapshot(self) -> list[StreamEvent]:
        """The current state, every event of it (the cursor then says it was all sent)."""
        now = self.deps.clock()
        self.cursor.versions.clear()
        if self.target.kind == "learner":
            view = await _learner(self.deps, self.tenant, self.target.entity, now)
            if view is None:
                return [StreamEvent(comment="no progress yet")]
            self.cursor.seen("l:" + self.target.entity, view["version"])
            return [self._event("learner-progress", view)]
        team = await team_view(self.deps, self.tenant, self.target.entity, now)
        return self._team_events(team)

    def _team_events(self, team: TeamView) -> list[StreamEvent]:
        self._watch_members(team.members)
        self.cursor.seen("r", team.registry_version)
        events = []
        for learner, view in sorted(team.learners.items()):
            self.cursor.seen("l:" + learner, view["version"])
            events.append(StreamEvent("learner-progress", view))
        if team.summary is not None:
            self.cursor.seen("t", team.version)
            events.append(StreamEvent("team-progress", team.summary))
        events.append(StreamEvent("team-members", team.members_event()))
        last = events[-1]
        events[-1] = StreamEvent(last.event, last.data, self.cursor.token())
        return events

    def _watch_members(self, members: list[str]) -> None:
        self.members = list(members)
        self.deps.hub.watch(self.subscription, "learner", members)

    async def apply(self, change: Change) -> list[StreamEvent]:
        if change.kind == "learner":
            if not self.cursor.seen("l:" + change.entity, change.version):
                return []
            return [self._event("learner-progress", change.value)]
        if change.kind == "team" and not self.cursor.seen("t", change.version):
            return []
        if change.kind == "registry" and not self.cursor.seen("r", change.version):
            return []
        # The membership may have moved (registry change, or a learner whose statements now
        # name the team): re-read the team, send what is new.
        view = await team_view(self.deps, self.tenant, self.target.entity, self.deps.clock())
        events: list[StreamEvent] = []
        new_members = sorted(set(view.members) - set(self.members))
        membership_moved = view.members != self.members or change.kind == "registry"
        self._watch_members(view.members)
        for learner in new_members:
            if learner in view.learners and self.cursor.seen(
                "l:" + learner, view.learners[learner]["version"]
            ):
                events.append(StreamEvent("learner-progress", view.learners[learner]))
        if change.kind == "team":
            events.append(StreamEvent("team-progress", change.value))
        if membership_moved:
            self.cursor.seen("r", view.registry_version)
            events.append(StreamEvent("team-members", view.members_event()))
        return [StreamEvent(e.event, e.data, self.cursor.token()) for e in events]

    def _event(self, name: str, data: Mapping[str, Any]) -> StreamEvent:
        return StreamEvent(name, data, self.cursor.token())
