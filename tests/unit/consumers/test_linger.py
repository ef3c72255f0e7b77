"""The linger that follows the load (consumers/linger.py): the pure pace, then the runner
lingering by it, on the runner's fakes (tests/support/runner_fakes.py)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from consumers.linger import LingerPace
from tests.support.runner_fakes import Entry, Harness


def test_a_fixed_linger_is_always_the_configured_one() -> None:
    pace = LingerPace(150, follows_load=False)
    pace.handled(0.002)
    assert pace.seconds() == pytest.approx(0.150)


def test_before_any_batch_is_handled_the_whole_linger_applies() -> None:
    assert LingerPace(150, follows_load=True).seconds() == pytest.approx(0.150)


def test_a_quick_batch_shortens_the_next_linger_to_its_handling_time() -> None:
    pace = LingerPace(150, follows_load=True)
    pace.handled(0.004)
    assert pace.seconds() == pytest.approx(0.004)


def test_each_batch_counts_half_so_one_small_batch_does_not_end_the_linger() -> None:
    pace = LingerPace(150, follows_load=True)
    pace.handled(0.100)
    pace.handled(0.002)
    assert pace.seconds() == pytest.approx(0.051)
    pace.handled(0.002)
    assert pace.seconds() == pytest.approx(0.0265)


def test_a_busy_store_lingers_no_longer_than_configured() -> None:
    pace = LingerPace(150, follows_load=True)
    pace.handled(0.900)
    assert pace.seconds() == pytest.approx(0.150)


def linger_fetches(journal: list[Entry], offset: int) -> list[int]:
    """The timeouts of the empty fetches between the fetch of `offset` and its handling."""
    start = journal.index(("fetch", [offset]))
    end = journal.index(("handled", [offset]))
    return [e[1] for e in journal[start:end] if e[0] == "empty-fetch"]


async def first_then_one_more(h: Harness) -> list[Entry]:
    """A full batch (no linger: `batch_max` reached), then one record, which lingers."""
    h.consumer.hold_empty = True
    h.consumer.add(3)
    h.start()
    await h.until(lambda j: ("commit", 3) in j)
    h.consumer.add(1)
    return await h.until(lambda j: ("handled", [3]) in j)


async def test_the_runner_lingers_the_whole_linger_when_it_does_not_follow_the_load(
    harness: Callable[..., Harness],
) -> None:
    h = harness(batch_max=3, linger_ms=300)
    lingered = linger_fetches(await first_then_one_more(h), 3)
    assert lingered
    assert lingered[0] >= 250, lingered


async def test_the_runner_lingers_about_as_long_as_its_last_batch_took_when_it_follows_the_load(
    harness: Callable[..., Harness],
) -> None:
    """A minute of linger configured; the first batch took milliseconds, so the record after
    it waits about that, not the minute (the until's 20 s bound would fail first)."""
    h = harness(batch_max=3, linger_ms=60_000, linger_follows_load=True)
    lingered = linger_fetches(await first_then_one_more(h), 3)
    assert lingered
    assert max(lingered) < 5_000, lingered
