"""When the embedded broker is due for a renewal, and what its consumers have not read
(lrs.entry.renewal, docs/decisions/0032): the pure parts."""

from __future__ import annotations

from aiokafka import TopicPartition

from lrs.entry.ends import unread
from lrs.entry.renewal import MAX_RETRY_SECONDS, RETRY_SECONDS, Growth, readers
from lrs.entry.supervisor import renew_limit_mb
from lrs.settings import LrsSettings
from lrs.wiring.consumers import CONSUMERS


class Resident:
    """A broker whose resident memory the test sets."""

    def __init__(self) -> None:
        self.mb: float | None = 40.0

    def __call__(self, pid: int) -> float | None:
        return self.mb


def settled_at_baseline(limit_mb: int, resident: Resident) -> Growth:
    """A `Growth` whose broker has settled, with its baseline taken (the first look)."""
    growth = Growth(limit_mb, resident)
    growth.settled.set()
    assert growth.due(1, now=0.0) is None
    return growth


def test_growth_counts_from_the_size_once_settled_not_from_the_start() -> None:
    resident = Resident()
    growth = Growth(100, resident)
    resident.mb = 400.0  # the republish onto a new broker: not growth
    assert growth.due(1, now=0.0) is None  # not settled yet
    growth.settled.set()
    assert growth.due(1, now=0.0) is None  # the baseline, 400
    resident.mb = 499.0
    assert growth.due(1, now=1.0) is None
    resident.mb = 520.0
    assert growth.due(1, now=2.0) == 120.0


def test_a_renewal_given_up_waits_before_the_next_and_a_new_broker_takes_a_new_baseline() -> None:
    resident = Resident()
    growth = settled_at_baseline(100, resident)
    resident.mb = 200.0
    assert growth.later(now=5.0, after_hold=False) == RETRY_SECONDS
    assert growth.due(1, now=5.0 + RETRY_SECONDS - 0.1) is None
    assert growth.due(1, now=5.0 + RETRY_SECONDS) == 160.0
    assert growth.later(now=6.0, after_hold=False) == RETRY_SECONDS  # held nothing: no longer
    assert growth.later(now=6.0, after_hold=True) == RETRY_SECONDS
    assert growth.later(now=100.0, after_hold=True) == 2 * RETRY_SECONDS  # twice in vain
    assert growth.due(1, now=100.0 + 2 * RETRY_SECONDS - 0.1) is None
    for _ in range(10):
        longest = growth.later(now=100.0, after_hold=True)
    assert longest == MAX_RETRY_SECONDS
    growth.replaced()
    assert growth.due(1, now=1000.0) is None  # a new broker: unsettled
    growth.settled.set()
    assert growth.due(1, now=1000.0) is None  # its baseline, 200
    resident.mb = 310.0
    assert growth.due(1, now=1001.0) == 110.0
    assert growth.later(now=1001.0, after_hold=True) == RETRY_SECONDS  # counted from 0 again


def test_no_limit_never_renews_and_an_unreadable_size_is_not_due() -> None:
    resident = Resident()
    never = settled_at_baseline(0, resident)
    resident.mb = 1e9
    assert never.due(1, now=1.0) is None
    growth = Growth(1, resident)
    growth.settled.set()
    resident.mb = None  # the broker is gone
    assert growth.due(1, now=0.0) is None


def test_unread_counts_what_is_below_the_end_and_not_committed() -> None:
    a, b = TopicPartition("t", 0), TopicPartition("t", 1)
    assert unread({a: 10, b: 0}, {a: 10}) == 0  # b: empty, nothing to commit
    assert unread({a: 10, b: 4}, {a: 7}) == 7  # b never committed: all of it
    assert unread({a: 10}, {a: 12}) == 0


def test_every_consumer_is_a_reader_under_its_own_group() -> None:
    settings = LrsSettings(topic_prefix="p.", consumer_group_prefix="g")
    found = readers(settings)
    assert [r.group for r in found] == [f"g-{name}" for name in CONSUMERS]
    assert [r.topic for r in found] == [f"p.{spec.topic}" for spec in CONSUMERS.values()]


def test_the_kafka_acknowledgement_renews_only_when_the_limit_is_set() -> None:
    assert renew_limit_mb(LrsSettings(ack_mode="stored")) == 1024
    assert renew_limit_mb(LrsSettings(ack_mode="kafka")) == 0
    assert renew_limit_mb(LrsSettings(ack_mode="kafka", embedded_broker_renew_mb=512)) == 512
