"""Team progress from held members (consumers.progress.members, docs/decisions/0033), on the
in-memory progress store: a trigger naming the changed members reads only them, and every team
document equals the one computed from every member's stored summary, whatever the changes,
plain triggers, erasures, registry changes and hand-overs between two instances; a gap in the
offsets or a team document written elsewhere makes the team read whole."""

from __future__ import annotations

import dataclasses
import io
import random
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumers.progress.learner import Changes, comparable
from consumers.progress.members import held_members
from consumers.progress.messages import MAX_NAMED_LEARNERS, decode_team_change, team_change_message
from consumers.progress.rebuild import rebuild
from consumers.progress.team import TeamProgressHandler
from lrs import topics
from lrs.adapters.memory_progress import InMemoryProgressStore
from lrs.ports.progress import LearnerDoc, LearnerSummary, TeamDoc
from lrs.progress import LearnerState, summarize_learner, summarize_team
from lrs.progress.registry import Team
from lrs.progress.team import VIEWED, VIEWED_ROW, VIEWED_TOTALS
from tests.support.records import StubRecord

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TENANT = "acme"


class CountingStore(InMemoryProgressStore):
    """The in-memory store, noting what each read of learner summaries asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[tuple[set[str], set[str]]] = []

    async def create_indexes(self) -> None:
        self.reads.append((set(), {"(indexes and links)"}))

    async def learner_summaries(
        self, tenant: str, learners: Collection[str], teams: Collection[str]
    ) -> dict[str, LearnerSummary]:
        self.reads.append((set(learners), set(teams)))
        return await super().learner_summaries(tenant, learners, teams)


def put_learner(
    store: InMemoryProgressStore, learner: str, teams: tuple[str, ...], secs: int
) -> None:
    """Store the learner's progress (as the progress consumer would: the next version)."""
    old = store.learners.get((TENANT, learner))
    summary = summarize_learner(LearnerState(learner), NOW.date())
    summary["totals"] = {**summary["totals"], "time_spent_seconds": secs}
    version = old.version + 1 if old else 1
    store.learners[TENANT, learner] = LearnerDoc(
        TENANT, learner, LearnerState(learner), teams, summary, version
    )


def trigger(team: str, offset: int, learners: set[str] | None, partition: int = 0) -> StubRecord:
    message = team_change_message(TENANT, team, NOW, learners)
    return StubRecord(topics.TEAM_CHANGES, partition, offset, message.key, message.value, [])


def expected(store: InMemoryProgressStore, team: str) -> dict[str, Any]:
    """The team's summary from every member's stored summary (registered or listing it)."""
    registered = store.registry.teams.get((TENANT, team))
    members: dict[str, Any] = dict.fromkeys(registered.members if registered else ())
    for (_, learner), doc in store.learners.items():
        if team in doc.teams or learner in members:
            members[learner] = doc.summary
    return comparable({**summarize_team(team, members, NOW), "tenant": TENANT})


def stored_team(store: InMemoryProgressStore, team: str) -> dict[str, Any]:
    return comparable(store.teams[TENANT, team].summary)


def handler(store: InMemoryProgressStore) -> TeamProgressHandler:
    return TeamProgressHandler(store, lambda: NOW)


async def test_a_trigger_naming_the_changed_members_reads_only_them() -> None:
    store = CountingStore()
    for n, learner in enumerate(("a", "b", "c")):
        put_learner(store, learner, ("t",), 10 * (n + 1))
    team = handler(store)
    await team.handle([trigger("t", 0, None)])
    put_learner(store, "b", ("t",), 500)
    await team.handle([trigger("t", 1, {"b"})])

    assert store.reads == [(set(), {"(indexes and links)"}), (set(), {"t"}), ({"b"}, set())]
    assert stored_team(store, "t") == expected(store, "t")
    assert stored_team(store, "t")["time_spent_seconds"] == 10 + 500 + 30


async def test_a_trigger_naming_half_the_members_has_them_all_read() -> None:
    store = CountingStore()
    for learner in ("a", "b", "c", "d"):
        put_learner(store, learner, ("t",), 10)
    team = handler(store)
    await team.handle([trigger("t", 0, None)])
    await team.handle([trigger("t", 1, {"a"})])
    await team.handle([trigger("t", 2, {"a", "b"})])

    assert store.reads[2:] == [({"a"}, set()), (set(), {"t"})]


@pytest.mark.parametrize(
    "gap",
    ["offset skipped", "team written elsewhere", "plain trigger"],
)
async def test_the_team_is_read_whole_when_what_is_held_may_be_stale(gap: str) -> None:
    store = CountingStore()
    for learner in ("a", "b", "c"):
        put_learner(store, learner, ("t",), 10)
    team = handler(store)
    await team.handle([trigger("t", 0, None)])
    put_learner(store, "a", ("t",), 11)  # seen by someone else's trigger, not by this instance
    put_learner(store, "b", ("t",), 21)
    named: set[str] | None = {"b"}
    offset = 1
    if gap == "offset skipped":
        offset = 2
    elif gap == "team written elsewhere":
        doc = store.teams[TENANT, "t"]
        store.teams[TENANT, "t"] = dataclasses.replace(doc, version=doc.version + 1)
    else:
        named = None
    await team.handle([trigger("t", offset, named)])

    assert store.reads[-1] == (set(), {"t"})
    assert stored_team(store, "t")["time_spent_seconds"] == 11 + 21 + 10


async def test_an_erased_member_named_by_a_late_trigger_stays_out() -> None:
    store = CountingStore()
    put_learner(store, "a", ("t",), 10)
    put_learner(store, "x", ("t",), 99)
    team = handler(store)
    await team.handle([trigger("t", 0, None)])
    del store.learners[TENANT, "x"]  # erased; the erasure's plain trigger, then a late one
    await team.handle([trigger("t", 1, None), trigger("t", 2, {"x"})])
    await team.handle([trigger("t", 3, {"x"})])

    assert store.teams[TENANT, "t"].members == ("a",)
    assert stored_team(store, "t") == expected(store, "t")


async def test_a_member_registered_since_is_read_before_the_registry_trigger_comes() -> None:
    store = CountingStore()
    for learner in ("a", "d", "e"):
        put_learner(store, learner, ("t",), 10)
    put_learner(store, "b", (), 20)
    team = handler(store)
    await team.handle([trigger("t", 0, None)])
    store.registry.teams[TENANT, "t"] = Team(TENANT, "t", "t", NOW, ("b", "c"))
    put_learner(store, "a", ("t",), 11)  # its trigger comes before the registry change's
    await team.handle([trigger("t", 1, {"a"})])

    assert store.reads[-1] == ({"a", "b", "c"}, set())
    assert store.teams[TENANT, "t"].members == ("a", "b", "c", "d", "e")
    assert stored_team(store, "t") == expected(store, "t")


@pytest.mark.parametrize("seed", range(12))
async def test_held_members_give_what_every_member_read_gives(seed: int) -> None:
    """Random changes, each followed by the trigger its writer sends, handled in random
    batches by one of two instances in turn (a partition handed over and back): after every
    batch, each team's document equals the recomputation from every member."""
    rng = random.Random(seed)
    store = CountingStore()
    instances = [handler(store), handler(store)]
    teams = ["t0", "t1", "t2"]
    learners = [f"l{n}" for n in range(8)]
    log: list[StubRecord] = []
    handled = 0
    owner = 0
    for _ in range(60):
        log += _random_change(rng, store, teams, learners, len(log))
        if rng.random() < 0.5:
            continue
        if rng.random() < 0.2:
            owner = 1 - owner
        await instances[owner].handle(log[handled:])
        handled = len(log)
        for name in teams:
            if (TENANT, name) in store.teams:
                assert stored_team(store, name) == expected(store, name)
    assert any(not teams_read for _, teams_read in store.reads)  # some used held members


def _random_change(
    rng: random.Random,
    store: InMemoryProgressStore,
    teams: list[str],
    learners: list[str],
    offset: int,
) -> list[StubRecord]:
    """One change to the store and the triggers its writers would produce. As in the pipeline,
    a learner's stored teams are those of its statements and of the registry; a registry change
    refreshes every member, old and new (consumers.progress.team.TeamRegistryHandler)."""
    roll = rng.random()
    if roll < 0.7:  # a statement: the progress consumer writes the learner
        learner = rng.choice(learners)
        joined = tuple(rng.sample(teams, rng.randrange(0, 3)))
        changes = _write(store, learner, joined, rng.randrange(1000))
    elif roll < 0.85:  # a registry change: the team's plain trigger, then each member refreshed
        team = rng.choice(teams)
        before = store.registry.teams.get((TENANT, team))
        members = tuple(sorted(rng.sample(learners, rng.randrange(0, 4))))
        store.registry.teams[TENANT, team] = Team(TENANT, team, team, NOW, members)
        changes = Changes(teams={(TENANT, team)})
        for learner in sorted({*members, *(before.members if before else ())}):
            changes.merge(_refresh(store, learner))
    else:  # an erasure: the learner's progress deleted, a plain trigger for each of its teams
        learner = rng.choice(learners)
        gone = store.learners.pop((TENANT, learner), None)
        changes = Changes(teams={(TENANT, t) for t in (gone.teams if gone else ())})
    out = changes.outputs(NOW)
    return [
        StubRecord(topics.TEAM_CHANGES, 0, offset + i, m.key, m.value, [])
        for i, (_, m) in enumerate(out)
    ]


def _write(
    store: InMemoryProgressStore, learner: str, statement_teams: tuple[str, ...], secs: int
) -> Changes:
    """The learner written with these statement teams and its registry teams; the trigger
    naming it to every team it is or was in."""
    old = store.learners.get((TENANT, learner))
    registry = {t for (_, t), team in store.registry.teams.items() if learner in team.members}
    put_learner(store, learner, tuple(sorted({*statement_teams, *registry})), secs)
    teams = {*store.learners[TENANT, learner].teams, *(old.teams if old else ())}
    return Changes(members={(TENANT, t): {learner} for t in teams})


def _refresh(store: InMemoryProgressStore, learner: str) -> Changes:
    """A learner refresh: a stored learner's registry teams brought up to date."""
    old = store.learners.get((TENANT, learner))
    if old is None:
        return Changes()
    registered = {t for (_, t), team in store.registry.teams.items()}
    kept = tuple(t for t in old.teams if t not in registered)  # its statements' teams
    return _write(store, learner, kept, old.summary["totals"]["time_spent_seconds"])


async def test_a_record_that_is_no_trigger_drops_what_is_held_of_its_partition() -> None:
    store = CountingStore()
    for learner in ("a", "b", "c"):
        put_learner(store, learner, ("t",), 10)
    team = handler(store)
    await team.handle([trigger("t", 0, None)])
    poisoned = await team.handle([StubRecord(topics.TEAM_CHANGES, 0, 1, b"k", b"[]", [])])
    assert len(poisoned.poison) == 1  # whatever it named, this instance does not know
    put_learner(store, "b", ("t",), 500)
    await team.handle([trigger("t", 2, {"a"})])

    assert store.reads[-1] == (set(), {"t"})  # read whole
    assert stored_team(store, "t") == expected(store, "t")


async def test_a_team_held_a_minute_is_read_whole_again() -> None:
    store = CountingStore()
    for learner in ("a", "b", "c"):
        put_learner(store, learner, ("t",), 10)
    clock = {"now": NOW}
    team = TeamProgressHandler(store, lambda: clock["now"])
    await team.handle([trigger("t", 0, None)])
    for offset, seconds in enumerate((30, 59, 60, 90, 119), start=1):
        clock["now"] = NOW + timedelta(seconds=seconds)
        await team.handle([trigger("t", offset, {"a"})])

    reads = ["whole" if teams else "named" for _, teams in store.reads[2:]]
    assert reads == ["named", "named", "whole", "named", "named"]


def rows(count: int) -> LearnerSummary:
    """A summary with `count` activity rows (weighed 800 + 336 x count bytes)."""
    return LearnerSummary("x", {"activities": [{}] * count}, ("t",))


def test_held_members_are_forgotten_on_a_gap_a_new_version_a_moved_key_or_past_the_bound() -> None:
    held = held_members(most_kb=4)
    held.follow([trigger("t", 0, None)])
    held.hold((TENANT, "t"), 0, 1, {"a": rows(0), "b": None}, NOW)
    held.follow([trigger("t", 1, None), trigger("t", 2, None)])
    assert held.values((TENANT, "t"), 1, NOW, 0) == {"a": rows(0), "b": None}
    assert held.values((TENANT, "t"), 2, NOW, 0) is None  # written elsewhere since
    assert held.values((TENANT, "t"), 1, NOW, 1) is None  # its key moved to another partition
    held.follow([trigger("t", 3, None), trigger("t", 5, None)])  # 4 compacted away
    assert held.values((TENANT, "t"), 1, NOW, 0) is None

    held.hold((TENANT, "t"), 0, 1, {"a": rows(0), "b": rows(0)}, NOW)  # 1,600 bytes
    held.hold((TENANT, "u"), 1, 1, {"c": rows(0)}, NOW)  # 800
    held.values((TENANT, "t"), 1, NOW, 0)  # used last: "u" is the oldest
    held.hold((TENANT, "v"), 1, 1, {"d": rows(3)}, NOW)  # 1,808: 4,208 in all, "u" goes
    assert held.values((TENANT, "u"), 1, NOW, 1) is None
    assert held.values((TENANT, "t"), 1, NOW, 0) is not None
    assert held.values((TENANT, "v"), 1, NOW, 1) is not None
    held.hold((TENANT, "w"), 1, 1, {"e": rows(10)}, NOW)  # 4,160 alone: never held
    assert held.values((TENANT, "w"), 1, NOW, 1) is None
    held.hold((TENANT, "z"), 1, 1, dict.fromkeys("ijklmnopq"), NOW)  # nine without progress
    assert held.values((TENANT, "z"), 1, NOW, 1) is None
    assert held.values((TENANT, "t"), 1, NOW, 0) is not None
    held.follow([trigger("t", 0, None, partition=1)])  # partition 1 seen for the first time
    assert held.values((TENANT, "v"), 1, NOW, 1) is None
    assert held.values((TENANT, "t"), 1, NOW, 0) is not None


def test_held_members_are_weighed_in_bytes_not_whole_kilobytes() -> None:
    """Five teams of one member without rows weigh 5 x 800 = 4,000 bytes: all held under a
    bound of 4 KB (each rounded up to a whole KB, they would not be)."""
    held = held_members(most_kb=4)
    teams = [f"t{n}" for n in range(5)]
    for team in teams:
        held.hold((TENANT, team), 0, 1, {"a": rows(0)}, NOW)
    assert all(held.values((TENANT, team), 1, NOW, 0) is not None for team in teams)


def test_a_trigger_names_its_changed_members_up_to_a_bound() -> None:
    named = team_change_message(TENANT, "t", NOW, {"b", "a"})
    plain = team_change_message(TENANT, "t", NOW)
    many = team_change_message(TENANT, "t", NOW, {f"l{n}" for n in range(MAX_NAMED_LEARNERS + 1)})

    assert decode_team_change(named.value) == (TENANT, "t", frozenset({"a", "b"}))
    assert decode_team_change(plain.value) == (TENANT, "t", None)
    assert decode_team_change(many.value) == (TENANT, "t", None)
    with pytest.raises(ValueError, match="learners"):
        decode_team_change(b'{"tenant": "acme", "team": "t", "learners": [1]}')


def test_a_plain_trigger_wins_over_named_ones_for_the_same_team() -> None:
    changes = Changes(members={(TENANT, "t"): {"a"}, (TENANT, "u"): {"b"}})
    changes.merge(Changes(teams={(TENANT, "t")}))
    values = [decode_team_change(m.value) for _, m in changes.outputs(NOW)]

    assert values == [(TENANT, "t", None), (TENANT, "u", frozenset({"b"}))]


async def test_a_rebuild_ends_with_a_plain_trigger_for_every_team_recomputed_or_stored() -> None:
    store = InMemoryProgressStore()
    for name in ("t", "u"):
        store.registry.teams[TENANT, name] = Team(TENANT, name, name, NOW, ("b",))
    store.teams[TENANT, "gone"] = TeamDoc(TENANT, "gone", {"team": "gone"}, ("x",), 3)
    published: list[tuple[str, Any]] = []

    async def publish(outputs: Sequence[tuple[str, Any]]) -> None:
        published.extend(outputs)

    await rebuild(store, lambda: NOW, publish, stream=io.StringIO())
    triggers = [
        decode_team_change(m.value) for topic, m in published if topic == topics.TEAM_CHANGES
    ]

    assert triggers == [(TENANT, "gone", None), (TENANT, "t", None), (TENANT, "u", None)]
    assert [topic for topic, _ in published][-3:] == [topics.TEAM_CHANGES] * 3


async def test_members_are_held_as_what_a_team_reads_of_them() -> None:
    """The members' summaries are held cut down to what `summarize_team` reads
    (`member_view`): a stored summary's other fields (here every one it has beyond those) are
    not held, and the team is what the whole summaries give."""
    store, held = CountingStore(), held_members()
    for n in range(3):
        put_learner(store, f"l{n}", ("t",), 60 * n)
    row = {"activity": "a", "name": "A", "completion": True, "success": None, "score_best": 0.5}
    row |= {"time_spent_seconds": 60.0, "status": "completed", "statements": 3, "attempts": 1}
    store.learners[TENANT, "l1"].summary["activities"] = [row]  # one row, extra fields in it
    team = TeamProgressHandler(store, lambda: NOW, held=held)
    await team.handle([trigger("t", 0, None)])
    kept = held.values((TENANT, "t"), 1, NOW, 0)
    assert kept is not None
    assert set(kept) == {"l0", "l1", "l2"}
    for member in kept.values():
        assert member is not None
        assert member.summary is not None
        assert set(member.summary) <= set(VIEWED)
        assert set(member.summary["totals"]) <= set(VIEWED_TOTALS)
    [viewed] = kept["l1"].summary["activities"]  # type: ignore[union-attr]
    assert viewed == {k: v for k, v in row.items() if k in VIEWED_ROW}
    assert stored_team(store, "t") == expected(store, "t")
