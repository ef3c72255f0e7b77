"""Webhooks under `lrs serve` (docs/webhooks.md): the supervisor runs the webhooks consumer; it
is killed with SIGKILL while a receiver holds its delivery, the supervisor restarts it, and the
receiver ends up with every statement once by delivery id, the cut-off delivery resent with
the same id."""

from __future__ import annotations

import asyncio
import os
import signal
from collections import Counter
from pathlib import Path

import httpx
import pytest

from tests.support.factories import statement
from tests.support.polling import eventually
from tests.support.serve import child_pids, serve_lrs
from tests.support.stack import xapi_headers
from tests.support.webhooks import running_receiver

pytestmark = pytest.mark.e2e
KEY, SECRET = "e2e-hooks-key", "e2e-hooks-secret"
H = xapi_headers(key=KEY, secret=SECRET)
FAST = {
    "webhooks_allow_private_targets": "true",
    "webhooks_retry_initial_seconds": "0.1",
    "webhooks_retry_max_seconds": "0.5",
    "webhooks_poll_seconds": "0.1",
    "webhooks_timeout_seconds": "5",
    "webhooks_lease_seconds": "6",
}


async def test_a_killed_webhooks_consumer_is_restarted_and_resends_with_the_same_id(
    tmp_path: Path,
) -> None:
    docs = [statement(n % 3, "experienced") for n in range(9)]
    with (
        running_receiver("hold") as receiver,
        serve_lrs(tmp_path / "data", KEY, SECRET, tmp_path / "serve.log", **FAST) as (base, _),
    ):
        async with httpx.AsyncClient(base_url=base, timeout=30) as api:
            created = await api.post("/admin/webhooks", json={"url": receiver.url}, headers=H)
            assert created.status_code == 201, created.text
            posted = await api.post("/xapi/statements", json=docs, headers=H)
            assert posted.status_code == 200, posted.text
            held = await eventually(
                lambda: asyncio.sleep(0, receiver.holding.is_set()), bool, within=120
            )
            assert held
            before = child_pids(tmp_path / "data")["webhooks"]
            os.kill(before, signal.SIGKILL)
            receiver.mode = "up"
            receiver.release.set()  # the receiver kept it; its answer reaches no one
            cut = await eventually(lambda: asyncio.sleep(0, receiver.snapshot()), bool)
            cut_id = cut[0].delivery_id

            async def missing() -> set[str]:
                kept = receiver.processed().values()
                return {d["id"] for d in docs} - {s["id"] for r in kept for s in r.statements}

            assert await eventually(missing, within=120) == set()
            resent = await eventually(
                lambda: asyncio.sleep(0, receiver.snapshot()),
                lambda r: sum(x.delivery_id == cut_id for x in r) >= 2,
            )
            after = child_pids(tmp_path / "data")["webhooks"]
    assert after != before
    assert sum(x.delivery_id == cut_id for x in resent) >= 2
    kept = receiver.processed().values()
    assert set(Counter(s["id"] for r in kept for s in r.statements).values()) == {1}
