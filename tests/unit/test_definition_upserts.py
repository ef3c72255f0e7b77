"""Activity/Agent upserts are sent only when they may change their document, decided from the
document itself, so the decision holds across persister processes (docs/decisions/0014)."""

from __future__ import annotations

from lrs.adapters.mongo_definitions import MERGED, Upsert, to_send, upsert_digest

NAME_A: Upsert = ({"_id": "t/a"}, [{"$set": {"definition.name.en-US": {"$literal": "A"}}}])
NAME_B: Upsert = ({"_id": "t/a"}, [{"$set": {"definition.name.en-US": {"$literal": "B"}}}])
INSERT: Upsert = ({"_id": "t/a"}, {"$setOnInsert": {"tenant": "t", "id": "a"}})


def test_an_upsert_of_a_missing_document_is_sent_with_its_digest() -> None:
    [(flt, update)] = to_send([NAME_A], {})
    assert flt == {"_id": "t/a"}
    assert isinstance(update, list)
    assert update[-1] == {"$set": {MERGED: {"$literal": upsert_digest(NAME_A)}}}


def test_the_last_upsert_applied_is_not_sent_again() -> None:
    assert to_send([NAME_A], {"t/a": upsert_digest(NAME_A)}) == []


def test_a_change_back_is_sent_whoever_wrote_in_between() -> None:
    """A (this process) -> B (another process) -> A: the document holds B, so A is sent."""
    assert [f for f, _ in to_send([NAME_A], {"t/a": upsert_digest(NAME_B)})] == [{"_id": "t/a"}]


def test_a_document_written_by_an_older_version_is_written_once() -> None:
    assert len(to_send([NAME_A], {"t/a": None})) == 1


def test_an_insert_only_upsert_is_sent_only_for_a_missing_document() -> None:
    assert to_send([INSERT], {"t/a": None}) == []
    [(_, update)] = to_send([INSERT], {})
    assert update == {"$setOnInsert": {"tenant": "t", "id": "a", MERGED: upsert_digest(INSERT)}}


def test_key_order_does_not_change_the_digest() -> None:
    one: Upsert = ({"_id": "x"}, {"a": 1, "b": 2})
    other: Upsert = ({"_id": "x"}, {"b": 2, "a": 1})
    assert upsert_digest(one) == upsert_digest(other)
    assert upsert_digest(one) != upsert_digest(({"_id": "y"}, {"a": 1, "b": 2}))
