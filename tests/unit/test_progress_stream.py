"""The live-stream machinery without I/O: the hub's bounded queues, stream tokens, SSE framing,
and a stream over the in-memory adapters (snapshot, change, keep-alive, reconnect)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from lrs.adapters.memory_teams import InMemoryProgressReader, InMemoryTeamRegistry
from lrs.api.sse import encode
from lrs.ports.credentials import Principal
from lrs.ports.progress import LearnerProgressDoc
from lrs.progress import fold
from lrs.services import stream_tokens
from lrs.services.progress import ProgressDeps, StreamEvent, StreamTarget, open_stream
from lrs.services.progress_hub import OVERFLOW, Change, ProgressHub
from lrs.xapi.errors import Forbidden, Unauthenticated

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
WHO = Principal("t", "k", frozenset({"statements/read"}), {})


async def test_overflow_drops_the_backlog_and_says_so() -> None:
    hub = ProgressHub(queue_size=3)
    sub = hub.subscribe("t")
    hub.watch(sub, "learner", ["a"])
    for v in range(10):
        hub.publish(Change("learner", "t", "a", v, {}))
    hub.publish(Change("learner", "u", "a", 99, {}))  # another tenant: never delivered
    assert await sub.next_within(0.1) is OVERFLOW
    assert await sub.next_within(0.01) is None
    hub.publish(Change("learner", "t", "a", 11, {}))
    item = await sub.next_within(0.1)
    assert isinstance(item, Change)
    assert item.version == 11
    hub.unsubscribe(sub)
    assert hub.subscribers == 0


def test_tokens_expire_and_cannot_be_forged() -> None:
    token = stream_tokens.issue(b"k", WHO, NOW, timedelta(minutes=5)).token
    assert stream_tokens.verify(b"k", token, NOW).tenant == "t"
    with pytest.raises(Unauthenticated):
        stream_tokens.verify(b"other", token, NOW)
    with pytest.raises(Unauthenticated):
        stream_tokens.verify(b"k", token, NOW + timedelta(minutes=6))


def test_sse_framing() -> None:
    frame = encode(StreamEvent("learner-progress", {"a": "x\ny"}, "3"))
    assert frame == b'event: learner-progress\nid: 3\ndata: {"a":"x\\ny"}\n\n'
    assert encode(StreamEvent(comment="keep-alive")) == b": keep-alive\n\n"
    assert encode(StreamEvent(retry_ms=3000)) == b"retry: 3000\n\n"


async def test_stream_over_memory_adapters() -> None:
    progress, hub = InMemoryProgressReader(), ProgressHub()
    deps = ProgressDeps(
        progress, InMemoryTeamRegistry(), hub, lambda: NOW, b"k", timedelta(minutes=5), 0.05
    )
    state = fold("L", []).to_dict()
    progress.learner_docs["t", "L"] = LearnerProgressDoc("L", state, {}, [], 2)
    with pytest.raises(Forbidden):
        open_stream(
            deps,
            Principal("t", "k", frozenset({"statements/read/mine"}), {}),
            StreamTarget("learner", "L"),
            None,
        )
    events = open_stream(deps, WHO, StreamTarget("learner", "L"), None)
    assert (await anext(events)).retry_ms == 3000
    snapshot = await anext(events)
    assert (snapshot.event, snapshot.id) == ("learner-progress", "2")
    hub.publish(Change("learner", "t", "L", 2, {"v": 2}))  # not newer: dropped
    hub.publish(Change("learner", "t", "L", 3, {"v": 3}))
    change = await anext(events)
    assert (change.id, change.data) == ("3", {"v": 3})
    assert (await anext(events)).comment == "keep-alive"
    await events.aclose()  # type: ignore[attr-defined]
    assert hub.subscribers == 0

    again = open_stream(deps, WHO, StreamTarget("learner", "L"), "2")
    await anext(again)
    assert (await anext(again)).comment == "up to date"
    hub.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(again), 1)


async def test_a_stream_subscribes_only_once_started() -> None:
    """A stream whose response never started (the client went first) must hold no
    subscription: it would keep its process's feed fetching progress (docs/decisions/0035)."""
    progress, hub = InMemoryProgressReader(), ProgressHub()
    deps = ProgressDeps(
        progress, InMemoryTeamRegistry(), hub, lambda: NOW, b"k", timedelta(minutes=5), 0.05
    )
    events = open_stream(deps, WHO, StreamTarget("learner", "L"), None)
    assert not hub.watched_kinds
    await events.aclose()  # type: ignore[attr-defined]
    assert not hub.watched_kinds
    started = open_stream(deps, WHO, StreamTarget("learner", "L"), None)
    assert (await anext(started)).retry_ms == 3000
    assert hub.watched_kinds == {"learner"}
    await started.aclose()  # type: ignore[attr-defined]
    assert not hub.watched_kinds
