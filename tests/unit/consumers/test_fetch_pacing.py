"""Idle consumers let the broker hold their empty fetches longer (lrs.fetch_pacing)."""

from __future__ import annotations

import asyncio
import inspect
from dataclasses import dataclass, field

from aiokafka.consumer.fetcher import Fetcher

from lrs.fetch_pacing import FetchPacer, doze_if_idle, set_fetch_wait


@dataclass
class Clock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeFetcher:
    _fetch_max_wait_ms: int = 20
    _fetcher_timeout: float = 0.2


@dataclass
class FakeConsumer:
    _fetcher: FakeFetcher = field(default_factory=FakeFetcher)


def pacer(clock: Clock) -> FetchPacer:
    return FetchPacer(busy_ms=20, idle_ms=1000, idle_after=30.0, clock=clock)


def test_a_consumer_starting_up_is_busy_until_nothing_came_for_idle_after() -> None:
    clock = Clock()
    paced = pacer(clock)
    clock.now += 29.9
    assert (paced.idle, paced.wait_ms) == (False, 20)
    clock.now += 0.1
    assert (paced.idle, paced.wait_ms) == (True, 1000)


def test_a_record_makes_an_idle_consumer_busy_again_and_empty_fetches_do_not() -> None:
    clock = Clock()
    paced = pacer(clock)
    clock.now += 60
    paced.saw(0)
    assert paced.idle
    paced.saw(3)
    assert (paced.idle, paced.wait_ms) == (False, 20)
    clock.now += 29
    paced.saw(0)
    assert not paced.idle
    clock.now += 1
    assert paced.idle


def test_apply_sets_the_wait_of_the_next_fetch_requests() -> None:
    clock = Clock()
    paced = pacer(clock)
    consumer = FakeConsumer()
    clock.now += 31
    paced.apply(consumer)
    assert consumer._fetcher._fetch_max_wait_ms == 1000
    assert consumer._fetcher._fetcher_timeout == 1.0
    paced.saw(1)
    paced.apply(consumer)
    assert consumer._fetcher._fetch_max_wait_ms == 20
    assert consumer._fetcher._fetcher_timeout == 0.2


def test_idle_the_background_fetching_looks_at_its_state_once_per_idle_wait() -> None:
    clock = Clock()
    paced = FetchPacer(busy_ms=100, idle_ms=5000, idle_after=30.0, clock=clock)
    consumer = FakeConsumer()
    clock.now += 31
    paced.apply(consumer)
    assert (consumer._fetcher._fetch_max_wait_ms, consumer._fetcher._fetcher_timeout) == (5000, 5)
    paced.saw(1)
    paced.apply(consumer)
    assert (consumer._fetcher._fetch_max_wait_ms, consumer._fetcher._fetcher_timeout) == (100, 0.2)


def test_a_consumer_without_a_fetcher_is_left_alone() -> None:
    assert set_fetch_wait(object(), 1000) is False
    assert set_fetch_wait(FakeConsumer(), 1000) is True


def test_aiokafka_builds_each_fetch_request_from_the_attribute_the_pacer_sets() -> None:
    """The wait is aiokafka's private state: this fails when an aiokafka upgrade renames it
    (the pacer would then silently change nothing)."""
    source = inspect.getsource(Fetcher._get_actions_per_node)
    assert "self._fetch_max_wait_ms" in source
    assert "FetchRequest(" in source
    assert "self._fetcher_timeout" in source  # the background fetching's polling interval


def test_a_ring_makes_an_idle_consumer_busy_as_a_record_does() -> None:
    clock = Clock()
    paced = pacer(clock)
    clock.now += 31
    assert paced.idle
    paced.woke()
    assert (paced.idle, paced.wait_ms) == (False, 20)
    clock.now += 30
    assert paced.idle


@dataclass
class PausingConsumer:
    """What a doze uses of a consumer: two partitions, `held` paused by its owner."""

    held: set[str] = field(default_factory=set)
    journal: list[tuple[str, ...]] = field(default_factory=list)

    def assignment(self) -> set[str]:
        return {"progress-0", "stored-0"}

    def paused(self) -> set[str]:
        return set(self.held)

    def pause(self, *partitions: str) -> None:
        self.journal.append(("pause", *sorted(partitions)))

    def resume(self, *partitions: str) -> None:
        self.journal.append(("resume", *sorted(partitions)))


@dataclass
class SilentBell:
    """Never rung: only the test's `stop` ends a doze."""

    waiting: asyncio.Event = field(default_factory=asyncio.Event)

    def ring(self) -> None: ...

    def take(self) -> bool:
        return False

    async def wait(self, seconds: float) -> bool:
        self.waiting.set()
        await asyncio.Event().wait()
        return False


async def test_a_doze_leaves_paused_what_its_owner_paused_and_ends_when_stopped() -> None:
    """The API's feed pauses the progress topics while nobody watches (docs/decisions/0035):
    a doze must not resume them; a stream opening (`stop`) ends the doze at once."""
    clock = Clock()
    paced = pacer(clock)
    clock.now += 31.0  # idle
    consumer = PausingConsumer(held={"progress-0"})
    stop = asyncio.Event()
    bell = SilentBell()
    dozing = asyncio.create_task(doze_if_idle(consumer, bell, paced, 300.0, stop))
    await asyncio.wait_for(bell.waiting.wait(), 5.0)
    assert consumer.journal == [("pause", "stored-0")]
    stop.set()
    await asyncio.wait_for(dozing, 5.0)
    assert consumer.journal == [("pause", "stored-0"), ("resume", "stored-0")]
