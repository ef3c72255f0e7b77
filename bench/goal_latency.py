"""Goal latency: from a statement's acknowledgement to the goal-progress Server-Sent Event in
which the learner's goal becomes "achieved"; prints numbers, asserts nothing about speed.

Starts `lrs serve` (embedded broker and store) in a temporary directory, creates one learner
goal "pass activity X" per measured learner (`POST /goals`), opens one tenant-wide
`/progress/goals/stream`, then measures per learner the time from the passing statement's POST
answer to the event with that goal's status "achieved", in two phases:

* busy: while a background load of `--rate` statements/s from other learners keeps every
  consumer awake;
* after idle: before each measured POST nothing is posted for `--idle-seconds` (past
  LRS_CONSUMER_IDLE_AFTER_SECONDS, so the consumers doze until rung, or poll slowly without
  the doorbell: the wait is what is measured); each such POST's own time is printed too.

Prints p50/p95/max per phase and the load average before and after (on a loaded machine the
numbers are noisy). `--idle-fetch-wait-ms` sets LRS_CONSUMER_IDLE_FETCH_WAIT_MS for the server,
`--no-doorbell` LRS_DOORBELL=false (docs/decisions/0021, item 8).

Usage: python bench/goal_latency.py [--learners 20] [--idle-samples 5] [--idle-seconds 35]
                                    [--rate 20] [--idle-fetch-wait-ms 2000] [--no-doorbell]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import (
    KEY,
    SECRET,
    client,
    load_average,
    machine,
    paced_load,
    pct,
    served,
    stop_following,
)
from tests.support.live import SseReader

ACTIVITY = "https://content.example.org/bench/goal-latency"
PASSED = "http://adlnet.gov/expapi/verbs/passed"
EXPERIENCED = "http://adlnet.gov/expapi/verbs/experienced"
WITHIN = 60.0  # seconds to wait for one goal's "achieved" event before calling it missed


def learner_ifi(name: str) -> str:
    """The canonical learner id of the learner called `name` (as goals and streams name it)."""
    return f"mbox:mailto:{name}@example.org"


def goal_body(goal_id: str, learner: str, today: date) -> dict[str, Any]:
    """A learner goal: pass ACTIVITY between today and 30 days on."""
    return {
        "goalId": goal_id,
        "name": f"{learner} passes the latency activity",
        "owner": {"kind": "learner", "id": learner_ifi(learner)},
        "startDate": today.isoformat(),
        "achievedByDate": (today + timedelta(days=30)).isoformat(),
        "targets": [{"kind": "complete", "activities": [ACTIVITY], "require": "passed"}],
    }


def learner_statement(learner: str, verb: str, activity: str, now: datetime) -> dict[str, Any]:
    """A statement of `learner` about `activity`, timestamped `now` (inside the goal's period);
    with verb PASSED it meets the goal of goal_body."""
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "mbox": f"mailto:{learner}@example.org"},
        "verb": {"id": verb, "display": {"en-US": verb.rsplit("/", 1)[1]}},
        "object": {"objectType": "Activity", "id": activity},
        "result": {"success": verb == PASSED, "completion": True},
        "timestamp": now.isoformat(),
    }


def achieved_goal(event: str, data: Any) -> str | None:
    """The goalId of a goal-progress event whose status is "achieved", else None."""
    if event != "goal-progress" or not isinstance(data, dict):
        return None
    goal = data.get("goalId")
    return goal if data.get("status") == "achieved" and isinstance(goal, str) else None


def phase_line(label: str, seconds: list[float], missed: int) -> str:
    """p50/p95/max in milliseconds of one phase's latencies (nearest rank)."""
    if not seconds:
        return f"{label}: no samples ({missed} missed)"
    return (
        f"{label}: p50={pct(seconds, 0.5):.0f} ms p95={pct(seconds, 0.95):.0f} ms"
        f" max={max(seconds) * 1000:.0f} ms ({len(seconds)} samples, {missed} missed)"
    )


@dataclass
class GoalWatcher:
    """One tenant-wide goal stream: which goals it has shown, and when each became achieved."""

    shown: set[str] = field(default_factory=set)
    achieved: dict[str, float] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    posts: list[float] = field(default_factory=list)  # seconds each measured POST took
    response: httpx.Response | None = None  # closed by `stop_following` to end `follow`

    async def follow(self, http: httpx.AsyncClient) -> None:
        async with http.stream("GET", "/progress/goals/stream", timeout=None) as response:
            self.response = response
            response.raise_for_status()
            events = SseReader(response)
            while True:
                event = await events.next(within=3600)
                now = time.perf_counter()
                if isinstance(event.data, dict) and isinstance(event.data.get("goalId"), str):
                    self.shown.add(event.data["goalId"])
                goal = achieved_goal(event.event, event.data)
                if goal is not None:
                    self.achieved.setdefault(goal, now)
                self.changed.set()

    async def until(self, ready: Any, within: float) -> bool:
        """Wait until ready() holds (checked at each event) or `within` seconds pass."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                while not ready():
                    self.changed.clear()
                    await self.changed.wait()
        return bool(ready())


async def create_goals(http: httpx.AsyncClient, run: str, learners: list[str]) -> None:
    today = datetime.now(UTC).date()
    for learner in learners:
        answer = await http.post("/goals", json=goal_body(f"{run}-{learner}", learner, today))
        answer.raise_for_status()


async def measure_one(
    http: httpx.AsyncClient, watcher: GoalWatcher, run: str, learner: str
) -> float | None:
    """Seconds from the passing statement's POST answer to its goal's "achieved" event (the
    POST's own time goes to `watcher.posts`)."""
    goal = f"{run}-{learner}"
    body = learner_statement(learner, PASSED, ACTIVITY, datetime.now(UTC))
    sent = time.perf_counter()
    (await http.post("/xapi/statements", json=body)).raise_for_status()
    answered = time.perf_counter()
    watcher.posts.append(answered - sent)
    if not await watcher.until(lambda: goal in watcher.achieved, WITHIN):
        return None
    return max(0.0, watcher.achieved[goal] - answered)


async def background_load(http: httpx.AsyncClient, run: str, rate: float) -> None:
    """`rate` statements/s (one per request) from 50 learners without goals, until cancelled."""

    def statement(n: int) -> dict[str, Any]:
        learner, module = f"{run}-load-{n % 50}", f"{ACTIVITY}/module/{n % 7}"
        return learner_statement(learner, EXPERIENCED, module, datetime.now(UTC))

    await paced_load(http, statement, rate)


async def busy_phase(
    http: httpx.AsyncClient, watcher: GoalWatcher, run: str, learners: list[str], rate: float
) -> tuple[list[float], int]:
    load = asyncio.create_task(background_load(http, run, rate))
    try:
        await asyncio.sleep(3)  # let the load reach every consumer before the first sample
        results = [await measure_one(http, watcher, run, name) for name in learners]
    finally:
        load.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await load
    return [r for r in results if r is not None], results.count(None)


async def idle_phase(
    http: httpx.AsyncClient, watcher: GoalWatcher, run: str, learners: list[str], idle: float
) -> tuple[list[float], int]:
    results = []
    for name in learners:
        await asyncio.sleep(idle)  # the silence is the condition measured, not a synchronisation
        results.append(await measure_one(http, watcher, run, name))
        taken = results[-1]
        shown = "missed" if taken is None else f"{taken * 1000:.0f} ms"
        post = watcher.posts[-1] * 1000
        print(
            f"  after {idle:.0f} s idle: POST answered in {post:.0f} ms, goal event {shown}"
            f" later (load {load_average()})",
            flush=True,
        )
    return [r for r in results if r is not None], results.count(None)


async def run(base: str, args: argparse.Namespace) -> None:
    tag = uuid.uuid4().hex[:6]
    busy = [f"busy-{tag}-{n}" for n in range(args.learners)]
    idle = [f"idle-{tag}-{n}" for n in range(args.idle_samples)]
    watcher = GoalWatcher()
    async with client(base, KEY, SECRET) as http:
        await create_goals(http, tag, busy + idle)
        stream = asyncio.create_task(watcher.follow(http))
        try:
            every = {f"{tag}-{name}" for name in busy + idle}
            if not await watcher.until(lambda: every <= watcher.shown, 120):
                print(f"only {len(watcher.shown & every)}/{len(every)} goals shown on the stream")
            print(f"load before: {load_average()}", flush=True)
            busy_result = await busy_phase(http, watcher, tag, busy, args.rate)
            print(phase_line(f"busy ({args.rate:.0f} statements/s)", *busy_result), flush=True)
            idle_result = await idle_phase(http, watcher, tag, idle, args.idle_seconds)
            print(phase_line(f"after {args.idle_seconds:.0f} s idle", *idle_result))
            print(f"load after:  {load_average()}")
        finally:
            await stop_following([stream], [watcher.response])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, default=20, help="samples in the busy phase")
    parser.add_argument("--idle-samples", type=int, default=5, help="samples after idleness")
    parser.add_argument("--idle-seconds", type=float, default=35.0, help="silence before each")
    parser.add_argument("--rate", type=float, default=20.0, help="background statements/s")
    parser.add_argument("--idle-fetch-wait-ms", type=int, help="LRS_CONSUMER_IDLE_FETCH_WAIT_MS")
    parser.add_argument("--no-doorbell", action="store_true", help="LRS_DOORBELL=false")
    args = parser.parse_args()
    settings = {}
    if args.idle_fetch_wait_ms is not None:
        settings["consumer_idle_fetch_wait_ms"] = str(args.idle_fetch_wait_ms)
    if args.no_doorbell:
        settings["doorbell"] = "false"
    print(machine())
    print(f"settings: {settings or 'defaults'}", flush=True)
    with served(**settings) as (base, _):
        asyncio.run(run(base, args))


if __name__ == "__main__":
    main()
