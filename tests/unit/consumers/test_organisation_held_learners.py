"""Organisation progress from held learners (consumers.organisation, consumers.held,
docs/decisions/0034), on the in-memory stores: a trigger naming the changed learners reads only
them, one naming none reads no learner, and every published value equals the one computed from
every learner's stored progress, whatever the changes, erasures, registry and goal changes and
hand-overs between two instances; a gap in the offsets, a document written elsewhere, a minute's
age or half the learners named make the tenant read whole."""

from __future__ import annotations

import random
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema_rs
import orjson
import pytest
from pymongo import AsyncMongoClient

from consumers.clocked import ClockedOptions
from consumers.goals import comparable
from consumers.organisation import (
    MOST_HELD_KB,
    Naming,
    OrganisationProgressHandler,
    OrganisationTriggersHandler,
    decode_organisation_change,
    organisation_change_message,
)
from consumers.progress.messages import MAX_NAMED_LEARNERS
from lrs import topics
from lrs.adapters.memory_organisation import InMemoryOrganisationProgress
from lrs.ports.events import OutgoingMessage
from lrs.ports.goals import GoalProgressDoc
from lrs.ports.progress import LearnerDoc
from lrs.progress import LearnerState, apply, learner_id, summarize_learner
from lrs.progress.organisation import (
    LearnerFigures,
    summarize_organisation_progress,
    team_entries,
)
from lrs.progress.registry import Team
from lrs.settings import LrsSettings
from lrs.wiring.consumers import CONSUMERS
from tests.support.factories import activity, statement
from tests.support.records import StubRecord

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TENANT = "acme"
SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "events" / "organisation-changed.v1.json"


class CountingStore(InMemoryOrganisationProgress):
    """The in-memory store, noting each read of learners: None for every learner, else the
    learners asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[set[str] | None] = []

    async def learners(self, tenant: str) -> list[LearnerFigures]:
        self.reads.append(None)
        return await super().learners(tenant)

    async def named_learners(self, tenant: str, learners: Collection[str]) -> list[LearnerFigures]:
        self.reads.append(set(learners))
        return await super().named_learners(tenant, learners)


def handler(
    store: InMemoryOrganisationProgress, clock: list[datetime], held_kb: int = MOST_HELD_KB
) -> Any:
    async def send(topic: str, messages: Sequence[OutgoingMessage]) -> None:
        raise AssertionError("only the clock sends")

    options = ClockedOptions()
    return OrganisationProgressHandler(
        store, lambda: clock[0], send, options=options, held_kb=held_kb
    )


def learn(store: InMemoryOrganisationProgress, n: int, day: int, teams: tuple[str, ...]) -> str:
    """Learner `n` does course/`day % 3` on day `day` of November: its stored progress gains
    the statement (the next version), listing `teams`."""
    done = statement(n, obj=activity(f"course/{day % 3}"), timestamp=f"2026-11-{day:02d}T08:00:00Z")
    key = (TENANT, learner_id(done))
    old = store.progress.learners.get(key)
    state = apply(old.state if old else LearnerState(learner_id(done)), done)
    summary = summarize_learner(state, NOW.date())
    version = old.version + 1 if old else 1
    store.progress.learners[key] = LearnerDoc(TENANT, state.learner, state, teams, summary, version)
    return state.learner


def change(offset: int, learners: Collection[str] | None, partition: int = 0) -> StubRecord:
    message = organisation_change_message(TENANT, NOW, learners)
    return StubRecord(topics.ORGANISATION_CHANGES, partition, offset, message.key, message.value)


async def expected(store: InMemoryOrganisationProgress, now: datetime) -> dict[str, Any]:
    learners = await InMemoryOrganisationProgress.learners(store, TENANT)
    teams = team_entries(await store.registry(TENANT), learners)
    goals = await store.goal_values(TENANT)
    return comparable(summarize_organisation_progress(learners, teams, goals, now))


def published(outputs: Sequence[tuple[str, OutgoingMessage]]) -> dict[str, Any]:
    ((_, message),) = outputs
    value = orjson.loads(message.value)
    return comparable({k: v for k, v in value.items() if k not in ("tenant", "version")})


async def six_learners(store: CountingStore, clock: list[datetime]) -> tuple[Any, list[str]]:
    """Six learners stored and computed whole once (offset 0)."""
    learners = [learn(store, n, n + 1, ("t",)) for n in range(6)]
    org = handler(store, clock)
    await org.handle([change(0, None)])
    assert store.reads == [None]
    return org, learners


async def test_a_trigger_naming_the_changed_learners_reads_only_them() -> None:
    store, clock = CountingStore(), [NOW]
    org, learners = await six_learners(store, clock)
    learn(store, 0, 20, ("t", "u"))
    outcome = await org.handle([change(1, {learners[0]})])
    assert store.reads[-1] == {learners[0]}
    assert published(outcome.outputs) == await expected(store, NOW)
    outcome = await org.handle([change(2, set())])  # a team or goal changed: no learner read
    assert store.reads[-1] == {learners[0]}
    assert published(outcome.outputs) == await expected(store, NOW)


async def test_an_erased_learner_named_by_a_late_trigger_leaves() -> None:
    store, clock = CountingStore(), [NOW]
    org, learners = await six_learners(store, clock)
    del store.progress.learners[TENANT, learners[2]]
    outcome = await org.handle([change(1, {learners[2]})])
    assert store.reads[-1] == {learners[2]}
    assert published(outcome.outputs)["learners"] == 5
    assert published(outcome.outputs) == await expected(store, NOW)


@pytest.mark.parametrize(
    "stale", ["gap", "rerun", "version", "age", "many", "plain", "moved", "poison"]
)
async def test_the_tenant_is_read_whole_when_what_is_held_may_be_stale(stale: str) -> None:
    store, clock = CountingStore(), [NOW]
    org, learners = await six_learners(store, clock)
    offset, named, partition = 1, {learners[0]}, 0
    if stale == "gap":
        offset = 2  # offset 1 compacted away, or handled by another instance
    elif stale == "rerun":
        await org.handle([change(1, {learners[1]})])
        offset = 1  # the same batch handled again
    elif stale == "version":  # another instance wrote since
        doc = await store.load(TENANT)
        assert await store.save(doc.__class__(TENANT, {"x": 1}, doc.version + 1), NOW)
    elif stale == "age":
        clock[0] = NOW + timedelta(seconds=60)
    elif stale == "many":  # a quarter of them (ID_READ_COST)
        named = set(learners[:2])
    elif stale == "moved":  # partitions were added: the tenant's key now goes to another
        partition = 1
    elif stale == "poison":  # a record of the partition that is no trigger: it said anything
        poisoned = await org.handle([StubRecord(topics.ORGANISATION_CHANGES, 0, 1, b"k", b"[]")])
        assert len(poisoned.poison) == 1
        offset = 2
    learn(store, 0, 21, ("t",))
    trigger = change(offset, None if stale == "plain" else named, partition)
    outcome = await org.handle([trigger])
    assert store.reads[-1] is None
    assert published(outcome.outputs) == await expected(store, clock[0])


@pytest.mark.parametrize("seed", range(12))
async def test_held_learners_give_what_every_learner_read_gives(seed: int) -> None:
    """Random changes, each followed by the triggers the trigger consumers produce from its
    records, handled in random batches by one of two instances in turn, sometimes again or
    with a record compacted away, while the clock moves: after every batch, the published
    value equals the computation from every learner."""
    rng = random.Random(seed)
    store, clock = CountingStore(), [NOW]
    instances = [handler(store, clock), handler(store, clock)]
    triggers = {
        name: OrganisationTriggersHandler(name, lambda: NOW, names=names)
        for name, names in (("learners", "keys"), ("teams", "none"), ("goals", "none"))
    }
    log: list[StubRecord] = []
    handled = 0
    owner = 0
    for _ in range(80):
        kind, published_records = await _random_change(rng, store)
        outcome = await triggers[kind].handle(
            [StubRecord("t", 0, 0, key, value) for key, value in published_records]
        )
        log += [
            StubRecord(topics.ORGANISATION_CHANGES, 0, len(log) + i, m.key, m.value)
            for i, (_, m) in enumerate(outcome.outputs)
        ]
        clock[0] += timedelta(seconds=rng.choice((1, 5, 30)))
        if rng.random() < 0.4:
            continue
        if rng.random() < 0.2:
            owner = 1 - owner
        start = handled - 1 if handled and rng.random() < 0.1 else handled  # handled again
        batch = log[start:]
        if len(batch) > 1 and rng.random() < 0.1:
            batch = batch[1:]  # compacted away: a later trigger of the tenant remains
        out = await instances[owner].handle(batch)
        handled = len(log)
        assert published(out.outputs) == await expected(store, clock[0])
    assert any(read is not None for read in store.reads)  # some used held learners
    assert None in store.reads[1:]  # and some were read whole again


async def _random_change(
    rng: random.Random, store: InMemoryOrganisationProgress
) -> tuple[str, list[tuple[bytes, bytes | None]]]:
    """One change and the records its writer publishes: (which trigger consumer reads them,
    their keys and values; None: a tombstone)."""
    roll = rng.random()
    if roll < 0.7:  # statements: the progress consumer writes learners
        learners = {
            learn(store, rng.randrange(10), rng.randrange(1, 30), tuple(rng.sample("tuv", 1)))
            for _ in range(rng.randrange(1, 3))
        }
        return "learners", [(topics.learner_key(TENANT, x), b"{}") for x in sorted(learners)]
    if roll < 0.8:  # an erasure: the learner's progress deleted, its key tombstoned
        learner = learner_id(statement(rng.randrange(10)))
        store.progress.learners.pop((TENANT, learner), None)
        return "learners", [(topics.learner_key(TENANT, learner), None)]
    if roll < 0.9:  # a registry change (its team progress follows)
        team = rng.choice("tuv")
        members = tuple(learner_id(statement(n)) for n in rng.sample(range(10), 2))
        store.progress.registry.teams[TENANT, team] = Team(TENANT, team, team, NOW, members)
        return "teams", [(topics.team_key(TENANT, team), b"{}")]
    goal = {"owner": {"kind": "organisation"}, "status": rng.choice(["on_track", "at_risk"])}
    await store.goals.save([GoalProgressDoc(TENANT, "g", goal, version=1)], NOW)
    return "goals", [(topics.goal_key(TENANT, "g"), b"{}")]


@pytest.mark.parametrize(
    ("names", "said"),
    [("keys", ["mbox:mailto:a@x.org", "mbox:mailto:b@x.org"]), ("none", []), ("all", None)],
)
async def test_trigger_consumers_say_what_changed_of_the_learners(
    names: Naming, said: list[str] | None
) -> None:
    validator = jsonschema_rs.validator_for(orjson.loads(SCHEMA.read_bytes()))
    triggers = OrganisationTriggersHandler("x", lambda: NOW, names=names)
    records = [
        StubRecord("t", 0, 0, topics.learner_key(TENANT, "mbox:mailto:b@x.org"), b"{}"),
        StubRecord("t", 0, 1, topics.learner_key(TENANT, "mbox:mailto:a@x.org"), b"{}"),
    ]
    ((_, message),) = (await triggers.handle(records)).outputs
    validator.validate(orjson.loads(message.value))
    assert decode_organisation_change(message.value) == (
        TENANT,
        None if said is None else frozenset(said),
    )
    expected_value = {"tenant": TENANT} if said is None else {"tenant": TENANT, "learners": said}
    assert orjson.loads(message.value) == expected_value


async def test_a_tombstone_makes_its_tenants_trigger_plain() -> None:
    """An erasure's tombstone: the tenant is read whole, and the erased id is not written."""
    triggers = OrganisationTriggersHandler("organisation-learners", lambda: NOW, names="keys")
    records = [
        StubRecord("t", 0, 0, topics.learner_key(TENANT, "mbox:mailto:b@x.org"), b"{}"),
        StubRecord("t", 0, 1, topics.learner_key(TENANT, "mbox:mailto:gone@x.org"), None),
        StubRecord("t", 0, 2, topics.learner_key(TENANT, "mbox:mailto:c@x.org"), b"{}"),
        StubRecord("t", 0, 3, topics.learner_key("beta", "mbox:mailto:d@x.org"), b"{}"),
    ]
    outputs = (await triggers.handle(records)).outputs
    assert [orjson.loads(m.value) for _, m in outputs] == [
        {"tenant": TENANT},
        {"tenant": "beta", "learners": ["mbox:mailto:d@x.org"]},
    ]


def test_a_trigger_names_its_changed_learners_up_to_a_bound() -> None:
    most = [f"mbox:mailto:{n}@x.org" for n in range(MAX_NAMED_LEARNERS)]
    assert decode_organisation_change(organisation_change_message(TENANT, NOW, most).value)[1]
    too_many = [*most, "mbox:mailto:one-more@x.org"]
    plain = organisation_change_message(TENANT, NOW, too_many)
    assert decode_organisation_change(plain.value) == (TENANT, None)


@pytest.mark.parametrize(
    "value",
    [b'{"tenant": "acme", "learners": "a"}', b'{"tenant": "acme", "learners": [""]}', b"[]"],
)
async def test_a_malformed_trigger_is_poison(value: bytes) -> None:
    store, clock = CountingStore(), [NOW]
    outcome = await handler(store, clock).handle([StubRecord("t", 0, 0, b"k", value)])
    assert len(outcome.poison) == 1
    assert outcome.outputs == []


async def test_a_plain_trigger_wins_over_named_ones_in_a_batch() -> None:
    store, clock = CountingStore(), [NOW]
    org, learners = await six_learners(store, clock)
    await org.handle([change(1, {learners[0]}), change(2, None), change(3, {learners[1]})])
    assert store.reads[-1] is None


@pytest.mark.parametrize(("held_kb", "held"), [(4, True), (3, False), (0, False)])
async def test_a_tenant_weighing_more_than_the_bound_is_read_whole(
    held_kb: int, held: bool
) -> None:
    """Six learners of two rows (a course and its parent) and one day weigh
    6 x (384 + 2 x 96 + 8) = 3,504 bytes (consumers.organisation._weight): held under a bound
    of 4 KB, never under 3 or 0."""
    store, clock = CountingStore(), [NOW]
    learners = [learn(store, n, n + 1, ()) for n in range(6)]
    org = handler(store, clock, held_kb)
    await org.handle([change(0, None)])
    outcome = await org.handle([change(1, {learners[0]})])
    assert store.reads == [None, {learners[0]} if held else None]
    assert published(outcome.outputs) == await expected(store, NOW)


async def test_the_bound_is_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LRS_ORGANISATION_HELD_MB", raising=False)
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:1/?directConnection=true", connect=False
    )
    try:
        for megabytes in (0, 3, 64):
            settings = LrsSettings(organisation_held_mb=megabytes, kafka_bootstrap="127.0.0.1:1")
            built = CONSUMERS["organisation-progress"].build(client["x"], settings)
            assert isinstance(built, OrganisationProgressHandler)
            assert built.held_kb == megabytes * 1024
    finally:
        await client.close()
    assert LrsSettings().organisation_held_mb * 1024 == MOST_HELD_KB
