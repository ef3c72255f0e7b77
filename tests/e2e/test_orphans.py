"""A process started by a supervisor (`lrs serve`, `lrs api`'s pool) stops once that supervisor
is gone, even when nothing signals it and what it waits for never comes (lrs.entry.orphan).

The supervisor here is a bare parent that sets LRS_SUPERVISOR_PID and no parent-death signal,
and the broker and store are addresses nothing listens on: without the watch, the child would
retry them for ever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from lrs.entry.embedded import free_port
from tests.support.processes import ended, running_after

pytestmark = pytest.mark.e2e

SUPERVISOR = """
import os, subprocess, sys
child = subprocess.Popen(
    [sys.executable, "-m", "lrs", *sys.argv[1:]],
    env={**os.environ, "LRS_SUPERVISOR_PID": str(os.getpid())},
    stdin=subprocess.DEVNULL,
)
print(child.pid, flush=True)
child.wait()
"""
WITHIN = 60.0  # the watch looks every second, then allows the shutdown grace + 10 s


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code < 500
    except httpx.HTTPError:
        return False


def wait_until(condition: Callable[[], bool], within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def unreachable(tmp_path: Path) -> dict[str, str]:
    """The environment of a child whose broker and store nobody serves."""
    return {
        **os.environ,
        "LRS_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}",
        "LRS_MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/?serverSelectionTimeoutMS=500",
        "LRS_CONSUMER_METRICS_PORT": str(free_port()),
        "LRS_HTTP_PORT": str(free_port()),
        "LRS_API_WORKERS": "1",  # `lrs api` as one process, not a pool of them
        "LRS_DATA_DIR": str(tmp_path / "data"),
    }


@pytest.mark.parametrize(
    ("argv", "status_port"),
    [
        (["consume", "progress"], "LRS_CONSUMER_METRICS_PORT"),  # serves /healthz while retrying
        (["api"], None),  # its start-up waits for the store, and it answers nothing meanwhile
    ],
    ids=["consumer", "api"],
)
def test_a_child_whose_supervisor_was_killed_stops_by_itself(
    argv: list[str], status_port: str | None, unreachable: dict[str, str]
) -> None:
    supervisor = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, *argv],
        env=unreachable,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert supervisor.stdout is not None
    child = int(supervisor.stdout.readline())
    try:
        if status_port is not None:
            status = f"http://127.0.0.1:{unreachable[status_port]}/healthz"
            assert wait_until(lambda: answers(status), WITHIN)  # up, retrying the broker
        assert not ended(child)
        supervisor.kill()
        supervisor.wait(10)
        assert running_after([child], WITHIN) == []
    finally:
        supervisor.kill()
        supervisor.wait(10)
        supervisor.stdout.close()
        if not ended(child):
            os.kill(child, signal.SIGKILL)
