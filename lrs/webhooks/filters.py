"""What a subscription wants: a filter over stored statements and progress events.

A statement matches when every criterion that is set holds (an empty criterion matches all):
its verb is one of `verbs`; its object, or with `related_activities` any activity of its
context (parent, grouping, category, other), is one of `activities`; its actor (canonical
identifier, lrs.xapi.ifi) is one of `actors`; its registration is one of `registrations`; its
learner is a member of one of `teams` (the team registry, as the consumer sees it). A progress
event (a learner's or a team's progress changed) matches only subscriptions with `progress`,
and then the `actors` and `teams` criteria.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from lrs.xapi.errors import BadRequest
from lrs.xapi.ifi import actor_ifi

Statement = Mapping[str, Any]
CONTEXT_ACTIVITY_KINDS = ("parent", "grouping", "category", "other")
MAX_VALUES = 100  # per criterion


@dataclass(frozen=True)
class Filter:
    verbs: frozenset[str] = frozenset()
    activities: frozenset[str] = frozenset()
    related_activities: bool = False
    actors: frozenset[str] = frozenset()  # canonical identifiers
    teams: frozenset[str] = frozenset()
    registrations: frozenset[str] = frozenset()  # lower case
    statements: bool = True  # deliver statements
    progress: bool = False  # deliver learner/team progress changes

    def as_dict(self) -> dict[str, Any]:
        return {
            "verbs": sorted(self.verbs),
            "activities": sorted(self.activities),
            "related_activities": self.related_activities,
            "actors": sorted(self.actors),
            "teams": sorted(self.teams),
            "registrations": sorted(self.registrations),
            "statements": self.statements,
            "progress": self.progress,
        }


@dataclass(frozen=True)
class ProgressEvent:
    """A learner's (`learner` set) or a team's (`team` set) progress changed."""

    kind: str  # "learner" | "team"
    learner: str | None = None
    team: str | None = None
    teams: frozenset[str] = frozenset()  # the learner's teams


def parse_filter(raw: Mapping[str, Any] | None) -> Filter:
    """A filter from its JSON form; BadRequest naming the rule it breaks. Actors are Agents
    (objects with one IFI, Data 2.4.2.1) or canonical identifiers as `lrs` prints them."""
    raw = raw or {}
    unknown = set(raw) - {*Filter().as_dict()}
    if unknown:
        raise BadRequest(f"webhook filter: unknown field(s) {sorted(unknown)}")
    result = Filter(
        verbs=_strings(raw, "verbs"),
        activities=_strings(raw, "activities"),
        related_activities=_flag(raw, "related_activities", False),
        actors=frozenset(_actor(a) for a in _list(raw, "actors")),
        teams=_strings(raw, "teams"),
        registrations=frozenset(r.lower() for r in _strings(raw, "registrations")),
        statements=_flag(raw, "statements", True),
        progress=_flag(raw, "progress", False),
    )
    if not result.statements and not result.progress:
        raise BadRequest("webhook filter: `statements` and `progress` cannot both be false")
    return result


def _list(raw: Mapping[str, Any], name: str) -> list[Any]:
    value = raw.get(name) or []
    if not isinstance(value, list):
        raise BadRequest(f"webhook filter: `{name}` must be a list")
    if len(value) > MAX_VALUES:
        raise BadRequest(f"webhook filter: `{name}` holds at most {MAX_VALUES} values")
    return value


def _strings(raw: Mapping[str, Any], name: str) -> frozenset[str]:
    values = _list(raw, name)
    if not all(isinstance(v, str) and v for v in values):
        raise BadRequest(f"webhook filter: `{name}` must be a list of non-empty strings")
    return frozenset(values)


def _flag(raw: Mapping[str, Any], name: str, default: bool) -> bool:
    value = raw.get(name, default)
    if not isinstance(value, bool):
        raise BadRequest(f"webhook filter: `{name}` must be true or false")
    return value


def _actor(value: Any) -> str:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, Mapping):
        ifi = actor_ifi(value)
        if ifi and not ifi.startswith("group:["):
            return ifi
    raise BadRequest("webhook filter: each of `actors` is an Agent with one IFI (Data 2.4.2.1)")


def statement_activities(statement: Statement, related: bool) -> set[str]:
    """The object's id when it is an Activity, plus the context activities' with `related`."""
    found: set[str] = set()
    obj = statement.get("object") or {}
    is_activity = isinstance(obj, Mapping) and obj.get("objectType", "Activity") == "Activity"
    if is_activity and isinstance(obj.get("id"), str):
        found.add(obj["id"])
    if related:
        context = statement.get("context") or {}
        activities = context.get("contextActivities") or {} if isinstance(context, Mapping) else {}
        for kind in CONTEXT_ACTIVITY_KINDS:
            found.update(_ids(activities.get(kind) if isinstance(activities, Mapping) else None))
    return found


def _ids(value: Any) -> Iterable[str]:
    items = value if isinstance(value, list) else [value] if isinstance(value, Mapping) else []
    return (i["id"] for i in items if isinstance(i, Mapping) and isinstance(i.get("id"), str))


def _registration(statement: Statement) -> str | None:
    context = statement.get("context")
    value = context.get("registration") if isinstance(context, Mapping) else None
    return value.lower() if isinstance(value, str) else None


def matches_statement(flt: Filter, statement: Statement, teams: frozenset[str]) -> bool:
    """Whether a stored statement is for the subscription; `teams`: its learner's teams."""
    if not flt.statements:
        return False
    verb = statement.get("verb") or {}
    if flt.verbs and (not isinstance(verb, Mapping) or verb.get("id") not in flt.verbs):
        return False
    if flt.activities and not (
        flt.activities & statement_activities(statement, flt.related_activities)
    ):
        return False
    if flt.actors and actor_ifi(statement.get("actor") or {}) not in flt.actors:
        return False
    if flt.registrations and _registration(statement) not in flt.registrations:
        return False
    return not flt.teams or bool(flt.teams & teams)


def matches_progress(flt: Filter, event: ProgressEvent) -> bool:
    """Whether a progress change is for the subscription."""
    if not flt.progress:
        return False
    if flt.actors and event.learner not in flt.actors:
        return False
    if flt.teams:
        teams = {event.team} if event.team else set(event.teams)
        return bool(flt.teams & teams)
    return True


def needs_teams(flt: Filter) -> bool:
    """Whether matching a statement needs its learner's teams (a store read)."""
    return bool(flt.teams)
