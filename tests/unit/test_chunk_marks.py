"""How sealed-fact chunks are named (docs/decisions/0031): a small part of one seal is marked to
be merged later; a merged chunk, or a part of one seal large enough as it is, is not."""

from __future__ import annotations

from lrs.adapters.mongo_progress import MERGED_MARK, SINGLE_MARK, chunks_to_mongo
from lrs.ports.progress import CHUNK_FACTS, LearnerDoc
from lrs.progress import StatementFacts
from lrs.progress.verbs import VerbClass

LEARNER = LearnerDoc.empty("acme", "mbox:mailto:a.b@example.org")


def facts(count: int) -> list[StatementFacts]:
    return [
        StatementFacts(f"{n:032x}", VerbClass.OTHER, f"2026-11-02T10:{n % 60:02d}:00.000Z")
        for n in range(count)
    ]


def marks(chunks: list[dict[str, object]]) -> list[str]:
    return [str(c["_id"]).rpartition(".")[2] for c in chunks]


def test_a_small_seal_is_one_chunk_to_merge_later() -> None:
    chunks = chunks_to_mongo(LEARNER, "ab12", facts(32))
    assert marks(chunks) == [f"{SINGLE_MARK}0"]
    assert str(chunks[0]["_id"]).startswith("acme/mbox:mailto:a.b@example.org/ab12.")


def test_a_large_seal_is_left_as_it_is_but_for_a_small_rest() -> None:
    chunks = chunks_to_mongo(LEARNER, "ab12", facts(CHUNK_FACTS * 2 + 10))
    assert marks(chunks) == [f"{MERGED_MARK}0", f"{MERGED_MARK}1", f"{SINGLE_MARK}2"]
    assert [len(c["ids"]) for c in chunks] == [CHUNK_FACTS, CHUNK_FACTS, 10]


def test_a_merge_is_never_merged_again() -> None:
    chunks = chunks_to_mongo(LEARNER, "ab12", facts(CHUNK_FACTS + 10), merged=True)
    assert marks(chunks) == [f"{MERGED_MARK}0", f"{MERGED_MARK}1"]
