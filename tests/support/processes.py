"""One consumer as its own process (`python -m lrs consume NAME`), for kill -9 tests; and
waiting for processes that are not ours to end."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from lrs.entry.embedded import free_port
from lrs.settings import LrsSettings


def consumer_process(settings: LrsSettings, name: str, **extra: str) -> subprocess.Popen[bytes]:
    """Start consumer `name` with the test's settings; `extra` are more LRS_* variables."""
    env = {
        **os.environ,
        "LRS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap or "",
        "LRS_MONGODB_URI": settings.mongodb_uri or "",
        "LRS_MONGODB_DATABASE": settings.mongodb_database,
        "LRS_TOPIC_PREFIX": settings.topic_prefix,
        "LRS_STATEMENT_PARTITIONS": str(settings.statement_partitions),
        "LRS_CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,
        "LRS_CONSUMER_SESSION_TIMEOUT_MS": str(settings.consumer_session_timeout_ms),
        "LRS_CONSUMER_METRICS_PORT": str(free_port()),
        **{f"LRS_{key.upper()}": value for key, value in extra.items()},
    }
    return subprocess.Popen(
        [sys.executable, "-m", "lrs", "consume", name],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def reaped(process: subprocess.Popen[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """Kill the process at the end if it still runs, and always wait for it."""
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def ended(pid: int) -> bool:
    """The process is gone, or ended and not yet reaped (by a parent that may not be ours)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True
    return "\nState:\tZ" in status


def running_after(pids: Sequence[int], within: float) -> list[int]:
    """The processes still running once all have ended or `within` seconds have passed."""
    deadline = time.monotonic() + within
    while any(not ended(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [pid for pid in pids if not ended(pid)]
