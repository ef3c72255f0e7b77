"""Team streams: one live channel per watched team, shared by every stream of that team in this
API process (docs/decisions/0007-progress-api-and-live-stream.md).

A channel subscribes to the hub before it reads anything: first to the team's progress and
registry records, then, once the roster (`read_roster`) names the candidate members, to their
learner records, and only then reads their progress. A change that lands while it reads is
therefore queued, and applied afterwards if it is newer (by `version`) than what was read.

Incremental: a member's learner change replaces that member's view only (no store read); a team
progress change is forwarded as published; a membership change (a registry record, or a team
progress record, whose member list may name a new learner) re-reads the roster once for the
channel, and the progress of new candidates only. Every listener then gets the same events: the
work per change does not grow with the number of subscribers. A listener that attaches (or fell
behind) waits for the channel's next full read, recomputed at read time, as its snapshot;
listeners attaching together share one read.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lrs.services.progress_hub import (
    CLOSED,
    WAKE,
    Change,
    Closed,
    Overflow,
    ProgressHub,
    Subscription,
)
from lrs.services.progress_views import (
    Candidate,
    ProgressSource,
    Roster,
    assemble_team,
    members_of,
    read_candidates,
    read_roster,
)

log = logging.getLogger("lrs.progress.team_channel")


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One Server-Sent Event (or a comment / a retry hint), rendered by lrs.api.sse."""

    event: str | None = None
    data: Mapping[str, Any] | None = None
    id: str | None = None
    comment: str | None = None
    retry_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole team now, for a listener that just attached or fell behind; `token` is the id
    of its last event (a reconnect whose Last-Event-ID equals it needs none of it)."""

    events: tuple[StreamEvent, ...]
    token: str


@dataclass(frozen=True, slots=True)
class Live:
    """What changed since the previous item."""

    events: tuple[StreamEvent, ...]


Update = Snapshot | Live
Listener = Subscription[Update]


class ChannelSource(ProgressSource, Protocol):
    @property
    def hub(self) -> ProgressHub: ...


class TeamState:
    """What every listener of a channel has been sent; each update returns the events that
    carry the difference. The event id is `<team version>.<registry version>.<digest of the
    members' versions>`, made from the state alone, so a snapshot of an unchanged team has the
    id of the last event sent."""

    def __init__(
        self,
        tenant: str,
        team: str,
        roster: Roster,
        candidates: Mapping[str, Candidate],
        summary: Mapping[str, Any] | None,
        team_version: int,
    ) -> None:
        self.tenant, self.team = tenant, team
        self.roster = roster
        self.candidates = dict(candidates)
        self.members = members_of(roster, self.candidates)
        self.summary = summary
        self.team_version = team_version

    def token(self) -> str:
        versions = [(m, self.candidates[m].version) for m in self.members]
        digest = hashlib.sha256(repr(versions).encode()).hexdigest()[:16]
        return f"{self.team_version}.{self.roster.registry_version}.{digest}"

    def snapshot(self) -> Snapshot:
        events = [
            StreamEvent("learner-progress", view)
            for m in self.members
            if (view := self.candidates[m].view) is not None
        ]
        if self.summary is not None:
            events.append(StreamEvent("team-progress", self.summary))
        token = self.token()
        events.append(StreamEvent("team-members", self.members_event(), token))
        return Snapshot(tuple(events), token)

    def members_event(self) -> dict[str, Any]:
        registered = self.roster.registered
        names = registered.names if registered else {}
        return {
            "tenant": self.tenant,
            "team": self.team,
            "name": registered.name if registered else None,
            "exists": self.roster.exists,
            "members": [{"learner": m, "name": names.get(m)} for m in self.members],
            "version": self.roster.registry_version,
        }

    def learner_changed(self, change: Change) -> list[StreamEvent]:
        """Only that learner's view changes (an older or equal version is old news)."""
        known = self.candidates.get(change.entity)
        if known is None or (change.version and change.version <= known.version):
            return []
        names_team = self.team in (change.value.get("teams") or ())
        self.candidates[change.entity] = Candidate(change.value, names_team)
        if change.entity not in self.members:
            return []
        return self._stamped([StreamEvent("learner-progress", change.value)])

    def team_changed(self, change: Change) -> list[StreamEvent]:
        if change.version and change.version <= self.team_version:
            return []
        self.summary, self.team_version = change.value, change.version
        return self._stamped([StreamEvent("team-progress", change.value)])

    def rostered(
        self,
        roster: Roster,
        read: Mapping[str, Candidate],
        summary: tuple[Mapping[str, Any] | None, int] | None = None,
    ) -> list[StreamEvent]:
        """A new roster, the candidates read with it (the new ones, or all of them on a full
        read) and, on a full read, the recomputed team summary and its version."""
        before, registry_before = self.members, self.roster.registry_version
        known = self.candidates
        newer = {c for c, got in read.items() if c in known and got.version > known[c].version}
        self.roster = roster
        self.candidates = {c: self._fresher(c, read.get(c)) for c in roster.candidates}
        self.members = members_of(roster, self.candidates)
        events = [
            StreamEvent("learner-progress", view)
            for m in self.members
            if (m not in before or m in newer) and (view := self.candidates[m].view) is not None
        ]
        if summary is not None and self._summary_read(*summary):
            events.append(StreamEvent("team-progress", self.summary))
        if self.members != before or roster.registry_version != registry_before:
            events.append(StreamEvent("team-members", self.members_event()))
        return self._stamped(events)

    def _fresher(self, learner: str, read: Candidate | None) -> Candidate:
        known = self.candidates.get(learner)
        if known is None or (read is not None and read.version >= known.version):
            assert read is not None, "a new candidate is read before it is added"
            return read
        return known

    def _summary_read(self, summary: Mapping[str, Any] | None, version: int) -> bool:
        """Keep a summary read now (fresher `as_of`); True if its version is news."""
        if version < self.team_version:
            return False
        news = version > self.team_version
        self.summary, self.team_version = summary, version
        return news and summary is not None

    def _stamped(self, events: list[StreamEvent]) -> list[StreamEvent]:
        token = self.token()
        return [StreamEvent(e.event, e.data, token) for e in events]


class TeamChannel:
    """The live state of one team, fed by the hub, fanned out to its listeners' queues."""

    def __init__(
        self, source: ChannelSource, tenant: str, team: str, on_closed: Callable[[], None]
    ) -> None:
        self.tenant, self.team = tenant, team
        self.reads = 0  # roster reads: full reads and membership changes
        self._source = source
        self._hub = source.hub
        self._inbox = self._hub.subscribe(tenant)
        self._hub.watch(self._inbox, "team", [team])
        self._hub.watch(self._inbox, "registry", [team])
        self._hub.watch(self._inbox, "learner", [])  # the members, once the roster is read
        self._listeners: set[Listener] = set()
        self._waiting: set[Listener] = set()
        self._state: TeamState | None = None
        self._on_closed = on_closed
        self._closed = False
        self._task = asyncio.create_task(self._run(), name=f"team-channel {tenant}/{team}")

    def attach(self) -> Listener:
        listener: Listener = Subscription(self.tenant, self._hub.queue_size)
        self.resync(listener)
        return listener

    def resync(self, listener: Listener) -> None:
        """Send `listener` a snapshot (after the channel's next full read)."""
        self._listeners.discard(listener)
        self._waiting.add(listener)
        self._inbox.offer(WAKE)

    def detach(self, listener: Listener) -> None:
        self._listeners.discard(listener)
        self._waiting.discard(listener)
        if not self._listeners and not self._waiting:
            self._close()

    async def _run(self) -> None:
        try:
            await self._hub.followed(self._inbox)  # before the first snapshot's read
            while True:
                items = [await self._inbox.next(), *self._inbox.ready()]
                if any(isinstance(item, Closed) for item in items):
                    break
                await self._handle(items)
        except Exception:  # a store read failed: end the streams, their clients reconnect
            log.warning("team channel %s/%s failed", self.tenant, self.team, exc_info=True)
        self._end()

    async def _handle(self, items: Sequence[object]) -> None:
        state = self._state
        full = state is None or bool(self._waiting) or any(isinstance(i, Overflow) for i in items)
        events: list[StreamEvent] = []
        moved = False
        for change in (i for i in items if isinstance(i, Change)):
            if state is None:
                break
            if change.kind == "learner":
                events += state.learner_changed(change)
            elif change.kind == "team":
                news = state.team_changed(change)
                events += news
                moved = moved or bool(news)
            else:
                moved = moved or change.version != state.roster.registry_version
        if full:
            events += await self._read_all()
        elif moved:
            events += await self._read_roster()
        self._send(Live(tuple(events)))
        if full:
            self._welcome()

    async def _read_all(self) -> list[StreamEvent]:
        """Roster, watch every candidate, then read them all (the snapshot's read)."""
        self.reads += 1
        now = self._source.clock()
        roster = await read_roster(self._source, self.tenant, self.team)
        self._watch(roster.candidates)
        candidates = await read_candidates(
            self._source, self.tenant, self.team, roster.candidates, now
        )
        view = assemble_team(self.tenant, self.team, roster, candidates, now)
        if self._state is None:
            self._state = TeamState(
                self.tenant, self.team, roster, candidates, view.summary, view.version
            )
            return []
        return self._state.rostered(roster, candidates, (view.summary, view.version))

    async def _read_roster(self) -> list[StreamEvent]:
        """Membership may have moved: the roster, then only the new candidates."""
        assert self._state is not None
        self.reads += 1
        roster = await read_roster(self._source, self.tenant, self.team)
        self._watch(roster.candidates)
        new = [c for c in roster.candidates if c not in self._state.candidates]
        now = self._source.clock()
        read = await read_candidates(self._source, self.tenant, self.team, new, now)
        return self._state.rostered(roster, read)

    def _watch(self, learners: list[str]) -> None:
        self._hub.watch(self._inbox, "learner", learners)

    def _send(self, update: Live) -> None:
        if update.events:
            for listener in list(self._listeners):
                listener.offer(update)

    def _welcome(self) -> None:
        assert self._state is not None
        snapshot = self._state.snapshot()
        for listener in list(self._waiting):
            listener.offer(snapshot)
        self._listeners |= self._waiting
        self._waiting = set()

    def _end(self) -> None:
        for listener in self._listeners | self._waiting:
            listener.offer(CLOSED)
        self._listeners, self._waiting = set(), set()
        self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._hub.unsubscribe(self._inbox)
        if asyncio.current_task() is not self._task:
            self._task.cancel()
        self._on_closed()


class TeamListener:
    """One stream's end of a team channel."""

    def __init__(self, channel: TeamChannel, queue: Listener) -> None:
        self._channel, self._queue = channel, queue

    async def next_within(self, seconds: float) -> Update | Overflow | Closed | None:
        return await self._queue.next_within(seconds)

    def resync(self) -> None:
        self._channel.resync(self._queue)

    def close(self) -> None:
        self._channel.detach(self._queue)


class TeamChannels:
    """The open team channels of one API process, by (tenant, team); a channel lives while it
    has listeners."""

    def __init__(self) -> None:
        self._open: dict[tuple[str, str], TeamChannel] = {}

    def listen(self, source: ChannelSource, tenant: str, team: str) -> TeamListener:
        key = (tenant, team)
        channel = self._open.get(key)
        if channel is None:
            channel = TeamChannel(source, tenant, team, lambda: self._forget(key, channel))
            self._open[key] = channel
        return TeamListener(channel, channel.attach())

    def get(self, tenant: str, team: str) -> TeamChannel | None:
        return self._open.get((tenant, team))

    def _forget(self, key: tuple[str, str], channel: TeamChannel | None) -> None:
        if self._open.get(key) is channel:
            del self._open[key]
