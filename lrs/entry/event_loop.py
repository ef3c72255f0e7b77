"""The event loop a consumer process runs on: uvloop where it is installed (a dependency on
every platform but Windows, as uvicorn's is for the API processes), asyncio's own elsewhere
(docs/decisions/0036)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run `main` to its end on a new event loop, as `asyncio.run` does."""
    try:
        import uvloop
    except ImportError:  # Windows, where uvloop does not build
        return asyncio.run(main)
    return uvloop.run(main)
