"""The runner's failure rules, without a broker or store: which failures are transient, how a
failing batch is narrowed down to the records that fail on their own, the retry delays, and
which replayed records a consumer takes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import orjson
import pytest
from aiokafka import errors as kafka_errors
from pymongo import errors as mongo_errors

from consumers.failures import Poison, TransientFailure, is_transient, isolate
from consumers.persist import StoreUnsure
from consumers.runner import Health, backoff_delay, meant_for, send_to_dlq
from consumers.status import _route
from lrs import outages, topics
from tests.support.records import StubRecord


def test_the_runner_follows_the_one_outage_rule() -> None:
    """The cases themselves are checked against lrs.outages in tests/unit/test_outages.py."""
    assert is_transient is outages.is_outage
    assert TransientFailure is outages.TransientFailure


@dataclass
class FakeHandler:
    """Fails a whole part when it contains a bad record; reports `poison` records itself."""

    bad: set[int]
    poison: set[int] = field(default_factory=set)
    transient_at_call: int | None = None
    calls: list[list[int]] = field(default_factory=list)
    handled: list[int] = field(default_factory=list)

    async def attempt(self, part: Sequence[int]) -> list[Poison[int]]:
        self.calls.append(list(part))
        if self.transient_at_call == len(self.calls):
            raise mongo_errors.AutoReconnect("store gone")
        failing = sorted(self.bad & set(part))
        if failing:
            raise ValueError(f"record {failing[0]}")
        self.handled += [r for r in part if r not in self.poison]
        return [Poison(r, LookupError(str(r))) for r in part if r in self.poison]


async def test_isolate_finds_the_one_bad_record_and_handles_every_other() -> None:
    handler = FakeHandler(bad={13})
    found = await isolate(list(range(40)), ValueError("batch"), handler.attempt)
    assert [(p.record, str(p.error)) for p in found] == [(13, "record 13")]
    assert sorted(handler.handled) == [r for r in range(40) if r != 13]
    assert len(handler.calls) <= 2 * 6  # two attempts per halving, log2(40) < 6 levels


async def test_isolate_keeps_each_records_own_error_and_the_handlers_own_poison() -> None:
    handler = FakeHandler(bad={0, 5, 9}, poison={3})
    found = await isolate(list(range(10)), ValueError("batch"), handler.attempt)
    errors = {p.record: str(p.error) for p in found}
    assert errors == {0: "record 0", 3: "3", 5: "record 5", 9: "record 9"}
    assert sorted(handler.handled) == [1, 2, 4, 6, 7, 8]


async def test_isolate_blames_a_single_record_without_running_it_again() -> None:
    handler = FakeHandler(bad={7})
    found = await isolate([7], ValueError("alone"), handler.attempt)
    assert [(p.record, str(p.error)) for p in found] == [(7, "alone")]
    assert handler.calls == []


async def test_isolate_blames_nothing_when_every_part_succeeds_alone() -> None:
    handler = FakeHandler(bad=set())  # the batch failed only as a whole
    assert await isolate([1, 2, 3], ValueError("together"), handler.attempt) == []
    assert sorted(handler.handled) == [1, 2, 3]


async def test_a_transient_failure_while_isolating_propagates() -> None:
    handler = FakeHandler(bad={2}, transient_at_call=2)
    with pytest.raises(mongo_errors.AutoReconnect):
        await isolate([1, 2, 3, 4], ValueError("batch"), handler.attempt)


def test_backoff_doubles_up_to_its_cap() -> None:
    delays = [backoff_delay(n, 0.1, 5.0) for n in range(1, 10)]
    assert delays[:4] == pytest.approx([0.1, 0.2, 0.4, 0.8])
    assert delays[-1] == 5.0
    assert backoff_delay(10_000, 0.1, 5.0) == 5.0


def test_a_replayed_record_is_taken_only_by_the_consumer_it_is_replayed_for() -> None:
    replayed = StubRecord(headers=[("ce_id", b"1"), (topics.HEADER_REPLAY_FOR, b"persist")])
    assert meant_for(replayed, "persist")
    assert not meant_for(replayed, "progress")
    assert meant_for(StubRecord(headers=[("ce_id", b"1")]), "progress")


def test_health_reports_retrying_until_a_loop_succeeds() -> None:
    health = Health()
    health.retrying(mongo_errors.AutoReconnect("x"))
    health.retrying(mongo_errors.AutoReconnect("x"))
    body, _, status = _route("/readyz", "persist", health.as_dict)
    report = orjson.loads(body)
    assert status.startswith("503")
    assert report["status"] == "retrying"
    assert report["error_class"] == "AutoReconnect"
    assert report["consecutive_failures"] == 2
    assert _route("/healthz", "persist", health.as_dict)[2] == "200 OK"
    health.running()
    body, _, status = _route("/readyz", "persist", health.as_dict)
    assert status == "200 OK"
    assert orjson.loads(body)["status"] == "ok"


@dataclass
class RefusingProducer:
    """Refuses any record with a value as too large; keeps what it accepts."""

    sent: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = field(default_factory=list)

    async def send_and_wait(
        self, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        if value is not None:
            raise kafka_errors.MessageSizeTooLargeError()
        self.sent.append((topic, value, headers))


async def test_a_dead_letter_too_large_for_the_broker_goes_without_its_value() -> None:
    producer = RefusingProducer()
    record = StubRecord(headers=[("big", b"x")], value=b"x" * 100, offset=9)
    await send_to_dlq(producer, Poison(record, ValueError("bad")), "persist")  # type: ignore[arg-type]
    [(topic, value, headers)] = producer.sent
    assert (topic, value) == ("xapi.statements.dlq", None)
    named = dict(headers)
    assert named[topics.HEADER_VALUE_OMITTED] == b"1"
    assert named[topics.HEADER_ORIGINAL_OFFSET] == b"9"
    assert named[topics.HEADER_CONSUMER] == b"persist"
    assert "big" not in named


def test_a_handler_may_say_not_now() -> None:
    assert is_transient(TransientFailure("later"))
    assert is_transient(StoreUnsure("refused ids are not stored"))
