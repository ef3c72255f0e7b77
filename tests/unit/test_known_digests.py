"""What the persister remembers of stored Agents (lrs.adapters.mongo_definitions.KnownDigests):
bounded, least recently used forgotten first, and what `upsert_fresh` remembers after a write
is the digest the write stored."""

from __future__ import annotations

from lrs.adapters.mongo_definitions import (
    KnownDigests,
    agent_updates,
    applied_digest,
    stamped,
    to_send,
    upsert_digest,
)
from lrs.ports.statements import AcceptedStatement
from tests.support.factories import agent, statement


def test_the_least_recently_used_are_forgotten_beyond_the_bound() -> None:
    known = KnownDigests(2)
    known.remember({"a": "1", "b": None})
    assert known.known(["a"]) == {"a": "1"}  # "b" is now the least recently used
    known.remember({"c": "3"})
    assert known.known(["a", "b", "c"]) == {"a": "1", "c": "3"}


def test_forgotten_and_unknown_documents_are_not_known() -> None:
    known = KnownDigests(10)
    known.remember({"a": "1", "b": "2"})
    known.forget(["a", "z"])
    assert known.known(["a", "b", "z"]) == {"b": "2"}
    assert KnownDigests(0).known([]) == {}


def test_a_size_of_zero_remembers_nothing() -> None:
    known = KnownDigests(0)
    known.remember({"a": "1"})
    assert known.known(["a"]) == {}


def test_the_digest_remembered_is_the_one_each_kind_of_update_stores() -> None:
    named = statement("ann") | {"actor": agent("ann", name="Ann")}
    nameless = statement("bob") | {"actor": agent("bob")}
    records = [AcceptedStatement("t", s, None, "") for s in (named, nameless)]  # type: ignore[arg-type]
    upserts = agent_updates(records)
    sent = to_send(upserts, {})
    assert len(sent) == 2  # a pipeline (a name to add) and an insert-only update
    for original, (_, update) in zip(upserts, sent, strict=True):
        digest = upsert_digest(original)
        assert update == stamped(original[1], digest)
        assert applied_digest(update) == digest
