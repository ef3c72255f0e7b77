"""The signal `lrs serve` sends its API processes after restarting the embedded broker
(lrs.wiring.signals): it reaches the feed's `rewind` in the running loop, and is ignored
before and after."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from lrs.wiring.signals import FEED_REWIND, ignore_feed_rewind, on_feed_rewind


async def test_the_signal_calls_rewind_in_the_loop_then_is_ignored_again() -> None:
    previous = signal.getsignal(FEED_REWIND)
    rewound = asyncio.Event()
    try:
        ignore_again = on_feed_rewind(rewound.set)
        os.kill(os.getpid(), FEED_REWIND)
        await asyncio.wait_for(rewound.wait(), 10)
        ignore_again()
        assert signal.getsignal(FEED_REWIND) is signal.SIG_IGN
        os.kill(os.getpid(), FEED_REWIND)  # would end this process without the ignore
    finally:
        signal.signal(FEED_REWIND, previous)


def test_a_starting_process_ignores_the_signal() -> None:
    previous = signal.getsignal(FEED_REWIND)
    try:
        signal.signal(FEED_REWIND, signal.SIG_DFL)
        ignore_feed_rewind()
        assert signal.getsignal(FEED_REWIND) is signal.SIG_IGN
    finally:
        signal.signal(FEED_REWIND, previous)


def ignores(pid: int, signum: int) -> bool:
    """Whether process `pid` ignores `signum` (its SigIgn mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            return bool(int(line.split()[1], 16) >> (signum - 1) & 1)
    return False


def test_a_spare_process_that_is_still_importing_survives_the_signal() -> None:
    """`python -m lrs` ignores it before `lrs.entry.cli`'s imports (seconds under load): the
    supervisor may signal a process that is starting."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lrs", "standby"], stdin=subprocess.PIPE, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while not ignores(process.pid, FEED_REWIND) and process.poll() is None:
            assert time.monotonic() < deadline, "the signal was never ignored"
            time.sleep(0.005)  # polls the process's state (no timing assumed)
        process.send_signal(FEED_REWIND)
        assert process.stdin is not None
        process.stdin.close()  # a spare without a command ends
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
