"""A progress document's `state` and `summary` are JSON bytes in the store (docs/decisions/0023):
read back they are `bytes`; a document built in memory holds the `Binary` it was written with.
Both are read, and so is the sub-document form of earlier versions."""

from __future__ import annotations

import pytest
from bson import Binary

from lrs.adapters.mongo_progress import state_fields, summary_fields


@pytest.mark.parametrize(
    "stored", [b'{"a": 1}', Binary(b'{"a": 1}'), {"a": 1}], ids=["bytes", "binary", "sub-document"]
)
def test_a_summary_is_read_in_every_form(stored: object) -> None:
    assert summary_fields({"summary": stored}) == {"a": 1}


@pytest.mark.parametrize(
    "stored", [b'{"a": 1}', Binary(b'{"a": 1}'), {"a": 1}], ids=["bytes", "binary", "sub-document"]
)
def test_a_state_is_read_in_every_form(stored: object) -> None:
    assert state_fields({"learner": "l", "state": stored}) == {"learner": "l", "a": 1}


def test_nothing_stored_reads_as_empty() -> None:
    assert summary_fields({}) == {}
    assert state_fields({"learner": "l"}) == {"learner": "l"}
