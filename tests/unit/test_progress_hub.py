"""What the progress hub wants from its feed: the changes some subscription watches, by key
(the feed decodes no other change); and that a stream reads its snapshot only once the feed
follows the progress topics (docs/decisions/0035)."""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from lrs.services.progress_hub import ALL_GOALS, CLOSED, KINDS, OVERFLOW, Kind, ProgressHub


def test_a_hub_wants_the_changes_of_watched_entities_of_the_watchers_tenant() -> None:
    hub = ProgressHub()
    assert not hub.wants("learner", "acme", "ann")
    ann = hub.subscribe("acme")
    hub.watch(ann, "learner", ["ann"])
    assert hub.wants("learner", "acme", "ann")
    assert not hub.wants("learner", "acme", "bob")
    assert not hub.wants("learner", "other", "ann")
    assert not hub.wants("team", "acme", "ann")
    hub.watch(ann, "learner", ["bob"])  # replaces ann
    assert not hub.wants("learner", "acme", "ann")
    assert hub.wants("learner", "acme", "bob")
    hub.unsubscribe(ann)
    assert not hub.wants("learner", "acme", "bob")


def test_a_watched_entity_is_wanted_until_its_last_watcher_goes() -> None:
    hub = ProgressHub()
    first, second = hub.subscribe("acme"), hub.subscribe("acme")
    hub.watch(first, "team", ["red"])
    hub.watch(second, "team", ["red"])
    hub.unsubscribe(first)
    assert hub.wants("team", "acme", "red")
    hub.unsubscribe(second)
    assert not hub.wants("team", "acme", "red")


def test_any_goal_watcher_of_a_tenant_wants_each_of_its_goal_changes() -> None:
    """A goal's owner is in its value: the key alone cannot say whose goal it is."""
    hub = ProgressHub()
    owner, everything = hub.subscribe("acme"), hub.subscribe("acme")
    hub.watch(owner, "goal", ["learner:ann"])
    hub.watch(everything, "goal", [ALL_GOALS])
    assert hub.wants("goal", "acme", "any-goal-id")
    assert not hub.wants("goal", "other", "any-goal-id")
    hub.unsubscribe(owner)
    assert hub.wants("goal", "acme", "any-goal-id")
    hub.watch(everything, "goal", ["team:red", "organisation"])
    hub.watch(everything, "goal", [])
    assert not hub.wants("goal", "acme", "any-goal-id")


LEARNER: frozenset[Kind] = frozenset({"learner"})
NONE: frozenset[Kind] = frozenset()


async def test_without_a_feed_a_hub_counts_as_followed() -> None:
    hub = ProgressHub(follow_wait_seconds=0.0)
    ann = hub.subscribe("acme")
    hub.watch(ann, "learner", ["ann"])
    await hub.followed(ann)
    assert not hub.wake_feed.is_set()
    hub.following(KINDS)
    assert ann.ready() == []  # nothing to re-read


async def test_a_stream_waits_for_the_feed_to_follow_its_kinds_and_wakes_it() -> None:
    hub = ProgressHub(follow_wait_seconds=30.0)
    hub.following(NONE)
    ann = hub.subscribe("acme")
    hub.watch(ann, "learner", ["ann"])
    hub.watch(ann, "goal", [])  # a kind watched with no entity yet counts
    assert hub.watched_kinds == {"learner", "goal"}
    waiting = asyncio.create_task(hub.followed(ann))
    await asyncio.wait_for(hub.wake_feed.wait(), 5.0)
    assert not waiting.done()
    hub.following(frozenset({"learner", "goal", "team"}))
    await asyncio.wait_for(waiting, 5.0)
    assert ann.ready() == []  # its snapshot, read now, misses nothing
    hub.unsubscribe(ann)
    assert hub.watched_kinds == NONE


async def test_a_stream_of_followed_kinds_does_not_wait_or_wake_the_feed() -> None:
    hub = ProgressHub(follow_wait_seconds=30.0)
    hub.following(LEARNER)
    ann = hub.subscribe("acme")
    hub.watch(ann, "learner", ["ann"])
    await asyncio.wait_for(hub.followed(ann), 5.0)
    assert not hub.wake_feed.is_set()


async def test_a_kind_watched_once_running_wakes_the_feed_and_the_stream_re_reads() -> None:
    """A kind the stream starts watching after its snapshot, which the feed does not follow:
    changes of it until the feed follows are in no change the stream gets."""
    hub = ProgressHub(follow_wait_seconds=30.0)
    hub.following(LEARNER)
    ann = hub.subscribe("acme")
    hub.watch(ann, "learner", ["ann"])
    await hub.followed(ann)
    hub.watch(ann, "team", ["red"])
    assert hub.wake_feed.is_set()
    assert ann.ready() == []
    hub.following(frozenset({"learner", "team"}))
    assert ann.ready() == [OVERFLOW]


async def test_a_stream_that_gave_up_waiting_re_reads_its_snapshot_when_the_feed_follows() -> None:
    """The broker was down: the stream showed its snapshot; what changed until the feed
    followed is in no change it gets, so it is told to read a snapshot again."""
    hub = ProgressHub(follow_wait_seconds=0.01)
    hub.following(NONE)
    ann, gone, team = hub.subscribe("acme"), hub.subscribe("acme"), hub.subscribe("acme")
    for subscription in (ann, gone):
        hub.watch(subscription, "learner", ["ann"])
    hub.watch(team, "team", ["red"])
    for subscription in (ann, gone, team):
        await hub.followed(subscription)
    hub.unsubscribe(gone)
    hub.following(LEARNER)
    assert ann.ready() == [OVERFLOW]
    assert gone.ready() == []
    assert team.ready() == []  # its kind is not followed yet
    hub.following(frozenset({"learner", "team"}))
    assert ann.ready() == []  # once
    assert team.ready() == [OVERFLOW]


async def test_closing_the_hub_ends_a_wait_for_the_feed() -> None:
    """At shutdown no feed will follow: a stream waiting for it goes on (to its end)."""
    hub = ProgressHub(follow_wait_seconds=300.0)
    hub.following(NONE)
    ann = hub.subscribe("acme")
    hub.watch(ann, "learner", ["ann"])
    waiting = asyncio.create_task(hub.followed(ann))
    await asyncio.wait_for(hub.wake_feed.wait(), 5.0)
    hub.close()
    await asyncio.wait_for(waiting, 5.0)
    assert ann.ready() == [CLOSED]


def test_the_hub_exports_which_kinds_its_feed_follows() -> None:
    def following(kind: str) -> float | None:
        return REGISTRY.get_sample_value("lrs_progress_feed_following", {"kind": kind})

    hub = ProgressHub()
    hub.following(frozenset({"learner", "organisation"}))
    assert [following(k) for k in ("learner", "organisation", "team")] == [1, 1, 0]
    hub.following(frozenset({"organisation"}))
    assert [following(k) for k in ("learner", "organisation", "team")] == [0, 1, 0]


async def test_a_running_stream_whose_kind_the_feed_let_go_re_reads_once_followed_again() -> None:
    hub = ProgressHub(follow_wait_seconds=30.0)
    hub.following(LEARNER)
    ann = hub.subscribe("acme")
    hub.watch(ann, "learner", ["ann"])
    await hub.followed(ann)
    hub.following(NONE)  # a feed's mistake: the stream's kind is still watched
    assert hub.wake_feed.is_set()
    assert ann.ready() == []
    hub.following(LEARNER)
    assert ann.ready() == [OVERFLOW]
