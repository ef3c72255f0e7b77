"""How long a Kafka consumer lets the broker hold an empty fetch: short while records flow,
long once none has come for a while (docs/decisions/0021).

A consumer keeps one fetch request in flight at all times; with nothing to read, the broker
answers it after the request's `fetch_max_wait_ms` and the client sends the next one at once.
A short wait (20 ms) makes a fetch every 20 ms per consumer: about 3% of a core in the broker
and 3% in the consumer, for every one of `lrs serve`'s consumers, while nothing happens. A long
wait costs little, but the embedded broker (Tansu) does not answer a waiting fetch the moment
a record arrives: it looks again after half the wait, then half the rest, ... So a record
arriving during a long wait may wait up to half of it. Hence two waits: the short one while
records come (and for `idle_after` seconds after the last one), the long one when the consumer
is idle. The first record after an idle stretch pays up to half the long wait, once per
consumer it passes through; under load nothing changes.

While records flow, the short wait only matters to a consumer that has read everything: it
then sends an empty fetch every `busy_ms`, and the broker answers each. On the acknowledgement
path (the persister, and each API process's feed of stored statements) that is
`LRS_CONSUMER_ACK_FETCH_WAIT_MS` (50 ms); the
consumers a watched stream waits for wait `LRS_CONSUMER_FETCH_WAIT_MS` (100 ms), the
`background` ones `LRS_CONSUMER_BACKGROUND_FETCH_WAIT_MS` (500 ms): the 13 other consumers of
`lrs serve` fetching every 20 ms cost the broker and themselves about half a core under load
(docs/benchmarks.md, "Fetch waits by pace" and "Re-measured on a quiet machine").

Idle, the consumers whose output a person waits for after a silence (the persister, learner
and team progress, goals: a goal's change on its stream within 1 s) wait
`LRS_CONSUMER_IDLE_FETCH_WAIT_MS` (500 ms); the others (webhooks, organisation progress, team
registry changes for team progress and for goals: `background`) wait
`LRS_CONSUMER_BACKGROUND_IDLE_FETCH_WAIT_MS` (5 s), so their first record after a silence may
wait up to 2.5 s more (a goal's change caused by a registry change after a silence, too).

The wait is a field of aiokafka's fetcher that it reads for every fetch request it builds; it
is not part of aiokafka's public interface, so a consumer without it (a test's fake) is left as
it is.

With a doorbell (`lrs serve` on its embedded broker: lrs.adapters.doorbell, docs/decisions/0021
item 8), the idle waits above no longer apply: an idle consumer or feed dozes (`doze_if_idle`),
its partitions paused so that no fetch is in flight, until a producer rings, or for
LRS_CONSUMER_DOZE_SECONDS (15). A ring also counts as a record for `idle_after`, and between
dozes a fetch is held only the busy wait. The first record after a silence is then fetched as
soon as it is produced, and an idle `lrs serve` sends the broker about one fetch per consumer
per doze.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

from lrs.background import unless_stopped

# The busy wait on the acknowledgement path (a POST waits for the persister, then for its API
# process's feed of `lrs.statements.stored`, docs/decisions/0002): the default of
# LRS_CONSUMER_ACK_FETCH_WAIT_MS, which the persister and `lrs api`'s feed take.
ACK_PATH_FETCH_WAIT_MS = 50


@dataclass
class FetchPacer:
    busy_ms: int
    idle_ms: int
    idle_after: float  # seconds without a record before the consumer counts as idle
    clock: Callable[[], float] = time.monotonic
    last_record: float = field(init=False)

    def __post_init__(self) -> None:
        self.last_record = self.clock()  # a consumer starting up is not idle yet

    def saw(self, records: int) -> None:
        """After a fetch: how many records it returned."""
        if records:
            self.last_record = self.clock()

    def woke(self) -> None:
        """Rung by a producer (lrs.adapters.doorbell): records are coming, as if one came."""
        self.last_record = self.clock()

    @property
    def idle(self) -> bool:
        return self.clock() - self.last_record >= self.idle_after

    @property
    def wait_ms(self) -> int:
        return self.idle_ms if self.idle else self.busy_ms

    def apply(self, consumer: object) -> None:
        """Give `consumer` (an AIOKafkaConsumer) the wait for its next fetch requests, and how
        often its background fetching looks at its state when nothing wakes it."""
        set_fetch_wait(consumer, self.wait_ms, self.poll_seconds)

    @property
    def poll_seconds(self) -> float:
        """How often aiokafka's background fetching looks at its state when nothing wakes it:
        idle, once a second or once per idle wait, whichever is longer."""
        if not self.idle:
            return BUSY_POLL_SECONDS
        return max(IDLE_POLL_SECONDS, self.idle_ms / 1000)


# aiokafka's background fetching wakes for a fetch's answer or a getmany, and otherwise looks
# at its state every `consumer_timeout_ms` (200 ms by default: 5 wake-ups a second per idle
# consumer). Idle, once a second (or per idle wait, when longer): a group rebalance is then
# seen up to that much later.
BUSY_POLL_SECONDS = 0.2
IDLE_POLL_SECONDS = 1.0


def set_fetch_wait(consumer: object, wait_ms: int, poll_seconds: float | None = None) -> bool:
    """Set an aiokafka consumer's fetch_max_wait_ms for the fetch requests it builds from now
    on (and its background polling interval, `poll_seconds`); False when `consumer` has no
    fetcher (not started, or not an aiokafka consumer)."""
    fetcher: Any = getattr(consumer, "_fetcher", None)
    if fetcher is None or not hasattr(fetcher, "_fetch_max_wait_ms"):
        return False
    fetcher._fetch_max_wait_ms = wait_ms
    if poll_seconds is not None and hasattr(fetcher, "_fetcher_timeout"):
        fetcher._fetcher_timeout = poll_seconds
    return True


class Bell(Protocol):
    """Rung by whoever produces (lrs.adapters.doorbell, docs/decisions/0021 item 8): wakes a
    dozing consumer; a consumer rings it when it produces."""

    def ring(self) -> None: ...
    def take(self) -> bool: ...
    async def wait(self, seconds: float) -> bool: ...


class Pausable(Protocol):
    """The part of an AIOKafkaConsumer a doze uses."""

    def assignment(self) -> Collection[Any]: ...
    def paused(self) -> Collection[Any]: ...
    def pause(self, *partitions: Any) -> None: ...
    def resume(self, *partitions: Any) -> None: ...


async def doze_if_idle(
    consumer: Pausable,
    bell: Bell,
    pacer: FetchPacer,
    seconds: float,
    stop: asyncio.Event | None = None,
) -> None:
    """A ring counts as activity (the records it announces are fetched at the busy pace); an
    idle consumer pauses its partitions, so that no fetch is in flight for the broker to hold,
    until rung, stopped, or `seconds` have passed (LRS_CONSUMER_DOZE_SECONDS: a missed ring is
    then made up for)."""
    if bell.take():
        pacer.woke()
    if not pacer.idle:
        return
    held = consumer.paused()  # paused by their owner: left paused after the doze
    partitions = [tp for tp in consumer.assignment() if tp not in held]
    consumer.pause(*partitions)
    # nothing to fetch: aiokafka's background fetching need not look until the resume wakes it
    set_fetch_wait(consumer, pacer.wait_ms, poll_seconds=seconds)
    try:
        rung = await _rung_or_stopped(bell, seconds, stop)
    finally:
        consumer.resume(*(tp for tp in partitions if tp in consumer.assignment()))
    if rung:
        pacer.woke()
    pacer.apply(consumer)


async def _rung_or_stopped(bell: Bell, seconds: float, stop: asyncio.Event | None) -> bool:
    if stop is None:
        return await bell.wait(seconds)
    return bool(await unless_stopped(bell.wait(seconds), stop))
