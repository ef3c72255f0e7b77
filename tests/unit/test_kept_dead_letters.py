"""The dead letters a renewal of the embedded broker keeps on disk until they are on the new
broker (lrs.entry.renewal.keep / kept, docs/decisions/0032)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest

from lrs.entry.renewal import keep, kept
from lrs.ports.dead_letters import DeadLetter


def letter(offset: int, key: bytes | None, value: bytes | None) -> DeadLetter:
    return DeadLetter(
        topic="xapi.statements.dlq",
        partition=3,
        offset=offset,
        time=datetime(2026, 12, 3, 7, 30, 1, 250000, tzinfo=UTC),
        key=key,
        value=value,
        headers=(("lrs_consumer", b"persist"), ("lrs_error_message", b"\xff\x00 not text")),
    )


def test_kept_letters_read_back_as_they_were(tmp_path: Path) -> None:
    path = tmp_path / "kept.json"
    letters = [letter(7, b"default\x1fa", b"\x00\x01binary"), letter(8, None, None)]

    keep(path, letters)

    assert kept(path) == letters
    assert not path.with_suffix(".partial").exists()


def test_keeping_again_replaces_what_was_kept(tmp_path: Path) -> None:
    path = tmp_path / "kept.json"
    keep(path, [letter(1, b"k", b"v")])

    keep(path, [letter(2, b"k2", b"v2")])

    assert [d.offset for d in kept(path)] == [2]


def test_no_file_is_no_letters(tmp_path: Path) -> None:
    assert kept(tmp_path / "absent.json") == []


def test_a_damaged_file_is_an_error_not_silence(tmp_path: Path) -> None:
    path = tmp_path / "kept.json"
    path.write_bytes(b'[{"topic": "x.dlq"')

    with pytest.raises(orjson.JSONDecodeError):
        kept(path)
