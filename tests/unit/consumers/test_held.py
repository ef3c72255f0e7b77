"""consumers.held.Held's bound: what it holds is weighed in bytes, and the sum of what it holds
never passes its bound."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from consumers.held import Held

NOW = datetime(2026, 12, 4, 16, 0, tzinfo=UTC)


def weight(values: Mapping[str, int]) -> int:
    """Each value is its own weight in bytes."""
    return sum(values.values())


def test_values_weighing_the_bound_are_held_one_byte_more_are_not() -> None:
    held: Held[int] = Held(weight, 1000)
    held.hold("exact", 0, 1, {"a": 600, "b": 400}, NOW)
    held.hold("over", 0, 1, {"a": 1001}, NOW)
    assert held.values("exact", 1, NOW, 0) == {"a": 600, "b": 400}
    assert held.values("over", 1, NOW, 0) is None


def test_the_least_recently_used_go_until_the_sum_is_within_the_bound() -> None:
    held: Held[int] = Held(weight, 1000)
    held.hold("first", 0, 1, {"a": 300}, NOW)
    held.hold("second", 0, 1, {"a": 300}, NOW)
    held.hold("third", 0, 1, {"a": 300}, NOW)
    held.values("first", 1, NOW, 0)  # used last: "second" is the oldest
    held.hold("fourth", 0, 1, {"a": 101}, NOW)  # 1,001 in all: "second" goes, 701 left
    assert held.values("second", 1, NOW, 0) is None
    assert [held.values(k, 1, NOW, 0) is not None for k in ("first", "third", "fourth")] == [
        True,
        True,
        True,
    ]
    held.hold("first", 0, 1, {"a": 100}, NOW)  # held again, lighter: 501 in all
    held.hold("fifth", 0, 1, {"a": 499}, NOW)  # 1,000: nothing goes
    assert all(held.values(k, 1, NOW, 0) is not None for k in ("first", "third", "fourth", "fifth"))
