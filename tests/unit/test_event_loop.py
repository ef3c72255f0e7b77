"""The consumer processes' event loop (lrs/entry/event_loop.py, docs/decisions/0036)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from lrs.entry import event_loop


async def _loop_module() -> str:
    return type(asyncio.get_running_loop()).__module__


def test_a_consumer_process_runs_on_uvloop() -> None:
    assert event_loop.run(_loop_module()).startswith("uvloop")


def test_without_uvloop_it_runs_on_asyncios_own_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # `import uvloop` raises ImportError
    assert event_loop.run(_loop_module()).startswith("asyncio")


def test_it_returns_what_the_coroutine_returns_and_raises_what_it_raises() -> None:
    async def answer() -> int:
        return 42

    async def failing() -> None:
        raise LookupError("from the coroutine")

    assert event_loop.run(answer()) == 42
    with pytest.raises(LookupError, match="from the coroutine"):
        event_loop.run(failing())
