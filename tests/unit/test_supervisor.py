"""`lrs serve` restarts a dead worker at once, then backs off while it keeps dying."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from lrs.entry import supervisor
from lrs.entry.embedded import Child, ExitedBeforeListening
from lrs.settings import LrsSettings


class DeadChild(Child):
    starts: int = 0

    def start(self) -> None:
        self.starts += 1

    def alive(self) -> bool:
        return False


class StartedChild(DeadChild):
    """Alive once started."""

    def alive(self) -> bool:
        return self.starts > 0


def test_restarts_back_off_and_reset_once_stable(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(supervisor.time, "monotonic", lambda: now[0])
    stack = supervisor.Stack(LrsSettings())
    worker = DeadChild("persist", ["true"])
    starts = []
    for _ in range(40):  # 20 s of checks, every half second
        stack.restart_when_due(worker)
        starts.append(worker.starts)
        now[0] += 0.5
    # restarted at t=0, then after 0.5, 1, 2, 4 and 8 s: never every check
    assert starts[0] == 1
    assert worker.starts == 6
    now[0] += supervisor.STABLE_AFTER + supervisor.MAX_BACKOFF
    stack.restart_when_due(worker)
    assert stack.backoff["persist"].failures == 1


def test_consumers_stopped_by_a_renewal_start_one_at_a_time_without_counting_a_restart(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """docs/decisions/0032: the persister at once, then one every RENEWED_START_GAP seconds by
    pace (progress before webhooks), each by `check`; none counted as a restart."""
    now = [1000.0]
    monkeypatch.setattr(supervisor.time, "monotonic", lambda: now[0])
    stack = supervisor.Stack(LrsSettings())
    consumers = [StartedChild(name, ["true"]) for name in ("webhooks", "progress", "persist")]
    stack.workers = list(consumers)
    stack.start_in_turn(consumers)
    webhooks, progress, persist = consumers
    assert [webhooks.starts, progress.starts, persist.starts] == [0, 0, 1]
    starts = []
    for _ in range(4):
        now[0] += supervisor.RENEWED_START_GAP / 2
        stack.check()
        starts.append([progress.starts, webhooks.starts])
    assert starts == [[0, 0], [1, 0], [1, 0], [1, 1]]
    assert stack.in_turn == {}
    assert stack.backoff == {}


def listener(port: int) -> Child:
    """A child that listens on `port` until it is killed."""
    code = (
        "import socket, time; s = socket.socket(); "
        f"s.bind(('127.0.0.1', {port})); s.listen(); time.sleep(60)"
    )
    return Child("listener", [sys.executable, "-c", code])


def test_a_child_that_ends_before_listening_is_started_again_on_another_port() -> None:
    ports: list[int] = []

    def make(port: int) -> Child:
        ports.append(port)
        return (
            Child("quitter", [sys.executable, "-c", "raise SystemExit(3)"])
            if len(ports) == 1
            else listener(port)
        )

    child, port = supervisor.started_on_a_free_port(make)
    try:
        assert len(ports) == 2
        assert port == ports[1]
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        child.kill()


def test_a_child_that_never_listens_ends_the_start_after_the_last_try() -> None:
    tries: list[int] = []

    def make(port: int) -> Child:
        tries.append(port)
        return Child("quitter", [sys.executable, "-c", "raise SystemExit(3)"])

    with pytest.raises(ExitedBeforeListening, match="exited with 3"):
        supervisor.started_on_a_free_port(make, tries=3)
    assert len(tries) == 3


def test_the_embedded_broker_gets_fewer_partitions_unless_they_are_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LRS_STATEMENT_PARTITIONS", raising=False)
    monkeypatch.delenv("LRS_KAFKA_BOOTSTRAP", raising=False)
    embedded, env = supervisor.with_embedded_defaults(LrsSettings())
    assert embedded.statement_partitions == supervisor.EMBEDDED_STATEMENT_PARTITIONS
    assert env == {"LRS_STATEMENT_PARTITIONS": str(supervisor.EMBEDDED_STATEMENT_PARTITIONS)}
    assert LrsSettings().statement_partitions != supervisor.EMBEDDED_STATEMENT_PARTITIONS

    monkeypatch.setenv("LRS_STATEMENT_PARTITIONS", "8")  # the operator's choice stands
    chosen, env = supervisor.with_embedded_defaults(LrsSettings())
    assert (chosen.statement_partitions, env) == (8, {})

    monkeypatch.delenv("LRS_STATEMENT_PARTITIONS")
    external = LrsSettings(kafka_bootstrap="kafka:9092")  # not the embedded broker
    unchanged, env = supervisor.with_embedded_defaults(external)
    assert (unchanged.statement_partitions, env) == (external.statement_partitions, {})


@pytest.fixture
def stop_signals() -> Iterator[supervisor.StopSignals]:
    """StopSignals installed for one test; the process's handlers and wakeup fd put back."""
    kinds = (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD)
    handlers = {kind: signal.getsignal(kind) for kind in kinds}
    previous_fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(previous_fd)
    signals = supervisor.StopSignals()
    try:
        yield signals
    finally:
        signals.close()
        signal.set_wakeup_fd(previous_fd)
        for kind, handler in handlers.items():
            signal.signal(kind, handler)


def test_the_supervision_pause_ends_when_a_child_exits(
    stop_signals: supervisor.StopSignals,
) -> None:
    """The loop sleeps up to QUIET_CHECK_SECONDS between rounds, but a child's exit wakes it:
    a dead worker is restarted at once (here the pause would last 20 s)."""
    started = time.monotonic()
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    stop_signals.wait(20.0)
    assert time.monotonic() - started < 10
    assert child.wait(timeout=10) == 0
    assert not stop_signals.requested


def test_sigterm_ends_the_pause_and_asks_for_the_stop(
    stop_signals: supervisor.StopSignals,
) -> None:
    started = time.monotonic()
    os.kill(os.getpid(), signal.SIGTERM)
    stop_signals.wait(20.0)
    assert stop_signals.requested
    assert time.monotonic() - started < 10


def test_without_a_signal_the_pause_lasts_its_timeout(
    stop_signals: supervisor.StopSignals,
) -> None:
    started = time.monotonic()
    stop_signals.wait(0.2)
    assert time.monotonic() - started >= 0.19
    assert not stop_signals.requested


def test_a_broker_restart_with_no_mark_yet_forwards_every_stored_statement_again() -> None:
    """Two broker restarts before the first read-through mark: the second lost broker held
    what the first replay put on it (stored before its own start) and no reader had read:
    without a mark, nothing says it was read."""
    since = datetime(2026, 12, 1, 5, 46, 26, tzinfo=UTC)
    mark = datetime(2026, 12, 1, 5, 46, 20, tzinfo=UTC)
    assert supervisor.replay_start(since, None) == supervisor.EPOCH
    assert supervisor.replay_start(None, None) == supervisor.EPOCH
    assert supervisor.replay_start(since, mark) == mark  # the earlier of the two
    assert supervisor.replay_start(mark, since) == mark
    assert supervisor.replay_start(None, mark) == mark  # lrs serve's start
