"""A task that is cancelled ends, even when what it waited for arrives in the same moment.

CPython 3.11's `asyncio.wait_for` loses the cancellation of the task awaiting it when the
awaited thing completes at the moment of the cancel (its inner task finishes first, and
wait_for then returns the result instead of raising): a stream's loop then goes on reading
after its client left, a consumer's shutdown waits on. `asyncio.timeout` has no inner task and
no such race (seen hanging the end of bench/progress.py; fixed in CPython 3.12). So the LRS
waits with a deadline through `asyncio.timeout` only (docs/decisions/0024)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from lrs.services.progress_hub import Subscription

ROOT = Path(__file__).resolve().parents[2]


async def test_a_stream_cancelled_as_its_next_change_arrives_ends() -> None:
    subscription: Subscription[str] = Subscription("acme", 10)
    reading = asyncio.create_task(subscription.next_within(60))
    await asyncio.sleep(0)  # one turn of the loop: the reader is now waiting on the queue
    subscription.offer("change")  # arrives ...
    reading.cancel()  # ... as the client goes away
    with pytest.raises(asyncio.CancelledError):
        await reading


def test_no_wait_for_in_the_lrs() -> None:
    found = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in ("lrs", "consumers")
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bwait_for\(", line)
    ]
    assert found == [], "use asyncio.timeout (see this module's docstring)"
