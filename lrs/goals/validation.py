"""Validation of a goal definition (the body of `POST /goals` and `PUT /goals/{goalId}`).

Pure: the caller passes the tenant, today's date (the default `startDate`) and the id to use
when the body gives none. Every problem is reported with the path of the field it concerns
(`targets[1].score`), and the first one names the field in the message, so a 400 says what to
fix. schemas/goal.v1.json describes the same body for clients.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, TypeGuard

from lrs.goals.model import (
    GOAL_TYPES,
    GROUP_TARGET_KINDS,
    LEARNER_TARGET_KINDS,
    OWNER_KINDS,
    RECURRENCES,
    Goal,
    Owner,
    Target,
)
from lrs.goals.periods import shortest_period_days
from lrs.xapi.errors import BadRequest, Issue

MAX_NAME = 200
MAX_DESCRIPTION = 4000
MAX_ID = 512
MAX_TARGETS = 20
MAX_ACTIVITIES = 200
MAX_IRI = 2048
MAX_MINUTES = 1_000_000
GOAL_ID = re.compile(r"^[A-Za-z0-9._~:-]{1,128}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_GOAL_FIELDS = frozenset(
    {
        "goalId",
        "name",
        "description",
        "type",
        "owner",
        "startDate",
        "achievedByDate",
        "recurrence",
        "targets",
    }
)
_TARGET_FIELDS: Mapping[str, frozenset[str]] = {
    "complete": frozenset({"kind", "activities", "require"}),
    "score": frozenset({"kind", "activity", "score"}),
    "learning_days": frozenset({"kind", "days", "per"}),
    "minutes": frozenset({"kind", "minutes"}),
    "members": frozenset({"kind", "share", "of"}),
}


class _Problems:
    """Issues collected while reading a body; `raise_if_any` reports them as one 400."""

    def __init__(self) -> None:
        self.issues: list[Issue] = []

    def add(self, path: str, rule: str, message: str) -> None:
        self.issues.append(Issue(path, rule, message))

    def raise_if_any(self) -> None:
        if self.issues:
            first = self.issues[0]
            more = f" (and {len(self.issues) - 1} more problem(s))" if len(self.issues) > 1 else ""
            raise BadRequest(f"invalid goal: {first.path}: {first.message}{more}", self.issues)


def parse_goal(
    body: object,
    tenant: str,
    today: date,
    goal_id: str | None = None,
    *,
    default_id: str = "",
) -> Goal:
    """A `Goal` from a request body, or BadRequest naming every field that is wrong.

    `goal_id` is the id from the path (PUT): a body `goalId` that differs is an error.
    `default_id` is used when neither gives one (POST: a new id).
    """
    problems = _Problems()
    if not isinstance(body, Mapping):
        problems.add("$", "type", "the body must be a JSON object")
        problems.raise_if_any()
    assert isinstance(body, Mapping)
    for name in sorted(set(body) - _GOAL_FIELDS):
        problems.add(name, "unknown", f"unknown field {name!r}")
    gid = _goal_id(body.get("goalId"), goal_id, problems) or default_id
    name = _text(body.get("name"), "name", MAX_NAME, problems, required=True)
    description = _text(body.get("description"), "description", MAX_DESCRIPTION, problems)
    kind = body.get("type", "assigned")
    if kind not in GOAL_TYPES:
        problems.add("type", "enum", f"must be one of {', '.join(GOAL_TYPES)}")
    owner = _owner(body.get("owner"), problems)
    start = _date(body.get("startDate"), "startDate", problems) if "startDate" in body else today
    due = _date(body.get("achievedByDate"), "achievedByDate", problems)
    recurrence = body.get("recurrence")
    _period(start, due, recurrence, problems)
    targets = _targets(body.get("targets"), owner, start, due, recurrence, problems)
    problems.raise_if_any()
    assert owner is not None
    assert start is not None
    assert name is not None
    return Goal(
        tenant=tenant,
        goal_id=gid,
        name=name,
        owner=owner,
        start=start,
        targets=tuple(targets),
        achieved_by=due,
        recurrence=recurrence,
        description=description,
        type=str(kind),
    )


def validate_goal_id(value: str) -> str:
    """A goal id: 1 to 128 of letters, digits and `._~:-` (it goes in URL paths as is)."""
    if not GOAL_ID.match(value):
        raise BadRequest("goalId: must be 1 to 128 letters, digits or ._~:- characters")
    return value


def _goal_id(value: object, from_path: str | None, problems: _Problems) -> str:
    if value is None:
        return from_path or ""
    if not isinstance(value, str) or not GOAL_ID.match(value):
        problems.add("goalId", "format", "must be 1 to 128 letters, digits or ._~:- characters")
        return from_path or ""
    if from_path is not None and value != from_path:
        problems.add("goalId", "mismatch", f"differs from the goal id of the path ({from_path!r})")
    return value


def _text(
    value: object, path: str, limit: int, problems: _Problems, *, required: bool = False
) -> str | None:
    if value is None:
        if required:
            problems.add(path, "required", "is required (a non-empty string)")
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        problems.add(path, "string", f"must be a non-empty string of at most {limit} characters")
        return None
    return value


def _owner(value: object, problems: _Problems) -> Owner | None:
    if not isinstance(value, Mapping):
        problems.add(
            "owner", "required", 'is required: {"kind": "learner"|"team"|"organisation", "id": ...}'
        )
        return None
    for name in sorted(set(value) - {"kind", "id"}):
        problems.add(f"owner.{name}", "unknown", f"unknown field {name!r}")
    kind, oid = value.get("kind"), value.get("id")
    if kind not in OWNER_KINDS:
        problems.add("owner.kind", "enum", f"must be one of {', '.join(OWNER_KINDS)}")
        return None
    if kind == "organisation":
        if oid is not None:
            problems.add("owner.id", "forbidden", "an organisation goal has no owner id")
        return Owner("organisation")
    if not isinstance(oid, str) or not oid or len(oid) > MAX_ID or _CONTROL.search(oid):
        problems.add("owner.id", "required", f"a {kind} goal needs the {kind} id (a string)")
        return None
    return Owner(kind, oid)


def _date(value: object, path: str, problems: _Problems) -> date | None:
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    problems.add(path, "date", "must be a calendar date YYYY-MM-DD (UTC)")
    return None


def _period(start: date | None, due: date | None, recurrence: object, problems: _Problems) -> None:
    if recurrence is not None and recurrence not in RECURRENCES:
        problems.add("recurrence", "enum", f"must be one of {', '.join(RECURRENCES)}")
    if recurrence is None and due is None:
        problems.add("achievedByDate", "required", "is required unless the goal has a recurrence")
    if start is not None and due is not None and due < start:
        problems.add("achievedByDate", "order", "must not be before startDate")


def _targets(
    value: object,
    owner: Owner | None,
    start: date | None,
    due: date | None,
    recurrence: object,
    problems: _Problems,
) -> list[Target]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_TARGETS:
        problems.add("targets", "size", f"must be a list of 1 to {MAX_TARGETS} targets")
        return []
    group = owner is not None and owner.kind != "learner"
    allowed = GROUP_TARGET_KINDS if group else LEARNER_TARGET_KINDS
    days = _period_days(start, due, recurrence)
    parsed = [
        _target(item, f"targets[{i}]", allowed, days, problems) for i, item in enumerate(value)
    ]
    return [t for t in parsed if t is not None]


def _period_days(start: date | None, due: date | None, recurrence: object) -> int:
    if recurrence in RECURRENCES:
        assert isinstance(recurrence, str)
        return shortest_period_days(recurrence)
    if start is not None and due is not None and due >= start:
        return (due - start).days + 1
    return 366


def _target(
    item: object, path: str, allowed: tuple[str, ...], days: int, problems: _Problems
) -> Target | None:
    if not isinstance(item, Mapping):
        problems.add(path, "type", "must be a JSON object with a `kind`")
        return None
    kind = item.get("kind")
    if kind not in allowed:
        owner = "a learner goal" if "members" not in allowed else "a team or organisation goal"
        problems.add(f"{path}.kind", "enum", f"for {owner} must be one of {', '.join(allowed)}")
        return None
    for name in sorted(set(item) - _TARGET_FIELDS[str(kind)]):
        problems.add(f"{path}.{name}", "unknown", f"unknown field {name!r} for a {kind} target")
    before = len(problems.issues)
    target = _TARGET_READERS[str(kind)](item, path, days, problems)
    return target if len(problems.issues) == before else None


def _complete(item: Mapping[str, Any], path: str, days: int, problems: _Problems) -> Target:
    activities = item.get("activities")
    if (
        not isinstance(activities, list)
        or not 1 <= len(activities) <= MAX_ACTIVITIES
        or not all(_is_iri(a) for a in activities)
    ):
        problems.add(
            f"{path}.activities",
            "iris",
            f"must be a list of 1 to {MAX_ACTIVITIES} activity IRIs",
        )
        activities = []
    require = item.get("require", "completed")
    if require not in ("completed", "passed"):
        problems.add(f"{path}.require", "enum", "must be completed or passed")
        require = "completed"
    return Target("complete", activities=tuple(dict.fromkeys(activities)), require=require)


def _score(item: Mapping[str, Any], path: str, days: int, problems: _Problems) -> Target:
    activity = item.get("activity")
    if not _is_iri(activity):
        problems.add(f"{path}.activity", "iri", "must be an activity IRI")
    score = item.get("score")
    if not _number(score) or not 0 < float(score) <= 1:
        problems.add(f"{path}.score", "range", "must be a scaled score above 0 and at most 1")
        score = None
    return Target(
        "score", activity=activity if isinstance(activity, str) else None, score=_float(score)
    )


def _learning_days(item: Mapping[str, Any], path: str, days: int, problems: _Problems) -> Target:
    per = item.get("per", "period")
    if per not in ("week", "period"):
        problems.add(f"{path}.per", "enum", "must be week or period")
        per = "period"
    most = 7 if per == "week" else days
    count = item.get("days")
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= most:
        rule = f"must be a whole number from 1 to {most} (per {per})"
        problems.add(f"{path}.days", "range", rule)
        count = None
    return Target("learning_days", days=count, per=per)


def _minutes(item: Mapping[str, Any], path: str, days: int, problems: _Problems) -> Target:
    minutes = item.get("minutes")
    if not _number(minutes) or not 0 < float(minutes) <= MAX_MINUTES:
        problems.add(f"{path}.minutes", "range", f"must be a number above 0, at most {MAX_MINUTES}")
        minutes = None
    return Target("minutes", minutes=_float(minutes))


def _members(item: Mapping[str, Any], path: str, days: int, problems: _Problems) -> Target:
    share = item.get("share")
    if not _number(share) or not 0 < float(share) <= 1:
        problems.add(f"{path}.share", "range", "must be a share of members above 0, at most 1")
        share = None
    of = _target(item.get("of"), f"{path}.of", LEARNER_TARGET_KINDS, days, problems)
    return Target("members", share=_float(share), of=of)


_TARGET_READERS = {
    "complete": _complete,
    "score": _score,
    "learning_days": _learning_days,
    "minutes": _minutes,
    "members": _members,
}


def _is_iri(value: object) -> bool:
    """An absolute IRI, loosely: a scheme, a colon, no whitespace or control characters."""
    return (
        isinstance(value, str)
        and 0 < len(value) <= MAX_IRI
        and re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:\S+$", value) is not None
    )


def _number(value: object) -> TypeGuard[int | float]:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _float(value: object) -> float | None:
    return float(value) if _number(value) else None
