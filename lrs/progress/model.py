"""Learner progress as a pure fold: state = the set of facts of the learner's live statements.

`apply` inserts a statement's facts by id (so re-applying is a no-op), `void` removes a target's
facts and remembers the id (so a voided statement arriving after its voiding is ignored, Data
2.3.2), and `summarize_learner` derives every figure from the set, in one fixed order (time, then
id). The summary is therefore a function of the set of non-voided statements, whatever the order
and multiplicity in which they arrived: the property the consumers rely on for at-least-once
delivery and for voids that overtake their targets (docs/decisions/0006).

Rules (documented in `summarize_activity` and below):

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

Storage: the facts grow with the learner's statements (about 150 bytes each plus IRIs). A later
compaction may fold old facts into per-activity checkpoints; voiding a folded statement would
then need a rebuild from the statements topic. Not done yet: correctness first.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from lrs.progress.facts import StatementFacts, facts_from_statement, voided_target
from lrs.progress.streaks import current_streak, longest_streak, utc_date
from lrs.progress.verbs import VerbClass

STATUSES = ("not_started", "in_progress", "completed", "passed", "failed")


@dataclass(frozen=True, slots=True)
class LearnerState:
    """One learner's progress state: live facts by statement id, and the ids known voided."""

    learner: str
    facts: Mapping[str, StatementFacts] = field(default_factory=dict)
    voided: frozenset[str] = frozenset()

    def to_dict(self) -> dict[str, Any]:
        return {
            "learner": self.learner,
            "facts": {sid: f.to_dict() for sid, f in sorted(self.facts.items())},
            "voided": sorted(self.voided),
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> LearnerState:
        facts = doc.get("facts") or {}
        return cls(
            learner=str(doc["learner"]),
            facts={sid: StatementFacts.from_dict(sid, f) for sid, f in facts.items()},
            voided=frozenset(doc.get("voided") or ()),
        )


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
    if current is not None and (current == facts or _canonical(current) <= _canonical(facts)):
        return state
    return replace(state, facts={**state.facts, facts.id: facts})


def void(state: LearnerState, statement_id: str) -> LearnerState:
    """Data 2.3.2: forget a voided statement's facts, now and if it arrives later."""
    target = statement_id.lower()
    if target in state.voided and target not in state.facts:
        return state
    facts = {sid: f for sid, f in state.facts.items() if sid != target}
    return replace(state, facts=facts, voided=state.voided | {target})


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
    facts = sorted(state.facts.values(), key=StatementFacts.sort_key)
    activities = [
        summarize_activity(activity, direct, related)
        for activity, (direct, related) in sorted(_by_activity(facts).items())
    ]
    teams = {team for f in facts for team in f.teams} | set(registry_teams)
    return {
        "learner": state.learner,
        "name": _latest(f.actor_name for f in facts),
        "as_of": as_of.isoformat(),
        "statements": len(facts),
        "teams": sorted(teams),
        "team_names": _latest_names(f.team_names for f in facts),
        "totals": _totals(facts, activities, as_of),
        "activities": activities,
    }


def summarize_activity(
    activity: str, direct: Sequence[StatementFacts], related: Sequence[StatementFacts]
) -> dict[str, Any]:
    """Progress on one activity from the statements about it (`direct`, in time order) and
    about its children (`related`: it is their parent or grouping).

    Attempts: each attempt start counts once. cmi5 sessions send both `launched` (LMS) and
    `initialized` (content), so starts are max(attempted + initialized, launched); a graded
    outcome (passed/failed or `result.success`) implies an attempt, so attempts are never
    fewer than graded outcomes.
    """
    success = _success(direct)
    completion = any(_completes(f) for f in direct)
    scored = [f for f in direct if f.score is not None]
    touching = sorted([*direct, *related], key=StatementFacts.sort_key)
    return {
        "activity": activity,
        "name": _latest(dict(f.activity_names).get(activity) for f in touching),
        "status": _status(success, completion, bool(touching)),
        "completion": completion,
        "success": success,
        "score_latest": scored[-1].score if scored else None,
        "score_best": max(f.score for f in scored if f.score is not None) if scored else None,
        "attempts": _attempts(direct),
        "time_spent_seconds": _seconds(touching),
        "first_activity_at": touching[0].at if touching else None,
        "last_activity_at": touching[-1].at if touching else None,
        "statements": len(direct),
        "child_statements": len(related),
    }


def fact_success(facts: StatementFacts) -> bool | None:
    """Verb first (passed/mastered: true, failed: false), else `result.success` (Data 2.4.5)."""
    if facts.verb is VerbClass.PASSED:
        return True
    if facts.verb is VerbClass.FAILED:
        return False
    return facts.success


def is_completed(activity_summary: Mapping[str, Any]) -> bool:
    """Done with an activity: completed it, or passed it (a pass finishes an activity)."""
    return bool(activity_summary["completion"]) or activity_summary["success"] is True


def _completes(facts: StatementFacts) -> bool:
    """Data 2.4.5 `completion: true`, or a completing verb (completed, satisfied, waived)."""
    return facts.verb is VerbClass.COMPLETED or facts.completion is True


def _success(direct: Sequence[StatementFacts]) -> bool | None:
    """Sticky success: any pass wins over any fail; None when nothing was graded."""
    outcomes = {fact_success(f) for f in direct} - {None}
    if not outcomes:
        return None
    return True in outcomes


def _status(success: bool | None, completion: bool, touched: bool) -> str:
    if success is not None:
        return "passed" if success else "failed"
    if completion:
        return "completed"
    return "in_progress" if touched else "not_started"


def _attempts(direct: Sequence[StatementFacts]) -> int:
    starts = sum(1 for f in direct if f.verb is VerbClass.START)
    launches = sum(1 for f in direct if f.verb is VerbClass.LAUNCH)
    graded = sum(1 for f in direct if fact_success(f) is not None)
    return max(starts, launches, graded)


def _by_activity(
    facts: Sequence[StatementFacts],
) -> dict[str, tuple[list[StatementFacts], list[StatementFacts]]]:
    groups: dict[str, tuple[list[StatementFacts], list[StatementFacts]]] = {}
    for f in facts:
        if f.activity is not None:
            groups.setdefault(f.activity, ([], []))[0].append(f)
        for parent in f.parents:
            groups.setdefault(parent, ([], []))[1].append(f)
    return groups


def _totals(
    facts: Sequence[StatementFacts], activities: Sequence[Mapping[str, Any]], as_of: date
) -> dict[str, Any]:
    days = {utc_date(f.at) for f in facts}
    return {
        "activities_started": len(activities),
        "activities_completed": sum(1 for a in activities if is_completed(a)),
        "activities_passed": sum(1 for a in activities if a["success"] is True),
        "activities_failed": sum(1 for a in activities if a["success"] is False),
        "time_spent_seconds": _seconds(facts),
        "active_days": len(days),
        "current_streak_days": current_streak(days, as_of),
        "longest_streak_days": longest_streak(days, as_of),
        "first_activity_at": facts[0].at if facts else None,
        "last_activity_at": facts[-1].at if facts else None,
    }


def _latest(names: Iterable[str | None]) -> str | None:
    """The last name given, of names in time order."""
    given = [n for n in names if n is not None]
    return given[-1] if given else None


def _latest_names(pairs: Iterable[Sequence[tuple[str, str]]]) -> dict[str, str]:
    """id -> the last name given to it, of (id, name) pairs in time order."""
    latest: dict[str, str] = {}
    for named in pairs:
        latest.update(named)
    return dict(sorted(latest.items()))


def _seconds(facts: Iterable[StatementFacts]) -> float:
    """Sum of durations; `math.fsum` is exactly rounded, so the order cannot change it."""
    return round(math.fsum(f.duration for f in facts if f.duration is not None), 2)


def _canonical(facts: StatementFacts) -> str:
    return json.dumps(facts.to_dict(), sort_keys=True)
