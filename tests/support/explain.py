"""What the real store does for a query, by its own `explain` (tests that prove a read is
bounded by an index, not by the size of a collection)."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo.asynchronous.collection import AsyncCollection


async def examined(db: Any, finds: list[dict[str, Any]]) -> tuple[int, set[str]]:
    """The documents the store examined for these finds (its `explain`), and the plans' scans."""
    total, scans = 0, set()
    for find in finds:
        reply = await db.command({"explain": find, "verbosity": "executionStats"})
        total += reply["executionStats"]["totalDocsExamined"]
        node = reply["queryPlanner"]["winningPlan"]
        while "inputStage" in node:
            node = node["inputStage"]
        scans.add(node["stage"])
    return total, scans


def recorded_finds(monkeypatch: pytest.MonkeyPatch, name: str) -> list[dict[str, Any]]:
    """The finds on collection `name` from now on (until `monkeypatch.undo()`), as commands."""
    finds: list[dict[str, Any]] = []
    original = AsyncCollection.find

    def recording_find(collection: Any, *args: Any, **kwargs: Any) -> Any:
        if collection.name == name:
            finds.append({"find": name, "filter": args[0], "projection": args[1]})
        return original(collection, *args, **kwargs)

    monkeypatch.setattr(AsyncCollection, "find", recording_find)
    return finds
