"""What the progress hub wants from its feed: the changes some subscription watches, by key
(the feed decodes no other change)."""

from __future__ import annotations

from lrs.services.progress_hub import ALL_GOALS, ProgressHub


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
