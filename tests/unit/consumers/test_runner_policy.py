"""The runner's retry, rewind and exit policy (docs/decisions/0008), on fakes of the aiokafka
consumer and producer surface it uses (tests/support/runner_fakes.py). Every fake call is
written to one journal, so the tests check the ORDER: side effects, dead letters, then the
commit; a rewind only before it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from aiokafka import errors as kafka_errors
from pymongo import errors as mongo_errors

from consumers.status import _route
from lrs import metrics
from lrs.ports.events import OutgoingMessage
from tests.support.polling import eventually
from tests.support.runner_fakes import TP, Entry, FakeBell, Harness


def entries(journal: list[Entry], *kinds: str) -> list[Entry]:
    return [e for e in journal if e[0] in kinds]


def counter(metric: Any, *labels: str) -> float:
    value = metric.labels(*labels)._value.get()
    assert isinstance(value, float)
    return value


async def test_a_transient_handler_failure_retries_the_same_batch_without_committing(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.consumer.add(3)
    h.handler.transient = 2
    h.start()
    journal = await h.until(lambda j: bool(entries(j, "commit")))
    assert entries(journal, "handle-failed", "handled", "seek", "commit") == [
        ("handle-failed", [0, 1, 2]),
        ("seek", 0),
        ("handle-failed", [0, 1, 2]),
        ("seek", 0),
        ("handled", [0, 1, 2]),
        ("commit", 3),
    ]
    assert not entries(journal, "dead-letter")
    await h.stopped()


async def test_a_poison_record_is_isolated_and_dead_lettered_then_the_batch_committed(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.consumer.add(2)
    h.consumer.add(1, bad=True)
    h.consumer.add(1)
    h.start()
    journal = await h.until(lambda j: bool(entries(j, "commit")))
    effects = entries(journal, "handled", "dead-letter", "commit", "seek")
    assert effects == [
        ("handled", [0, 1]),  # the first half of the failed batch
        ("handled", [3]),  # the second half failed too: its records one by one
        ("dead-letter", "t.dlq", 2, "ValueError"),
        ("commit", 4),
    ]
    await h.stopped()


async def test_a_transient_fetch_failure_is_retried_with_backoff_and_the_loop_goes_on(
    harness: Callable[..., Harness],
) -> None:
    h = harness()
    h.consumer.add(2)
    h.consumer.getmany_errors = [
        kafka_errors.KafkaConnectionError("broker gone"),
        kafka_errors.RequestTimedOutError(),
    ]
    before = counter(metrics.CONSUMER_TRANSIENT_FAILURES, "fake", "KafkaConnectionError")
    h.start()
    journal = await h.until(lambda j: bool(entries(j, "commit")))
    assert entries(journal, "fetch-error", "handled", "commit") == [
        ("fetch-error", "KafkaConnectionError"),
        ("fetch-error", "RequestTimedOutError"),
        ("handled", [0, 1]),
        ("commit", 2),
    ]
    first, second, third = h.consumer.fetch_times[:3]
    assert second - first >= 0.01 * 0.9  # backoff: 0.01 s, then doubled
    assert third - second >= 0.02 * 0.9
    assert counter(metrics.CONSUMER_TRANSIENT_FAILURES, "fake", "KafkaConnectionError") == (
        before + 1
    )
    assert h.task is not None
    assert not h.task.done()
    await h.stopped()


@pytest.mark.parametrize(
    "error", [mongo_errors.AutoReconnect("store gone"), KeyError("a bug in caught_up")]
)
async def test_a_failed_watermark_write_after_the_commit_never_rewinds_the_batch(
    harness: Callable[..., Harness], error: Exception
) -> None:
    h = harness()
    h.consumer.add(3)
    h.handler.watermark_errors = [error]
    h.start()
    journal = await h.until(lambda j: bool(entries(j, "watermark")))
    effects = entries(journal, "handled", "commit", "watermark-failed", "seek", "watermark")
    assert effects[:4] == [
        ("handled", [0, 1, 2]),
        ("commit", 3),
        ("watermark-failed", type(error).__name__),
        ("watermark",),  # written again at the next loop, the batch not handled again
    ]
    assert set(effects[4:]) <= {("watermark",)}  # neither a rewind nor a replay
    await h.stopped()


async def test_a_stop_finishes_and_commits_the_batch_in_hand_then_exits_cleanly(
    harness: Callable[..., Harness],
) -> None:
    h = harness(batch_max=2)
    h.consumer.add(4)

    async def stop_now() -> None:  # SIGTERM arrives while the first batch is handled
        h.runner.stop_event.set()

    h.handler.on_handle = stop_now
    h.start()
    assert h.task is not None
    await asyncio.wait_for(h.task, 20)  # returns: no error
    assert entries(h.journal, "fetch", "handled", "commit", "consumer-stop") == [
        ("fetch", [0, 1]),
        ("handled", [0, 1]),
        ("commit", 2),
        ("consumer-stop",),
    ]
    assert h.producer.stopped
    assert h.runner.health.state == "stopped"


async def test_an_idle_consumer_fetches_as_long_as_the_broker_may_hold_and_still_stops_at_once(
    harness: Callable[..., Harness],
) -> None:
    """Idle, one fetch waits the idle wait (a minute here), not IDLE_GETMANY_MS: fewer
    wake-ups; a stop ends that fetch instead of waiting it out (the test's 20 s bound)."""
    h = harness(idle_after_seconds=0.01, idle_fetch_max_wait_ms=60_000)
    h.consumer.hold_empty = True
    h.start()
    await h.until(lambda j: ("empty-fetch", 60_000) in j)
    await h.stopped()
    assert h.consumer.stopped
    assert h.runner.health.state == "stopped"


def bell_of(h: Harness) -> FakeBell:
    assert isinstance(h.runner.bell, FakeBell)
    return h.runner.bell


async def test_with_a_bell_an_idle_consumer_pauses_until_rung_then_fetches_at_once(
    harness: Callable[..., Harness],
) -> None:
    """Dozing (docs/decisions/0021, item 8), the partitions are paused: a record that arrives
    is fetched only after the ring resumes them, not at the end of the doze (an hour here)."""
    h = harness(bell=True, idle_after_seconds=0.01, doze_seconds=3600)
    h.start()
    await h.until(lambda j: ("doze", 3600) in j)
    h.consumer.add(1)
    bell_of(h).ring_from_outside()
    journal = await h.until(lambda j: ("handled", [0]) in j)
    dozing = journal.index(("doze", 3600))
    assert entries(journal[dozing - 1 :], "pause", "doze", "rung", "resume", "fetch")[:5] == [
        ("pause", TP),
        ("doze", 3600),
        ("rung",),
        ("resume", TP),
        ("fetch", [0]),
    ]


async def test_a_dozing_consumer_looks_for_records_when_its_doze_ends_without_a_ring(
    harness: Callable[..., Harness],
) -> None:
    h = harness(bell=True, idle_after_seconds=0.01, doze_seconds=0.05)
    h.start()
    await h.until(lambda j: len(entries(j, "resume")) >= 2)
    h.consumer.add(1)
    journal = await h.until(lambda j: ("handled", [0]) in j)
    assert not entries(journal, "rung")


async def test_a_stop_ends_a_doze_at_once(harness: Callable[..., Harness]) -> None:
    h = harness(bell=True, idle_after_seconds=0.01, doze_seconds=3600)
    h.start()
    await h.until(lambda j: ("doze", 3600) in j)
    await h.stopped()  # within the 20 s bound, not the hour
    assert entries(h.journal, "doze", "resume", "consumer-stop")[-3:] == [
        ("doze", 3600),
        ("resume", TP),
        ("consumer-stop",),
    ]
    assert h.consumer.stopped
    assert h.runner.health.state == "stopped"


async def test_a_consumer_rings_after_producing_outputs_and_not_without(
    harness: Callable[..., Harness],
) -> None:
    """Whoever reads its outputs may be dozing."""
    h = harness(bell=True)
    h.consumer.add(1)
    h.start()
    await h.until(lambda j: ("commit", 1) in j)
    assert not entries(h.journal, "ring-sent")
    h.handler.outputs = [("out", OutgoingMessage(key=b"k", value=b"v"))]
    h.consumer.add(1)
    journal = await h.until(lambda j: ("commit", 2) in j)
    assert entries(journal, "produce", "ring-sent", "commit")[-3:] == [
        ("produce", "out"),
        ("ring-sent",),
        ("commit", 2),
    ]


async def test_a_stop_during_retries_exits_without_committing_the_unfinished_batch(
    harness: Callable[..., Harness],
) -> None:
    h = harness(retry_initial_seconds=30.0, retry_max_seconds=30.0)
    h.consumer.add(2)
    h.handler.transient = 1_000
    h.start()
    await h.until(lambda j: bool(entries(j, "handle-failed")))
    await h.stopped()  # within the 30 s backoff: the wait ends at once
    assert not entries(h.journal, "commit")
    assert h.consumer.stopped


async def test_a_fatal_error_ends_the_loop_with_that_error_and_healthz_says_so(
    harness: Callable[..., Harness],
) -> None:
    h = harness(max_consecutive_errors=3)
    bug = TypeError("a bug in the fetch path")
    h.consumer.getmany_errors = [bug] * 10
    before = counter(metrics.BACKGROUND_TASK_FAILURES, "fake", "unexpected")
    with pytest.raises(TypeError) as raised:
        await asyncio.wait_for(h.runner.run(), 20)
    assert raised.value is bug
    assert len(entries(h.journal, "fetch-error")) == 3
    assert h.consumer.stopped
    assert h.producer.stopped
    assert h.runner.health.state == "failed"
    body, _, status = _route("/healthz", "fake", h.runner.health.as_dict)
    assert status.startswith("503")
    assert orjson.loads(body)["state"] == "failed"
    assert counter(metrics.BACKGROUND_TASK_FAILURES, "fake", "unexpected") == before + 3


async def test_healthz_says_a_loop_stuck_in_a_step_is_unhealthy(
    harness: Callable[..., Harness],
) -> None:
    h = harness(stall_seconds=0.2)
    h.consumer.add(1)
    release = asyncio.Event()
    h.handler.on_handle = release.wait  # a store call that never returns, until released
    h.start()

    async def healthz() -> str:
        return _route("/healthz", "fake", h.runner.health.as_dict)[2]

    assert (await eventually(healthz, lambda s: s.startswith("503"), within=20, every=0.02))[
        :3
    ] == "503"
    release.set()
    assert await eventually(healthz, "200 OK".__eq__, within=20, every=0.02) == "200 OK"
    await h.stopped()
