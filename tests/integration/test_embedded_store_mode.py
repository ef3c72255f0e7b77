"""The embedded store runs standalone (docs/decisions/0023): as a one-node replica set,
SecantusDB writes an oplog entry for every document it changes, which nothing here reads."""

from __future__ import annotations

import pytest

from lrs.adapters.mongo_store import connect
from tests.conftest import Infra

pytestmark = pytest.mark.integration


async def test_the_embedded_store_is_standalone_and_keeps_no_oplog(infra: Infra) -> None:
    client = connect(infra.mongodb_uri)
    try:
        hello = await client.admin.command("hello")
        await client["oplog_probe"]["docs"].insert_one({"_id": 1})
        oplog = await client["local"].list_collection_names()
    finally:
        await client.close()
    assert "setName" not in hello
    assert "oplog.rs" not in oplog
