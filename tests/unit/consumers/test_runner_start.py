"""A consumer started while the broker is unreachable waits for it, visibly, instead of
exiting (docs/decisions/0008); it stops cleanly when told to. No broker is needed: the
bootstrap address is a port nothing listens on."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import datetime

from consumers.runner import Outcome, Record, Runner, RunnerConfig
from lrs.entry.embedded import free_port


class Idle:
    name = "idle"

    async def handle(self, records: Sequence[Record]) -> Outcome:
        return Outcome()

    async def caught_up(self, topic: str, partitions: Mapping[int, datetime]) -> None:
        return None


async def test_an_unreachable_broker_at_start_is_retried_until_stopped() -> None:
    config = RunnerConfig(
        f"127.0.0.1:{free_port()}", "t", "g", retry_initial_seconds=0.01, retry_max_seconds=0.05
    )
    runner = Runner(config, Idle())
    task = asyncio.create_task(runner.run())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline:  # poll for three failed starts, with a deadline
        if runner.health.failures >= 3 or task.done():
            break
        await asyncio.sleep(0.05)
    assert not task.done(), "the runner must not give up on an unreachable broker"
    assert runner.health.as_dict()["state"] == "retrying"
    assert runner.health.error_class == "KafkaConnectionError"
    runner.stop_event.set()
    await asyncio.wait_for(task, 10)
