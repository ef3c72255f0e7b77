"""`lrs serve` restarts a dead worker at once, then backs off while it keeps dying."""

from __future__ import annotations

import pytest

from lrs.entry import supervisor
from lrs.entry.embedded import Child
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
