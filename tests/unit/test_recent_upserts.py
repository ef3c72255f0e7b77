"""The persister skips Activity/Agent upserts it applied lately, and only those."""

from __future__ import annotations

from lrs.adapters.mongo_definitions import RecentUpserts


def test_only_unseen_upserts_are_fresh() -> None:
    recent = RecentUpserts()
    first = ({"_id": "t/a"}, {"$set": {"definition.name.en-US": "A"}})
    changed = ({"_id": "t/a"}, {"$set": {"definition.name.en-US": "B"}})
    fresh = recent.fresh([first])
    assert [u for _, u in fresh] == [first]
    recent.remember([key for key, _ in fresh])
    assert recent.fresh([first]) == []
    assert [u for _, u in recent.fresh([first, changed])] == [changed]


def test_key_order_does_not_matter() -> None:
    recent = RecentUpserts()
    recent.remember([k for k, _ in recent.fresh([({"_id": "x"}, {"a": 1, "b": 2})])])
    assert recent.fresh([({"_id": "x"}, {"b": 2, "a": 1})]) == []


def test_the_least_recent_are_forgotten_beyond_the_bound() -> None:
    recent = RecentUpserts(size=2)
    upserts = [({"_id": str(n)}, {"$set": {"v": n}}) for n in range(3)]
    for upsert in upserts:
        recent.remember([k for k, _ in recent.fresh([upsert])])
    assert [u for _, u in recent.fresh(upserts)] == [upserts[0]]


def test_a_rename_back_is_written() -> None:
    """A -> B -> A: the second A changes the stored value (B), so it is never skipped."""
    recent = RecentUpserts()
    name_a = ({"_id": "t/a"}, {"$set": {"definition.name.en-US": "A"}})
    name_b = ({"_id": "t/a"}, {"$set": {"definition.name.en-US": "B"}})
    written = []
    for upsert in (name_a, name_b, name_a):
        fresh = recent.fresh([upsert])
        written += [u for _, u in fresh]
        recent.remember([key for key, _ in fresh])
    assert written == [name_a, name_b, name_a]


def test_a_repeat_of_another_documents_upsert_is_not_skipped() -> None:
    recent = RecentUpserts()
    first = ({"_id": "t/a"}, {"$set": {"v": 1}})
    recent.remember([k for k, _ in recent.fresh([first])])
    other = ({"_id": "t/b"}, {"$set": {"v": 1}})
    assert [u for _, u in recent.fresh([other])] == [other]
