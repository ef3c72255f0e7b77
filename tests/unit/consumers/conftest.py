"""The `harness` fixture of the runner's tests: a real `Runner` on fakes
(tests/support/runner_fakes.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest

from tests.support.runner_fakes import Harness, harnesses


@pytest.fixture
async def harness() -> AsyncIterator[Callable[..., Harness]]:
    async for make in harnesses():
        yield make
