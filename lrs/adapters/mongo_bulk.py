"""Bulk writes that treat "this _id (or unique key) already exists" as an answer, not a failure:
the idempotent writes of the consumers rely on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError

DUPLICATE_KEY = 11000


async def bulk_write_tolerating_duplicates(
    collection: AsyncCollection[dict[str, Any]], ops: Sequence[Any]
) -> set[int]:
    """Unordered bulk write; return the positions refused with a duplicate key. Any other
    write error is raised."""
    if not ops:
        return set()
    try:
        await collection.bulk_write(list(ops), ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return {int(e["index"]) for e in errors}
    return set()
