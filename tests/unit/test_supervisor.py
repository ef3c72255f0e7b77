"""`lrs serve` restarts a dead worker at once, then backs off while it keeps dying."""

from __future__ import annotations

import socket
import sys

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
