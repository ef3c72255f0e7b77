"""Learner documents kept decoded between batches (lrs.adapters.state_cache): each with the stamp
it was stored with, bounded by the facts they hold, least recently used dropped first."""

from __future__ import annotations

from lrs.adapters.state_cache import StateCache, new_stamp
from lrs.ports.progress import LearnerDoc
from lrs.progress import LearnerState, apply
from tests.support.factories import statement


def state_of(learner: str, statements: int) -> LearnerDoc:
    """A learner document whose state holds `statements` facts."""
    state = LearnerState(learner)
    for _ in range(statements):
        state = apply(state, statement(learner=learner))
    return LearnerDoc("t", learner, state, version=1)


def test_a_kept_document_is_given_with_its_stamp() -> None:
    cache, doc = StateCache(100), state_of("ann", 3)
    cache.put("t/ann", "s1", doc)
    assert cache.kept("t/ann") == ("s1", doc)
    assert cache.kept("t/bob") is None
    cache.put("t/ann", "s2", doc)  # written again
    assert cache.kept("t/ann") == ("s2", doc)


def test_the_least_recently_used_states_go_first_when_the_facts_exceed_the_bound() -> None:
    cache = StateCache(10)  # a state of n statements holds n + 1
    for name in ("a", "b", "c"):
        cache.put(name, "s", state_of(name, 2))
    assert cache.held == 9
    assert cache.kept("a") is not None  # "b" is now the least recently used
    cache.put("d", "s", state_of("d", 2))
    assert "b" not in cache
    assert [k for k in ("a", "c", "d") if k in cache] == ["a", "c", "d"]
    assert cache.held == 9


def test_a_state_larger_than_the_bound_is_not_kept_and_replaces_nothing_else() -> None:
    cache = StateCache(5)
    cache.put("a", "s", state_of("a", 1))
    cache.put("big", "s", state_of("big", 5))
    assert "big" not in cache
    assert "a" in cache
    assert cache.held == 2


def test_a_state_put_again_replaces_the_one_kept_and_counts_once() -> None:
    cache = StateCache(100)
    cache.put("a", "s1", state_of("a", 4))
    smaller = state_of("a", 1)
    cache.put("a", "s2", smaller)
    assert cache.kept("a") == ("s2", smaller)
    assert cache.held == 2
    cache.drop("a")
    assert cache.held == 0
    assert len(cache) == 0


def test_stamps_differ() -> None:
    assert len({new_stamp() for _ in range(1000)}) == 1000
