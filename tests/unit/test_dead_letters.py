"""Dead letters as the CLI and admin API read them: headers read out, what a replay sends,
selections and paging cursors (no broker)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumers.runner import dead_letter_headers
from lrs import topics
from lrs.api.routes.admin import ReplayIn
from lrs.entry import dlq_cli
from lrs.entry.cli import _parser
from lrs.ports.dead_letters import DeadLetter, Position, Selection
from lrs.settings import LrsSettings
from lrs.xapi.errors import BadRequest


class Original:
    topic = "p.xapi.statements"
    partition = 3
    offset = 41
    key = b"t\x1fl"
    value = b"{}"
    headers = [(topics.HEADER_DEFINE, b"1"), (topics.HEADER_TENANT, b"t")]


def letter(offset: int = 7, consumer: str = "progress") -> DeadLetter:
    added = dead_letter_headers(Original(), ValueError("second must be in 0..59"), consumer)
    return DeadLetter(
        topic="p.xapi.statements.dlq",
        partition=0,
        offset=offset,
        time=datetime(2026, 11, 30, tzinfo=UTC),
        key=Original.key,
        value=Original.value,
        headers=(*Original.headers, *added),
    )


def test_a_dead_letter_says_what_failed_where_and_for_whom() -> None:
    dead = letter()
    assert (dead.consumer, dead.error_class) == ("progress", "ValueError")
    assert dead.error_message == "ValueError: second must be in 0..59"
    assert (dead.original_topic, dead.original_partition, dead.original_offset) == (
        "p.xapi.statements",
        3,
        41,
    )
    assert dead.replayable


def test_a_replay_carries_the_original_headers_and_names_the_consumer_that_failed() -> None:
    assert letter().replay_headers() == [
        (topics.HEADER_DEFINE, b"1"),
        (topics.HEADER_TENANT, b"t"),
        (topics.HEADER_REPLAYED_FROM, b"p.xapi.statements.dlq/0/7"),
        (topics.HEADER_REPLAY_FOR, b"progress"),
    ]


def test_selection_filters_by_consumer_error_class_and_offsets() -> None:
    assert Selection(consumer="progress").matches(letter())
    assert not Selection(consumer="persist").matches(letter())
    assert not Selection(error_class="InvalidDocument").matches(letter())
    assert Selection(offsets=frozenset({7})).matches(letter(7))
    assert not Selection(offsets=frozenset({7})).matches(letter(8))


def test_selection_refuses_a_topic_nobody_consumes() -> None:
    with pytest.raises(ValueError, match="no dead-letter topic"):
        Selection(topic=topics.DOCUMENTS)


def test_cursor_round_trips_and_refuses_garbage() -> None:
    position = Position("p.lrs.teams.dlq", 0, 12)
    assert Position.parse(position.token()) == position
    for bad in ("", "x", "1:2", "a:2:p.lrs.teams.dlq", "1:2:p.lrs.teams", "9" * 50 + ":1:x.dlq"):
        with pytest.raises(ValueError, match="not a dead-letter cursor"):
            Position.parse(bad)


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["dlq", "replay"], "--all"),  # nothing is replayed by accident
        (["dlq", "replay", "--offset", "3"], "--offset needs --topic"),  # offsets are per DLQ
    ],
)
def test_replay_needs_an_explicit_selection(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = LrsSettings(kafka_bootstrap="127.0.0.1:1")
    assert dlq_cli.run(_parser().parse_args(argv), settings) == 2
    assert complaint in capsys.readouterr().err


@pytest.mark.parametrize(
    "body", [{}, {"offsets": None}, {"offsets": []}, {"offsets": [1], "all": True}]
)
def test_the_replay_api_needs_an_explicit_selection_too(body: dict[str, object]) -> None:
    with pytest.raises(BadRequest, match='"all": true'):
        ReplayIn.model_validate({"topic": topics.STATEMENTS, **body}).explicit_offsets()


def test_the_replay_api_takes_offsets_or_all() -> None:
    assert ReplayIn(topic=topics.STATEMENTS, offsets=[3]).explicit_offsets() == [3]
    assert ReplayIn(topic=topics.STATEMENTS, all=True).explicit_offsets() is None


def test_a_dead_letter_is_described_on_one_line() -> None:
    line = dlq_cli.describe(letter())
    assert line.split("\t")[:5] == [
        "p.xapi.statements.dlq/0/7",
        "2026-11-30T00:00:00+00:00",
        "progress",
        "ValueError",
        "p.xapi.statements/3/41",
    ]
