"""Waiting for a condition with a deadline (never a sleep standing in for synchronisation)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


def no_problems(answer: object) -> bool:
    """The default condition: the probe's answer (a list or mapping of problems) is empty."""
    return not answer


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool] = no_problems,
    *,
    within: float = 90,
    every: float = 0.25,
) -> T:
    """Poll `probe` until `done` holds of its answer or `within` seconds pass; the last answer
    (so that the caller's assertion shows what was still wrong)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    answer = await probe()
    while not done(answer) and loop.time() < deadline:
        await asyncio.sleep(every)
        answer = await probe()
    return answer
