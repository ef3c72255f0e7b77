"""The tally behind every learner summary (lrs.progress.tally) and the sealing built on it
(lrs.progress.model `seal`/`unseal`): a summary from tallies combined in any grouping, or from a
state whose older facts were sealed away, equals the summary of all the facts at once."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from datetime import date
from typing import Any

import pytest

from lrs.progress import LearnerState, add_facts, apply, fold, summarize_learner
from lrs.progress.facts import StatementFacts, facts_from_statement, voided_target
from lrs.progress.model import seal, summary_from_tally, unseal
from lrs.progress.organisation import active_days
from lrs.progress.tally import Tally, tally
from lrs.progress.verbs import VerbClass
from tests.unit.progress.test_properties import AS_OF_DAYS, learner_id, summaries, workload


def live_facts(seed: int) -> list[StatementFacts]:
    return list(fold(learner_id(1), workload(seed).live).facts.values())


@pytest.mark.parametrize("seed", range(100))
def test_tallies_of_any_partition_combine_to_the_tally_of_the_whole(seed: int) -> None:
    rng = random.Random(seed)
    facts = live_facts(seed)
    parts: list[list[StatementFacts]] = [[] for _ in range(rng.randint(1, 4))]
    for f in facts:
        rng.choice(parts).append(f)
    tallies = [tally(part) for part in parts]
    rng.shuffle(tallies)
    combined = Tally()
    for part in tallies:
        combined = combined.combine(part)
    assert combined == tally(facts)
    whole = LearnerState(learner_id(1), {f.id: f for f in facts})
    for day in AS_OF_DAYS:
        assert summary_from_tally(learner_id(1), combined, day) == summarize_learner(whole, day)


@pytest.mark.parametrize("seed", range(30))
def test_a_tally_survives_its_json_form(seed: int) -> None:
    counted = tally(live_facts(seed))
    assert Tally.from_dict(json.loads(json.dumps(counted.to_dict()))) == counted


def test_durations_add_up_in_whole_hundredths() -> None:
    """0.1 + 0.2 is 0.30000000000000004 and 0.29 * 100 is 28.999999999999996 in floats: whole
    hundredths keep the sum exact."""
    facts = [
        StatementFacts(f"{n:032x}", VerbClass.OTHER, "2026-11-02T10:00:00.000Z", duration=d)
        for n, d in enumerate([0.1, 0.2, 0.29, 16559.14])
    ]
    summary = summarize_learner(LearnerState("x", {f.id: f for f in facts}), AS_OF_DAYS[0])
    assert summary["totals"]["time_spent_seconds"] == 16559.73


class SealingLearner:
    """The progress consumer's use of `seal`/`unseal` in pure form: sealed facts are kept in a
    list (its store), and a statement or void that may concern one unseals first."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self.state = LearnerState(learner_id(1))
        self.stored: list[StatementFacts] = []  # the sealed facts, stored apart
        self.unsealed = 0

    def take(self, statement: Mapping[str, Any]) -> None:
        target = voided_target(statement)
        facts = facts_from_statement(statement)
        if target is not None:
            concerned = {target} if self.state.might_hold_sealed(target) else set()
        elif facts is not None and self.state.might_hold_sealed(facts.id, facts.sort_key()):
            concerned = {facts.id}
        else:
            concerned = set()
        if any(f.id in concerned for f in self.stored):
            self.state, self.stored = unseal(self.state, self.stored), []
            self.unsealed += 1
        self.state = apply(self.state, statement)
        self.state, sealing = seal(self.state, self.keep)
        self.stored += sealing


@pytest.mark.parametrize("keep", [0, 1, 3])
@pytest.mark.parametrize("seed", range(60))
def test_sealing_while_folding_any_stream_equals_the_live_set_once(seed: int, keep: int) -> None:
    work = workload(seed)
    learner = SealingLearner(keep)
    for statement in work.stream:
        learner.take(statement)
    oracle = fold(learner_id(1), work.live)
    assert summaries(learner.state) == summaries(oracle)
    assert active_days(learner.state) == active_days(oracle)
    assert unseal(learner.state, learner.stored).facts == oracle.facts
    assert len(learner.state.facts) <= keep


def test_streams_seal_and_unseal() -> None:
    """The cases above do reach the slow path: voids and re-sent statements of sealed facts."""
    unsealed = sealed = 0
    for seed in range(60):
        learner = SealingLearner(1)
        for statement in workload(seed).stream:
            learner.take(statement)
        unsealed += learner.unsealed
        sealed += len(learner.stored)
    assert unsealed > 30
    assert sealed > 300


@pytest.mark.parametrize("seed", range(20))
def test_a_lost_sealed_fact_shows(seed: int) -> None:
    """Guard against a vacuous check: a state whose sealed tally misses a fact differs."""
    work = next(w for w in (workload(seed + 1000 * k) for k in range(20)) if len(w.live) > 2)
    state, sealing = seal(fold(learner_id(1), work.live), 1)
    missing = random.Random(seed).choice(sealing)
    partial, _ = seal(fold(learner_id(1), [s for s in work.live if s["id"] != missing.id]), 1)
    assert summaries(partial) != summaries(state)


def test_a_sealed_state_survives_its_json_form() -> None:
    state, _ = seal(fold(learner_id(1), workload(7).live), 2)
    assert state.sealed.counted.statements
    assert LearnerState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def test_readers_of_a_period_refuse_a_state_with_sealed_facts() -> None:
    """A goal's window or a period view selects facts by time: from a sealed state it would
    silently miss the sealed ones, so it refuses it; given the facts back it answers."""
    from lrs.goals.evaluate import learner_window
    from lrs.goals.periods import Period

    statements = workload(7).live
    state, sealing = seal(fold(learner_id(1), statements), 1)
    period = Period(date(2026, 11, 1), date(2026, 11, 30))
    with pytest.raises(ValueError, match="sealed facts"):
        learner_window(state, period)
    whole = learner_window(unseal(state, sealing), period)
    assert whole == learner_window(fold(learner_id(1), statements), period)
    assert whole.days


def test_unseal_keeps_what_add_facts_keeps_for_one_id_given_twice() -> None:
    """Two different facts under one id: the same one wins, whichever is held or sealed."""
    first = StatementFacts("a" * 32, VerbClass.OTHER, "2026-11-02T10:00:00.000Z", duration=1.0)
    other = StatementFacts("a" * 32, VerbClass.PASSED, "2026-11-03T10:00:00.000Z")
    for held, sealed in ((first, other), (other, first)):
        state = LearnerState("x", {held.id: held})
        assert unseal(state, [sealed]).facts == add_facts(state, sealed).facts
    voided = LearnerState("x", voided=frozenset({first.id}))
    assert unseal(voided, [first]).facts == {}


@pytest.mark.parametrize("seed", range(60))
def test_a_held_tally_carried_from_statement_to_statement_is_the_tally_of_the_held_facts(
    seed: int,
) -> None:
    """`held_tally` is counted once per state and carried over by `add_facts`, with the facts
    added since (counted when next asked): asked after every third statement of a stream with
    voids, duplicates and seals (each of which starts it afresh), it is always what counting
    the held facts gives."""
    state = LearnerState(learner_id(1))
    carried = 0
    stream = workload(seed).stream
    for n, statement in enumerate(stream):
        had = bool(state._held)
        state = apply(state, statement)
        if n % 7 == 6:
            state, _ = seal(state, 3)
        carried += had and bool(state._held)
        if n % 3 == 2 or n == len(stream) - 1:
            assert state.held_tally == tally(state.facts.values())
    assert carried or len(stream) < 4  # the carried tally was exercised


def test_a_fact_under_an_id_already_held_is_refused_by_with_fact() -> None:
    """The carried tally counts the union of disjoint sets: `add_facts` decides between two
    facts of one id; `with_fact` refuses the second."""
    fact = live_facts(3)[0]
    state = LearnerState(learner_id(1)).with_fact(fact)
    with pytest.raises(ValueError, match="already holds"):
        state.with_fact(fact)
