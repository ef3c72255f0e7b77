"""Every dependency and route handler of the API is a coroutine function: FastAPI runs a plain
`def` one in its thread pool, a hand-over to a worker thread and back per request (lrs.api.deps)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from lrs.api.app import create_app
from lrs.settings import LrsSettings
from tests.support.adapters import app_adapters


def callables(dependant: Dependant) -> Iterator[object]:
    if dependant.call is not None:
        yield dependant.call
    for dependency in dependant.dependencies:
        yield from callables(dependency)


def runs_in_the_loop(call: object) -> bool:
    """A coroutine function, or an object whose `__call__` is one (FastAPI awaits both)."""
    if inspect.iscoroutinefunction(call):
        return True
    return not inspect.isfunction(call) and inspect.iscoroutinefunction(type(call).__call__)


def dependants(routes: list[Any]) -> Iterator[tuple[str, Dependant]]:
    """(path, dependant) of every API route, those of included routers as they are served
    (with the dependencies the router was included with)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route.path, route.dependant
        elif hasattr(route, "effective_candidates"):  # FastAPI's included router
            for candidate in route.effective_candidates():
                if hasattr(candidate, "dependant"):
                    yield candidate.path, candidate.dependant
                else:
                    yield from dependants([candidate])


def test_no_dependency_or_handler_runs_in_the_thread_pool() -> None:
    app = create_app(LrsSettings(), adapters=app_adapters())
    served = list(dependants(app.routes))
    assert len(served) > 50  # the whole API, not a part of it
    in_threads = {
        f"{path}: {getattr(call, '__qualname__', call)}"
        for path, dependant in served
        for call in callables(dependant)
        if not runs_in_the_loop(call)
    }
    assert in_threads == set()
