"""Team streams over the in-memory adapters, with counting fakes: nothing between the snapshot
and the subscription is lost, a team is read with a fixed number of store queries whatever its
size, and many subscribers of one team share one recomputation per change."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from lrs.adapters.memory_teams import InMemoryProgressReader, InMemoryTeamRegistry
from lrs.ports.credentials import Principal
from lrs.ports.progress import LearnerProgressDoc, TeamProgressDoc
from lrs.progress import fold
from lrs.progress.registry import Team, registry_value
from lrs.services.progress import (
    ProgressDeps,
    StreamEvent,
    StreamTarget,
    open_stream,
    team_progress,
)
from lrs.services.progress_hub import Change, ProgressHub

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
WHO = Principal("t", "k", frozenset({"statements/read"}), {})
TEAM = StreamTarget("team", "T")
DEADLINE = 5.0


class CountingReader(InMemoryProgressReader):
    """Counts store reads; `after_learners` runs once, right after the next `learners` read
    (an update that lands between a read and whatever follows it)."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()
        self.after_learners: Callable[[], None] | None = None

    async def learner(self, tenant: str, learner: str) -> LearnerProgressDoc | None:
        self.calls["learner"] += 1
        return await super().learner(tenant, learner)

    async def learners(self, tenant: str, learners: Sequence[str]) -> dict[str, LearnerProgressDoc]:
        self.calls["learners"] += 1
        found = await super().learners(tenant, learners)
        hook, self.after_learners = self.after_learners, None
        if hook is not None:
            hook()
        return found

    async def team(self, tenant: str, team: str) -> TeamProgressDoc | None:
        self.calls["team"] += 1
        return await super().team(tenant, team)


class CountingRegistry(InMemoryTeamRegistry):
    def __init__(self) -> None:
        super().__init__()
        self.calls: Counter[str] = Counter()

    async def get(self, tenant: str, team: str) -> Team | None:
        self.calls["get"] += 1
        return await super().get(tenant, team)

    async def teams_of(self, tenant: str, learner: str) -> list[str]:
        self.calls["teams_of"] += 1
        return await super().teams_of(tenant, learner)

    async def teams_of_members(self, tenant: str, learners: Sequence[str]) -> dict[str, list[str]]:
        self.calls["teams_of_members"] += 1
        return await super().teams_of_members(tenant, learners)


class Fixture:
    def __init__(self, members: Sequence[str], queue_size: int = 256) -> None:
        self.reader, self.registry = CountingReader(), CountingRegistry()
        self.hub = ProgressHub(queue_size)
        self.deps = ProgressDeps(
            self.reader, self.registry, self.hub, lambda: NOW, b"k", timedelta(minutes=5), 0.05
        )
        self.team = Team("t", "T", "Team", NOW, tuple(members), {}, 1)
        self.registry.teams["t", "T"] = self.team
        for member in members:
            self.store(member, 2)

    def store(self, learner: str, version: int) -> None:
        state = fold(learner, []).to_dict()
        self.reader.learner_docs["t", learner] = LearnerProgressDoc(learner, state, {}, [], version)

    def learner_change(self, learner: str, version: int) -> None:
        """What the progress consumer does: write the document, then publish the change."""
        self.store(learner, version)
        value = {"learner": learner, "version": version, "teams": ["T"]}
        self.hub.publish(Change("learner", "t", learner, version, value))

    def registry_change(self, members: Sequence[str]) -> None:
        self.team = replace(self.team, members=tuple(members), version=self.team.version + 1)
        self.registry.teams["t", "T"] = self.team
        self.hub.publish(Change("registry", "t", "T", self.team.version, registry_value(self.team)))

    def team_change(self, version: int) -> None:
        self.reader.team_docs["t", "T"] = TeamProgressDoc("T", {}, list(self.team.members), version)
        value = {"team": "T", "tenant": "t", "version": version, "members": len(self.team.members)}
        self.hub.publish(Change("team", "t", "T", version, value))

    def queries(self) -> int:
        return sum(self.reader.calls.values()) + sum(self.registry.calls.values())

    def reset_counts(self) -> None:
        self.reader.calls.clear()
        self.registry.calls.clear()


async def next_event(
    events: AsyncIterator[StreamEvent], wanted: Callable[[StreamEvent], bool]
) -> StreamEvent:
    """The next event `wanted` accepts (keep-alives and others skipped), within DEADLINE."""
    async with asyncio.timeout(DEADLINE):
        while True:
            event = await anext(events)
            if event.event is not None and wanted(event):
                return event


def learner_event(learner: str, version: int) -> Callable[[StreamEvent], bool]:
    def wanted(event: StreamEvent) -> bool:
        data = event.data or {}
        return event.event == "learner-progress" and (data["learner"], data["version"]) == (
            learner,
            version,
        )

    return wanted


def members_event(count: int) -> Callable[[StreamEvent], bool]:
    return lambda e: e.event == "team-members" and len((e.data or {})["members"]) == count


async def test_update_landing_right_after_the_snapshot_read_is_delivered() -> None:
    fx = Fixture(["A", "B"])
    fx.reader.after_learners = lambda: fx.learner_change("A", 3)
    events = open_stream(fx.deps, WHO, TEAM, None)
    snapshot_a = await next_event(events, lambda e: e.event == "learner-progress")
    assert ((snapshot_a.data or {})["learner"], (snapshot_a.data or {})["version"]) == ("A", 2)
    await next_event(events, learner_event("A", 3))
    fx.hub.publish(Change("learner", "t", "A", 2, {"learner": "A", "version": 2}))  # old news
    fx.learner_change("A", 4)
    got = await next_event(events, lambda e: e.event == "learner-progress")
    assert (got.data or {})["version"] == 4  # the stale version 2 was not sent
    await events.aclose()  # type: ignore[attr-defined]


async def test_update_of_a_new_member_landing_right_after_its_read_is_delivered() -> None:
    fx = Fixture(["A"])
    fx.store("C", 4)
    events = open_stream(fx.deps, WHO, TEAM, None)
    await next_event(events, members_event(1))
    fx.reader.after_learners = lambda: fx.learner_change("C", 5)
    fx.registry_change(["A", "C"])
    await next_event(events, members_event(2))
    await next_event(events, learner_event("C", 5))
    await events.aclose()  # type: ignore[attr-defined]


async def test_a_team_is_read_with_the_same_few_queries_whatever_its_size() -> None:
    counts = []
    for size in (2, 40):
        fx = Fixture([f"m{n}" for n in range(size)])
        body = await team_progress(fx.deps, WHO, "T")
        assert body["members"] == size
        counts.append(fx.queries())
        fx.reset_counts()
        events = open_stream(fx.deps, WHO, TEAM, None)
        await next_event(events, members_event(size))
        counts.append(fx.queries())
        await events.aclose()  # type: ignore[attr-defined]
    assert counts[0] == counts[2], counts  # the REST read
    assert counts[1] == counts[3], counts  # a stream's snapshot
    assert max(counts) <= 5, counts


async def test_many_subscribers_of_a_team_share_one_recomputation_per_change() -> None:
    fx = Fixture(["A", "B"])
    fx.store("C", 7)
    streams = [open_stream(fx.deps, WHO, TEAM, None) for _ in range(8)]
    for events in streams:
        await next_event(events, members_event(2))
    fx.reset_counts()

    fx.learner_change("A", 3)  # a member's update: no store read at all
    for events in streams:
        await next_event(events, learner_event("A", 3))
    assert fx.queries() == 0, (fx.reader.calls, fx.registry.calls)

    fx.registry_change(["A", "B", "C"])  # membership moved: read once for all 8 streams
    for events in streams:
        await next_event(events, members_event(3))
    assert fx.registry.calls["get"] == 1, fx.registry.calls
    assert fx.reader.calls["learners"] == 1, fx.reader.calls

    fx.reset_counts()
    fx.team_change(5)
    for events in streams:
        got = await next_event(events, lambda e: e.event == "team-progress")
        assert (got.data or {})["version"] == 5
    assert fx.reader.calls["team"] == 1, fx.reader.calls
    for events in streams:
        await events.aclose()  # type: ignore[attr-defined]
    assert fx.hub.subscribers == 0


async def test_a_team_stream_that_falls_behind_gets_a_fresh_snapshot() -> None:
    fx = Fixture(["A", "B"], queue_size=4)
    slow, fast = open_stream(fx.deps, WHO, TEAM, None), open_stream(fx.deps, WHO, TEAM, None)
    await next_event(slow, members_event(2))
    await next_event(fast, members_event(2))
    for version in range(3, 15):
        fx.learner_change("A", version)
        await next_event(fast, learner_event("A", version))
    # The slow stream's queue overflowed: it gets the whole team again, as it is now.
    await next_event(slow, learner_event("A", 14))
    await next_event(slow, members_event(2))
    for events in (slow, fast):
        await events.aclose()  # type: ignore[attr-defined]
    assert fx.hub.subscribers == 0


async def test_closing_the_hub_ends_every_team_stream() -> None:
    fx = Fixture(["A"])
    streams = [open_stream(fx.deps, WHO, TEAM, None) for _ in range(3)]
    for events in streams:
        await next_event(events, members_event(1))
    fx.hub.close()
    for events in streams:
        with pytest.raises(StopAsyncIteration):
            await next_event(events, lambda _: True)
    assert fx.deps.channels.get("t", "T") is None


async def test_a_failed_store_read_ends_the_streams_and_the_next_one_reads_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fx = Fixture(["A"])
    working = fx.reader.team

    async def broken(tenant: str, team: str) -> TeamProgressDoc | None:
        raise ConnectionError("store down")

    fx.reader.team = broken  # type: ignore[method-assign]
    events = open_stream(fx.deps, WHO, TEAM, None)
    with caplog.at_level(logging.WARNING), pytest.raises(StopAsyncIteration):
        await next_event(events, lambda _: True)
    assert "team channel t/T failed" in caplog.text
    assert fx.hub.subscribers == 0
    fx.reader.team = working  # type: ignore[method-assign]
    again = open_stream(fx.deps, WHO, TEAM, None)
    await next_event(again, members_event(1))
    await again.aclose()  # type: ignore[attr-defined]


async def test_a_team_stream_waits_for_the_feed_to_follow_its_members_changes_too() -> None:
    """The feed follows only the kinds streams watch (docs/decisions/0035): a team stream
    reads nothing before the feed follows the learners' changes as well as the team's."""
    fx = Fixture(["A", "B"])
    fx.hub.following(frozenset({"team", "registry"}))
    events = open_stream(fx.deps, WHO, TEAM, None)
    first = asyncio.ensure_future(next_event(events, members_event(2)))
    await asyncio.wait_for(fx.hub.wake_feed.wait(), DEADLINE)
    assert fx.queries() == 0  # waiting, not reading
    assert fx.hub.watched_kinds == {"team", "registry", "learner"}
    fx.hub.following(frozenset({"team", "registry", "learner"}))
    await first
    await events.aclose()  # type: ignore[attr-defined]
