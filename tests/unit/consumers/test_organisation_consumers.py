"""The organisation consumers: the trigger consumers turn a batch of learner / team / goal
records into one trigger per tenant; organisation-progress recomputes each triggered tenant,
writes a new version only when the value changed (ignoring `as_of`), publishes the current
value in any case, dead-letters a bad trigger, and its clock triggers the tenants whose next
check has come."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from consumers.clocked import ClockedOptions
from consumers.organisation import OrganisationProgressHandler, OrganisationTriggersHandler
from lrs import topics
from lrs.adapters.memory_organisation import InMemoryOrganisationProgress
from lrs.ports.events import OutgoingMessage
from lrs.ports.goals import GoalProgressDoc
from lrs.ports.organisation import OrganisationDoc
from lrs.ports.progress import LearnerDoc
from lrs.progress import LearnerState, apply, learner_id
from lrs.progress.registry import Team
from tests.support.factories import statement

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)


@dataclass
class Rec:
    key: bytes | None
    value: bytes | None = b"{}"
    topic: str = "t"
    partition: int = 0
    offset: int = 0
    headers: Sequence[tuple[str, bytes]] = ()


async def organisation() -> InMemoryOrganisationProgress:
    """One registry team of one member, one organisation goal on track, no learners yet."""
    store = InMemoryOrganisationProgress()
    team = Team("acme", "sales", "Sales", NOW, ("mbox:mailto:a@x.org",))
    await store.progress.registry.create(team)
    goal = {"owner": {"kind": "organisation"}, "status": "on_track", "archived": False}
    await store.goals.save([GoalProgressDoc("acme", "g1", goal, version=1)], NOW)
    return store


async def learning(store: InMemoryOrganisationProgress, *learners: int) -> None:
    """Store progress for these learners: one statement each, today."""
    for n in learners:
        done = statement(n, timestamp=NOW.isoformat())
        state = apply(LearnerState(learner_id(done)), done)
        doc = LearnerDoc("acme", state.learner, state, version=1)
        assert await store.progress.save_learners([doc], NOW) == set()


def trigger(tenant: str) -> Rec:
    return Rec(topics.organisation_key(tenant), orjson.dumps({"tenant": tenant}))


async def test_a_batch_of_changes_becomes_one_trigger_per_tenant() -> None:
    handler = OrganisationTriggersHandler("organisation-learners", lambda: NOW, prefix="p.")
    records = [
        Rec(topics.learner_key("acme", "mbox:mailto:a@x.org")),
        Rec(topics.learner_key("acme", "mbox:mailto:b@x.org"), None),  # a tombstone counts
        Rec(topics.goal_key("beta", "g1")),
        Rec(None),
    ]
    outcome = await handler.handle(records)
    assert outcome.poison == []
    assert [(t, m.key, orjson.loads(m.value)) for t, m in outcome.outputs] == [
        ("p." + topics.ORGANISATION_CHANGES, topics.organisation_key(t), {"tenant": t})
        for t in ("acme", "beta")
    ]


async def test_recompute_writes_changes_only_and_publishes_every_time() -> None:
    store = await organisation()
    clock = [NOW]

    async def send(topic: str, messages: Sequence[OutgoingMessage]) -> None:
        raise AssertionError("only the clock sends")

    options = ClockedOptions(prefix="p.")
    handler = OrganisationProgressHandler(store, lambda: clock[0], send, options=options)
    outcome = await handler.handle([trigger("acme"), trigger("acme"), Rec(b"k", b"[]")])
    assert len(outcome.poison) == 1
    ((topic, message),) = outcome.outputs
    published = orjson.loads(message.value)
    assert (topic, message.key) == (
        "p." + topics.ORGANISATION_PROGRESS,
        topics.organisation_key("acme"),
    )
    assert (published["tenant"], published["version"], published["learners"]) == ("acme", 1, 0)
    assert published["teams"][0]["members"] == 1
    assert published["goals"]["organisation"]["on_track"] == 1

    clock[0] = NOW.replace(hour=13)  # later the same day, nothing else changed
    again = await handler.handle([trigger("acme")])
    assert orjson.loads(again.outputs[0][1].value)["version"] == 1
    assert (await store.load("acme")).version == 1  # nothing written

    await learning(store, 2)
    changed = await handler.handle([trigger("acme")])
    value = orjson.loads(changed.outputs[0][1].value)
    assert (value["version"], value["learners"], value["active"]["today"]) == (2, 1, 1)
    assert (await store.load("acme")).next_check_at == datetime(2026, 11, 21, tzinfo=UTC)


async def test_the_clock_triggers_due_tenants_once_per_resend_window() -> None:
    store = InMemoryOrganisationProgress()
    await store.save(OrganisationDoc("acme", {}, 1, next_check_at=NOW), NOW)
    sent: list[tuple[str, OutgoingMessage]] = []
    tick = [0.0]

    async def send(topic: str, messages: Sequence[OutgoingMessage]) -> None:
        sent.extend((topic, m) for m in messages)

    options = ClockedOptions(prefix="p.", clock_seconds=1.0, monotonic=lambda: tick[0])
    handler = OrganisationProgressHandler(store, lambda: NOW, send, options=options)
    await handler.caught_up("t", {})
    assert [(t, orjson.loads(m.value)) for t, m in sent] == [
        ("p." + topics.ORGANISATION_CHANGES, {"tenant": "acme"})
    ]
    tick[0] = 1.5  # still due, but just sent
    await handler.caught_up("t", {})
    assert len(sent) == 1
    tick[0] = 12.0
    await handler.caught_up("t", {})
    assert len(sent) == 2
