"""Learner progress as a pure fold: state = the set of facts of the learner's live statements.

`apply` inserts a statement's facts by id (so re-applying is a no-op), `void` removes a target's
facts and remembers the id (so a voided statement arriving after its voiding is ignored, Data
2.3.2), and `summarize_learner` derives every figure from the set, in one fixed order (time, then
id). The summary is therefore a function of the set of non-voided statements, whatever the order
and multiplicity in which they arrived: the property the consumers rely on for at-least-once
delivery and for voids that overtake their targets (docs/decisions/0006).

Rules (documented in `activity_summary` and below; every figure is computed from the
facts' mergeable tally, lrs.progress.tally):

* Status precedence: passed > failed > completed > in_progress. Success is sticky: once any
  live statement passes an activity it stays passed, whatever later attempts say (a failed
  retake does not un-learn, and clock skew between devices cannot flip it). Voiding the passing
  statement removes it, and the status is derived again from what is left.
* Roll-up: a statement about a module (object) with `context.contextActivities.parent` or
  `grouping` courses also counts as activity on those courses: they become in progress, their
  first/last activity times and time spent include it. Completion, success, scores and attempts
  of a course come only from statements whose object is the course itself (an LMS or cmi5
  `satisfied` says when a course is done; the LRS cannot know the course's required modules).
* Learner totals count each statement once, never once per activity it rolls up to.
* Display names (lrs.progress.names): the learner's `name`, each activity's `name` and the
  statement teams' `team_names` are those of the latest live statement that gave one (time,
  then id); None (or absent from `team_names`) when no statement named it.

Storage: the facts grow with the learner's statements (about 260 bytes each). So the state
holds at most a bounded number of them: `seal` moves the oldest out (stored apart, by the
caller) and keeps their mergeable tally (lrs.progress.tally) in `sealed`; every summary is
computed from the held facts' tally combined with the sealed one, which equals the tally of all
of them. `unseal` brings them back when a void or a conflicting statement concerns one
(docs/decisions/0025).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from lrs.progress.facts import StatementFacts, facts_from_statement, voided_target
from lrs.progress.streaks import current_streak, longest_streak
from lrs.progress.tally import ActivityTally, Key, Latest, Tally, tally

STATUSES = ("not_started", "in_progress", "completed", "passed", "failed")


@dataclass(frozen=True, slots=True)
class Sealed:
    """Facts sealed away: stored apart from the learner's state (in chunks) and counted here by
    their tally; `through` is the latest key among them, so a fact after it cannot be one."""

    counted: Tally = field(default_factory=Tally)
    through: Key | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"tally": self.counted.to_dict(), "through": list(self.through or ())}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Sealed:
        through = doc.get("through")
        return cls(Tally.from_dict(doc["tally"]), (through[0], through[1]) if through else None)


@dataclass(frozen=True, slots=True)
class LearnerState:
    """One learner's progress state: live facts by statement id, the ids known voided, and the
    facts sealed away (none until the learner has many: `seal`)."""

    learner: str
    facts: Mapping[str, StatementFacts] = field(default_factory=dict)
    voided: frozenset[str] = frozenset()
    sealed: Sealed = field(default_factory=Sealed)
    # The tally of `facts` once counted (`held_tally`), with the facts `add_facts` added since,
    # not counted yet: never stored or compared; a state made any other way (`replace`
    # included) starts without it.
    _held: list[tuple[Tally, tuple[StatementFacts, ...]]] = field(
        default_factory=list, init=False, repr=False, compare=False
    )

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "learner": self.learner,
            "facts": {sid: f.to_dict() for sid, f in sorted(self.facts.items())},
            "voided": sorted(self.voided),
        }
        if self.sealed.counted.statements:
            doc["sealed"] = self.sealed.to_dict()
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> LearnerState:
        facts = doc.get("facts") or {}
        sealed = doc.get("sealed")
        return cls(
            learner=str(doc["learner"]),
            facts={sid: StatementFacts.from_dict(sid, f) for sid, f in facts.items()},
            voided=frozenset(doc.get("voided") or ()),
            sealed=Sealed.from_dict(sealed) if sealed else Sealed(),
        )

    @property
    def counted(self) -> Tally:
        """The tally of every live fact: those held and those sealed."""
        return self.held_tally.combine(self.sealed.counted)

    @property
    def held_tally(self) -> Tally:
        """The tally of the held facts, counted once per state: a consumer keeps a learner's
        state between batches (lrs.adapters.state_cache), and `add_facts` carries it over, so
        a batch counts the facts it adds, not every fact held again."""
        if not self._held:
            self._held.append((tally(self.facts.values()), ()))
        counted, added = self._held[0]
        if added:
            counted = counted.combine(tally(added))
            self._held[0] = (counted, ())
        return counted

    def with_fact(self, facts: StatementFacts) -> LearnerState:
        """This state holding one more fact, under an id it does not hold. The tally of the
        union of two disjoint sets is the combined tally of each (lrs.progress.tally), so a
        held tally already counted is carried over, the new fact to be counted with it."""
        if facts.id in self.facts:
            raise ValueError(f"{self.learner} already holds statement {facts.id}")
        added = replace(self, facts={**self.facts, facts.id: facts})
        if self._held:
            counted, pending = self._held[0]
            added._held.append((counted, (*pending, facts)))
        return added

    def whole(self) -> LearnerState:
        """This state, which must hold every live fact: a reader that selects facts (a period,
        a goal's window) cannot see sealed ones and must be given them (`unseal`)."""
        if self.sealed.counted.statements:
            raise ValueError(f"{self.learner}'s state has sealed facts: unseal it first")
        return self

    def might_hold_sealed(self, statement_id: str, key: Key | None = None) -> bool:
        """Whether a statement id may be among the sealed facts: never when nothing is sealed
        or the id is held; never when its fact's key (when known) is after `through`."""
        through = self.sealed.through
        if through is None or statement_id in self.facts:
            return False
        return key is None or key <= through


def apply(state: LearnerState, statement: Mapping[str, Any]) -> LearnerState:
    """Fold one accepted statement in: a voiding statement voids, any other adds its facts."""
    target = voided_target(statement)
    if target is not None:
        return void(state, target)
    facts = facts_from_statement(statement)
    return state if facts is None else add_facts(state, facts)


def add_facts(state: LearnerState, facts: StatementFacts) -> LearnerState:
    """Insert facts by statement id; a voided id or an id already held changes nothing.

    Two different statements under one id (a conflict the persister rejects, but both may be
    on the topic) resolve to the same one whatever their order: the smaller canonical JSON.
    """
    if facts.id in state.voided:
        return state
    current = state.facts.get(facts.id)
    if current is None:
        return state.with_fact(facts)
    if _kept(current, facts) is current:
        return state
    return replace(state, facts={**state.facts, facts.id: facts})


def void(state: LearnerState, statement_id: str) -> LearnerState:
    """Data 2.3.2: forget a voided statement's facts, now and if it arrives later."""
    target = statement_id.lower()
    if target in state.voided and target not in state.facts:
        return state
    facts = {sid: f for sid, f in state.facts.items() if sid != target}
    return replace(state, facts=facts, voided=state.voided | {target})


def seal(state: LearnerState, keep: int) -> tuple[LearnerState, list[StatementFacts]]:
    """Seal all but the `keep` latest held facts (time, then id): the state then holds those
    and counts the others in `sealed`; the sealed facts are returned, for storing apart.

    Their ids leave the state: a statement applied again later must first be checked against
    the stored sealed facts (`LearnerState.might_hold_sealed`), and a void of a sealed fact, or
    another statement under a sealed id, needs the facts back (`unseal`).
    """
    held = sorted(state.facts.values(), key=StatementFacts.sort_key)
    if len(held) <= keep:
        return state, []
    cut = len(held) - keep
    sealing, kept = held[:cut], held[cut:]
    through = sealing[-1].sort_key()
    if state.sealed.through is not None:
        through = max(through, state.sealed.through)
    sealed = Sealed(state.sealed.counted.combine(tally(sealing)), through)
    return replace(state, facts={f.id: f for f in kept}, sealed=sealed), sealing


def unseal(state: LearnerState, sealed: Iterable[StatementFacts]) -> LearnerState:
    """The state holding every fact again: its held facts and `sealed`, the facts stored apart
    (by `seal`), whose ids are then known again; an id voided since is left out. One id given
    twice keeps one fact, as `add_facts` chooses (built in one pass: the sealed facts may be
    many)."""
    facts = dict(state.facts)
    for given in sealed:
        if given.id in state.voided:
            continue
        current = facts.get(given.id)
        facts[given.id] = given if current is None else _kept(current, given)
    return replace(state, facts=facts, sealed=Sealed())


def fold(learner: str, statements: Iterable[Mapping[str, Any]]) -> LearnerState:
    """The state after applying statements, from empty (a rebuild or a test oracle)."""
    state = LearnerState(learner)
    for statement in statements:
        state = apply(state, statement)
    return state


def summarize_learner(
    state: LearnerState, as_of: date, *, registry_teams: Iterable[str] = ()
) -> dict[str, Any]:
    """The value of an `lrs.progress.learner` event (schemas/events/learner-progress.v1.json).

    `as_of` is the day the streak is counted up to (passed in: no clock here). `registry_teams`
    are the learner's teams in the team registry; statement teams are added to them.
    """
    return summary_from_tally(state.learner, state.counted, as_of, registry_teams=registry_teams)


def summary_from_tally(
    learner: str, counted: Tally, as_of: date, *, registry_teams: Iterable[str] = ()
) -> dict[str, Any]:
    """`summarize_learner` of the facts `counted` is the tally of (lrs.progress.tally)."""
    activities = [activity_summary(a, counted.activities[a]) for a in sorted(counted.activities)]
    return {
        "learner": learner,
        "name": _value(counted.name),
        "as_of": as_of.isoformat(),
        "statements": counted.statements,
        "teams": sorted(counted.teams | set(registry_teams)),
        "team_names": {team: n.value for team, n in sorted(counted.team_names.items())},
        "totals": _totals(counted, activities, as_of),
        "activities": activities,
    }


def activity_summary(activity: str, counted: ActivityTally) -> dict[str, Any]:
    """Progress on one activity from the statements about it (`direct`) and about its children
    (`related`: it is their parent or grouping), as tallied.

    Attempts: each attempt start counts once. cmi5 sessions send both `launched` (LMS) and
    `initialized` (content), so starts are max(attempted + initialized, launched); a graded
    outcome (passed/failed or `result.success`) implies an attempt, so attempts are never
    fewer than graded outcomes.
    """
    success = (True in counted.outcomes) if counted.outcomes else None  # sticky success
    return {
        "activity": activity,
        "name": _value(counted.name),
        "status": _status(success, counted.completion, bool(counted.direct + counted.related)),
        "completion": counted.completion,
        "success": success,
        "score_latest": _value(counted.score_latest),
        "score_best": counted.score_best,
        "attempts": max(counted.starts, counted.launches, counted.graded),
        "time_spent_seconds": counted.hundredths / 100,
        "first_activity_at": counted.first[0] if counted.first else None,
        "last_activity_at": counted.last[0] if counted.last else None,
        "statements": counted.direct,
        "child_statements": counted.related,
    }


def is_completed(activity_summary: Mapping[str, Any]) -> bool:
    """Done with an activity: completed it, or passed it (a pass finishes an activity)."""
    return bool(activity_summary.get("completion")) or activity_summary.get("success") is True


def _status(success: bool | None, completion: bool, touched: bool) -> str:
    if success is not None:
        return "passed" if success else "failed"
    if completion:
        return "completed"
    return "in_progress" if touched else "not_started"


def _totals(counted: Tally, activities: Sequence[Mapping[str, Any]], as_of: date) -> dict[str, Any]:
    return {
        "activities_started": len(activities),
        "activities_completed": sum(1 for a in activities if is_completed(a)),
        "activities_passed": sum(1 for a in activities if a["success"] is True),
        "activities_failed": sum(1 for a in activities if a["success"] is False),
        "time_spent_seconds": counted.hundredths / 100,
        "active_days": len(counted.days),
        "current_streak_days": current_streak(counted.days, as_of),
        "longest_streak_days": longest_streak(counted.days, as_of),
        "first_activity_at": counted.first[0] if counted.first else None,
        "last_activity_at": counted.last[0] if counted.last else None,
    }


def _value(latest: Latest | None) -> Any:
    return None if latest is None else latest.value


def _kept(current: StatementFacts, given: StatementFacts) -> StatementFacts:
    """Of two facts under one id, the one a state keeps whatever their order: `current` when
    equal, else the smaller canonical JSON."""
    if current == given or _canonical(current) <= _canonical(given):
        return current
    return given


def _canonical(facts: StatementFacts) -> str:
    return json.dumps(facts.to_dict(), sort_keys=True)
