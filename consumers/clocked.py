"""Clocked handlers: what `goal-progress` and `organisation-progress` share.

Both recompute a value for each trigger they read, and both values also change with the time
alone: each says when it would next change with no new input (`next_check_at`, stored beside
it). While caught up, such a handler looks at most every `clock_seconds`
(LRS_GOALS_CLOCK_SECONDS) for the refs whose time has come and puts a trigger for each on its
own trigger topic, through `send` (a producer of its own: the runner's is for a batch's
outputs), so the time's changes go through the same single writer as any other.

`ClockedHandler` holds that part once: the clock, the send, the topic prefix, the `DueClock`
and the store's indexes (created once per process, before the first read); a subclass says
what differs (its store's refs, its trigger topic and message, its recomputation).
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar, Generic, Protocol, TypeVar

from lrs.ports.events import OutgoingMessage

Clock = Callable[[], datetime]
Send = Callable[[str, Sequence[OutgoingMessage]], Awaitable[None]]
DUE_BATCH = 500
RESEND_SECONDS = 10.0
Ref = TypeVar("Ref")
Ref_co = TypeVar("Ref_co", covariant=True)


class DueStore(Protocol[Ref_co]):
    """The part of a clocked handler's store the clock reads."""

    async def create_indexes(self) -> None: ...

    async def due(self, now: datetime, limit: int) -> Sequence[Ref_co]:
        """At most `limit` refs whose `next_check_at` is at or before `now`."""
        ...


@dataclass(frozen=True)
class ClockedOptions:
    """How a clocked handler runs: `prefix` goes before every topic it writes; the clock looks
    for due refs at most every `clock_seconds`, measured with `monotonic`."""

    prefix: str = ""
    clock_seconds: float = 1.0
    monotonic: Callable[[], float] = time.monotonic


DEFAULT_OPTIONS = ClockedOptions()


class DueClock(Generic[Ref]):
    """The clock of a consumer whose values change with the time alone: at most every
    `every` seconds (LRS_GOALS_CLOCK_SECONDS), the refs whose `next_check_at` has come are
    triggered, but not again within RESEND_SECONDS (while their trigger is being handled)."""

    def __init__(self, clock: Clock, every: float, monotonic: Callable[[], float]) -> None:
        self._clock = clock
        self._every = every
        self._monotonic = monotonic
        self._last_tick = float("-inf")
        self._sent: dict[Ref, float] = {}

    async def fire(
        self,
        due: Callable[[datetime], Awaitable[Sequence[Ref]]],
        trigger: Callable[[datetime, Sequence[Ref]], Awaitable[None]],
    ) -> None:
        """`due(now)` lists the refs whose time has come; `trigger(now, refs)` sends them."""
        tick = self._monotonic()
        if tick - self._last_tick < self._every:
            return
        self._last_tick = tick
        now = self._clock()
        self._sent = {k: t for k, t in self._sent.items() if tick - t < RESEND_SECONDS}
        fresh = [ref for ref in await due(now) if ref not in self._sent]
        if not fresh:
            return
        await trigger(now, fresh)
        self._sent.update((ref, tick) for ref in fresh)


class ClockedHandler(ABC, Generic[Ref]):
    """Base of a runner handler whose values change with the time too (module docstring).
    A subclass names its `trigger_topic` (without the prefix) and builds `trigger_message`."""

    trigger_topic: ClassVar[str]

    def __init__(
        self, store: DueStore[Ref], clock: Clock, send: Send, options: ClockedOptions
    ) -> None:
        self._clock = clock
        self._send = send
        self._prefix = options.prefix
        self._due_store = store
        self._due_clock: DueClock[Ref] = DueClock(clock, options.clock_seconds, options.monotonic)
        self._indexed = False

    @abstractmethod
    def trigger_message(self, ref: Ref, now: datetime) -> OutgoingMessage:
        """The trigger asking for the recomputation of `ref`."""

    async def _ensure_indexes(self) -> None:
        """The store's indexes (the clock's query among them), once per process."""
        if not self._indexed:
            await self._due_store.create_indexes()
            self._indexed = True

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        """The clock (DueClock): a trigger for every ref whose `next_check_at` has come."""
        await self._due_clock.fire(self._due, self._trigger_due)

    async def _due(self, now: datetime) -> Sequence[Ref]:
        await self._ensure_indexes()
        return await self._due_store.due(now, DUE_BATCH)

    async def _trigger_due(self, now: datetime, due: Sequence[Ref]) -> None:
        messages = [self.trigger_message(ref, now) for ref in due]
        await self._send(self._prefix + self.trigger_topic, messages)
