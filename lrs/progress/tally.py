"""A learner's progress as a mergeable tally: what `summarize_learner` needs of a set of facts.

Every figure of a learner summary is a count, an exact sum, a minimum or maximum, a union or "the
value of the latest fact that gave one" (latest by the summary order: time, then statement id).
Each of these combines: the tally of a union of two disjoint sets of facts is `combine` of their
tallies, in either order. So a learner's summary can be kept from the tally of facts folded long
ago (a checkpoint, lrs.progress.model `Sealed`) combined with the tally of the facts still held,
and it equals the summary of all the facts at once (tests/unit/progress/test_tally.py).

Durations are summed as whole hundredths of a second (Data 4.6: precision beyond 0.01 s SHOULD
NOT be compared; `duration_seconds` rounds to it), so a sum is exact whatever the grouping.

Pure: no I/O, no clock; `to_dict`/`from_dict` give the JSON form kept in storage.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from lrs.progress.facts import StatementFacts
from lrs.progress.streaks import utc_date
from lrs.progress.verbs import VerbClass

Key = tuple[str, str]  # (time, statement id): the one order of summaries


@dataclass(frozen=True, slots=True)
class Latest:
    """A value and the key of the fact that gave it; of two, the later key wins."""

    key: Key
    value: Any

    def to_list(self) -> list[Any]:
        return [self.key[0], self.key[1], self.value]

    @classmethod
    def from_list(cls, stored: Any) -> Latest | None:
        if not stored:
            return None
        at, sid, value = stored
        return cls((str(at), str(sid)), value)


def later(a: Latest | None, b: Latest | None) -> Latest | None:
    if a is None:
        return b
    if b is None:
        return a
    return b if b.key > a.key else a


Ordered = TypeVar("Ordered", Key, float)


def _low(a: Ordered | None, b: Ordered | None) -> Ordered | None:
    """The smaller of two values, None counting as absent."""
    return b if a is None or (b is not None and b < a) else a


def _high(a: Ordered | None, b: Ordered | None) -> Ordered | None:
    """The greater of two values, None counting as absent."""
    return b if a is None or (b is not None and b > a) else a


def hundredths(seconds: float | None) -> int:
    """A duration in whole hundredths of a second (0 when there is none)."""
    return 0 if seconds is None else round(seconds * 100)


@dataclass(frozen=True, slots=True)
class ActivityTally:
    """One activity's figures: from the statements about it (`direct`) and about its children
    (`related`: it is their `parent` or `grouping`). See `lrs.progress.model.activity_summary`."""

    direct: int = 0
    related: int = 0
    outcomes: frozenset[bool] = frozenset()  # the success values graded statements gave
    completion: bool = False
    score_latest: Latest | None = None
    score_best: float | None = None
    starts: int = 0
    launches: int = 0
    graded: int = 0
    name: Latest | None = None
    hundredths: int = 0  # durations of direct and related statements
    first: Key | None = None
    last: Key | None = None

    def combine(self, other: ActivityTally) -> ActivityTally:
        return ActivityTally(
            direct=self.direct + other.direct,
            related=self.related + other.related,
            outcomes=self.outcomes | other.outcomes,
            completion=self.completion or other.completion,
            score_latest=later(self.score_latest, other.score_latest),
            score_best=_high(self.score_best, other.score_best),
            starts=self.starts + other.starts,
            launches=self.launches + other.launches,
            graded=self.graded + other.graded,
            name=later(self.name, other.name),
            hundredths=self.hundredths + other.hundredths,
            first=_low(self.first, other.first),
            last=_high(self.last, other.last),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "direct": self.direct,
            "related": self.related,
            "outcomes": sorted(self.outcomes),
            "completion": self.completion,
            "score_latest": self.score_latest.to_list() if self.score_latest else None,
            "score_best": self.score_best,
            "starts": self.starts,
            "launches": self.launches,
            "graded": self.graded,
            "name": self.name.to_list() if self.name else None,
            "hundredths": self.hundredths,
            "first": list(self.first) if self.first else None,
            "last": list(self.last) if self.last else None,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> ActivityTally:
        return cls(
            direct=int(doc["direct"]),
            related=int(doc["related"]),
            outcomes=frozenset(bool(o) for o in doc["outcomes"]),
            completion=bool(doc["completion"]),
            score_latest=Latest.from_list(doc["score_latest"]),
            score_best=doc["score_best"],
            starts=int(doc["starts"]),
            launches=int(doc["launches"]),
            graded=int(doc["graded"]),
            name=Latest.from_list(doc["name"]),
            hundredths=int(doc["hundredths"]),
            first=_key(doc["first"]),
            last=_key(doc["last"]),
        )


@dataclass(frozen=True, slots=True)
class Tally:
    """A set of one learner's facts, as far as the summary needs it."""

    statements: int = 0
    name: Latest | None = None  # the actor's display name
    teams: frozenset[str] = frozenset()
    team_names: Mapping[str, Latest] = field(default_factory=dict)
    days: frozenset[date] = frozenset()  # UTC days with a statement
    hundredths: int = 0
    first: Key | None = None
    last: Key | None = None
    activities: Mapping[str, ActivityTally] = field(default_factory=dict)

    def combine(self, other: Tally) -> Tally:
        """The tally of the union of the two (disjoint) sets of facts."""
        if not other.statements:
            return self
        if not self.statements:
            return other
        return Tally(
            statements=self.statements + other.statements,
            name=later(self.name, other.name),
            teams=self.teams | other.teams,
            team_names=_merged(self.team_names, other.team_names, later),
            days=self.days | other.days,
            hundredths=self.hundredths + other.hundredths,
            first=_low(self.first, other.first),
            last=_high(self.last, other.last),
            activities=_merged(self.activities, other.activities, ActivityTally.combine),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "statements": self.statements,
            "name": self.name.to_list() if self.name else None,
            "teams": sorted(self.teams),
            "team_names": {t: n.to_list() for t, n in sorted(self.team_names.items())},
            "days": sorted(d.isoformat() for d in self.days),
            "hundredths": self.hundredths,
            "first": list(self.first) if self.first else None,
            "last": list(self.last) if self.last else None,
            "activities": {a: t.to_dict() for a, t in sorted(self.activities.items())},
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Tally:
        return cls(
            statements=int(doc["statements"]),
            name=Latest.from_list(doc["name"]),
            teams=frozenset(doc["teams"]),
            team_names={t: n for t, v in doc["team_names"].items() if (n := Latest.from_list(v))},
            days=frozenset(date.fromisoformat(d) for d in doc["days"]),
            hundredths=int(doc["hundredths"]),
            first=_key(doc["first"]),
            last=_key(doc["last"]),
            activities={a: ActivityTally.from_dict(t) for a, t in doc["activities"].items()},
        )


def _key(stored: Any) -> Key | None:
    return (str(stored[0]), str(stored[1])) if stored else None


def _merged(a: Mapping[str, Any], b: Mapping[str, Any], join: Any) -> dict[str, Any]:
    merged = dict(a)
    for name, value in b.items():
        merged[name] = join(merged[name], value) if name in merged else value
    return merged


def fact_success(facts: StatementFacts) -> bool | None:
    """Verb first (passed/mastered: true, failed: false), else `result.success` (Data 2.4.5)."""
    if facts.verb is VerbClass.PASSED:
        return True
    if facts.verb is VerbClass.FAILED:
        return False
    return facts.success


def tally(facts: Iterable[StatementFacts]) -> Tally:
    """The tally of a set of facts (any order gives the same tally).

    One pass in summary order (time, then id), so the latest value given is the last one seen.
    """
    held = sorted(facts, key=StatementFacts.sort_key)
    if not held:
        return Tally()
    activities: dict[str, _Counting] = {}
    name: Latest | None = None
    team_names: dict[str, Latest] = {}
    teams: set[str] = set()
    days: set[str] = set()
    total = 0
    for f in held:
        key = (f.at, f.id)
        spent = hundredths(f.duration)
        total += spent
        if f.actor_name is not None:
            name = Latest(key, f.actor_name)
        teams.update(f.teams)
        days.add(f.at[:10])
        for team, team_name in f.team_names:
            team_names[team] = Latest(key, team_name)
        named = dict(f.activity_names) if f.activity_names else {}
        if f.activity is not None:
            _counting(activities, f.activity, key).direct(f, key, spent, named.get(f.activity))
        for parent in f.parents:
            _counting(activities, parent, key).related(key, spent, named.get(parent))
    return Tally(
        statements=len(held),
        name=name,
        teams=frozenset(teams),
        team_names=team_names,
        days=frozenset(utc_date(day) for day in days),
        hundredths=total,
        first=(held[0].at, held[0].id),
        last=(held[-1].at, held[-1].id),
        activities={a: counting.frozen() for a, counting in activities.items()},
    )


def _counting(activities: dict[str, _Counting], activity: str, key: Key) -> _Counting:
    counting = activities.get(activity)
    if counting is None:
        counting = activities[activity] = _Counting(key)
    return counting


class _Counting:
    """An `ActivityTally` being counted, from facts seen in summary order."""

    __slots__ = (
        "completion",
        "direct_count",
        "first",
        "graded",
        "hundredths",
        "last",
        "launches",
        "name",
        "outcomes",
        "related_count",
        "score_best",
        "score_latest",
        "starts",
    )

    def __init__(self, first: Key) -> None:
        self.first = self.last = first
        self.direct_count = self.related_count = self.starts = self.launches = 0
        self.graded = self.hundredths = 0
        self.outcomes: set[bool] = set()
        self.completion = False
        self.score_latest: Latest | None = None
        self.score_best: float | None = None
        self.name: Latest | None = None

    def related(self, key: Key, spent: int, name: str | None) -> None:
        self.related_count += 1
        self._touch(key, spent, name)

    def direct(self, f: StatementFacts, key: Key, spent: int, name: str | None) -> None:
        self.direct_count += 1
        self._touch(key, spent, name)
        success = fact_success(f)
        if success is not None:
            self.outcomes.add(success)
            self.graded += 1
        if f.verb is VerbClass.COMPLETED or f.completion is True:
            self.completion = True
        if f.score is not None:
            self.score_latest = Latest(key, f.score)
            self.score_best = _high(self.score_best, f.score)
        if f.verb is VerbClass.START:
            self.starts += 1
        elif f.verb is VerbClass.LAUNCH:
            self.launches += 1

    def _touch(self, key: Key, spent: int, name: str | None) -> None:
        self.last = key
        self.hundredths += spent
        if name is not None:
            self.name = Latest(key, name)

    def frozen(self) -> ActivityTally:
        return ActivityTally(
            direct=self.direct_count,
            related=self.related_count,
            outcomes=frozenset(self.outcomes),
            completion=self.completion,
            score_latest=self.score_latest,
            score_best=self.score_best,
            starts=self.starts,
            launches=self.launches,
            graded=self.graded,
            name=self.name,
            hundredths=self.hundredths,
            first=self.first,
            last=self.last,
        )
