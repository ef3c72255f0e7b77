"""What the contract suites share: a fresh database on the session's real (embedded) store,
for the MongoDB side of each `memory`/`mongo` parametrisation."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from lrs.adapters.mongo_store import connect
from tests.conftest import Infra

KINDS = ["memory", "mongo"]


@asynccontextmanager
async def fresh_database(request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A database of its own on the session's store, dropped afterwards (for use inside a
    parametrised fixture, which cannot ask for an async fixture itself)."""
    infra: Infra = request.getfixturevalue("infra")
    client = connect(infra.mongodb_uri)
    name = f"contract_{uuid.uuid4().hex[:8]}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()
