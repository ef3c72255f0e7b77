"""The pure rules of the read-through mark (lrs.entry.counted); the rounds themselves run on
the real broker and store in tests/integration/test_read_through_mark.py."""

from __future__ import annotations

from datetime import UTC, datetime

from lrs.entry.counted import Pending, ReplayGate, reached, still_valid, stored_topic_readers


def test_a_reader_has_reached_the_ends_only_on_every_partition() -> None:
    ends = {0: 3, 1: 0, 2: 5}
    assert reached(ends, {0: 3, 2: 5})  # partition 1 holds nothing: no commit needed
    assert reached(ends, {0: 4, 1: 0, 2: 9})
    assert not reached(ends, {0: 3, 2: 4})
    assert not reached(ends, {0: 3})  # never committed on a partition that holds records
    assert reached({}, {})


def test_a_pending_mark_is_invalid_once_a_partition_ends_lower() -> None:
    pending = Pending(datetime(2026, 11, 30, tzinfo=UTC), {0: 3, 1: 2}, 0)
    assert still_valid(pending, {0: 3, 1: 2})
    assert still_valid(pending, {0: 7, 1: 2})
    assert not still_valid(pending, {0: 0, 1: 9})  # a new broker: its topic starts again
    assert not still_valid(pending, {1: 2})


def test_the_gate_is_closed_during_a_replay_and_counts_replays() -> None:
    gate = ReplayGate()
    assert gate.idle_generation() == 0
    gate.begin()
    assert gate.idle_generation() is None
    gate.begin()
    gate.end()
    assert gate.idle_generation() is None  # one replay still runs
    gate.end()
    assert gate.idle_generation() == 2


def test_the_readers_are_those_of_the_stored_statements() -> None:
    assert stored_topic_readers() == ["progress", "webhooks"]
