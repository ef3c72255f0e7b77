"""What one statement contributes to progress: a small, JSON-storable record per statement id.

A learner's progress state is the set of these facts (see `model.py`); every figure of the
summary is derived from that set, so re-applying a statement or receiving statements in another
order cannot change the result.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lrs.progress.durations import duration_seconds
from lrs.progress.names import activity_name, person_name
from lrs.progress.verbs import VOIDED, VerbClass, classify_verb
from lrs.xapi.ifi import actor_ifi
from lrs.xapi.timefmt import format_timestamp, parse_timestamp

# Data 2.4.6.2: `parent` is the direct parent (a module's course), `grouping` an indirect one
# (the programme or curriculum). Both receive roll-up; `category` and `other` are tags, not
# containers, and do not.
ROLL_UP_KINDS = ("parent", "grouping")


@dataclass(frozen=True, slots=True)
class StatementFacts:
    """The facts of one statement that progress needs.

    `at` is the statement timestamp in UTC with millisecond precision (the LRS form, so that
    string order is time order); `duration` is in seconds; `score` is the scaled score.
    `completion` and `success` are the statement's raw `result` values. The display names the
    statement gave (lrs.progress.names) are kept beside the identifiers: the actor's, those of
    its activities (object, parents, groupings) and of its teams, as sorted (id, name) pairs.
    """

    id: str
    verb: VerbClass
    at: str
    activity: str | None = None
    parents: tuple[str, ...] = ()
    duration: float | None = None
    score: float | None = None
    completion: bool | None = None
    success: bool | None = None
    teams: tuple[str, ...] = ()
    actor_name: str | None = None
    activity_names: tuple[tuple[str, str], ...] = ()
    team_names: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON form, without the id (the id is the key) and without empty fields."""
        doc: dict[str, Any] = {"verb": self.verb.value, "at": self.at}
        optional: dict[str, Any] = {
            "activity": self.activity,
            "parents": list(self.parents) or None,
            "duration": self.duration,
            "score": self.score,
            "completion": self.completion,
            "success": self.success,
            "teams": list(self.teams) or None,
            "actor_name": self.actor_name,
            "activity_names": dict(self.activity_names) or None,
            "team_names": dict(self.team_names) or None,
        }
        doc.update({key: value for key, value in optional.items() if value is not None})
        return doc

    @classmethod
    def from_dict(cls, statement_id: str, doc: Mapping[str, Any]) -> StatementFacts:
        return cls(
            id=statement_id,
            verb=VerbClass(doc["verb"]),
            at=str(doc["at"]),
            activity=doc.get("activity"),
            parents=tuple(doc.get("parents") or ()),
            duration=doc.get("duration"),
            score=doc.get("score"),
            completion=doc.get("completion"),
            success=doc.get("success"),
            teams=tuple(doc.get("teams") or ()),
            actor_name=doc.get("actor_name"),
            activity_names=_pairs(doc.get("activity_names")),
            team_names=_pairs(doc.get("team_names")),
        )

    def sort_key(self) -> tuple[str, str]:
        """Time order with the statement id as tie-break: the one order summaries use."""
        return (self.at, self.id)


def voided_target(statement: Mapping[str, Any]) -> str | None:
    """The id a voiding statement voids (Data 2.3.2: verb `voided`, object a StatementRef)."""
    verb_id = (statement.get("verb") or {}).get("id")
    obj = statement.get("object") or {}
    if verb_id != VOIDED or obj.get("objectType") != "StatementRef" or "id" not in obj:
        return None
    return str(obj["id"]).lower()


def learner_id(statement: Mapping[str, Any]) -> str:
    """The learner whose progress a statement feeds: the canonical identifier of its actor."""
    return actor_ifi(statement.get("actor") or {})


def facts_from_statement(statement: Mapping[str, Any]) -> StatementFacts | None:
    """The progress facts of an accepted statement, or None if it contributes nothing.

    Voiding statements contribute nothing themselves (they are handled by `model.void`), nor do
    statements without an id or a time. The time is `timestamp`, falling back to `stored`
    (Data 2.4.7/2.4.8: the LRS sets `timestamp` to `stored` when it is absent).
    """
    moment = statement.get("timestamp") or statement.get("stored")
    if voided_target(statement) is not None or not statement.get("id") or not moment:
        return None
    result = statement.get("result") or {}
    activity = _object_activity(statement.get("object") or {})
    return StatementFacts(
        id=str(statement["id"]).lower(),
        verb=classify_verb(str((statement.get("verb") or {}).get("id", ""))),
        at=format_timestamp(parse_timestamp(str(moment))),
        activity=activity,
        parents=tuple(sorted({p for p in _roll_up_activities(statement) if p != activity})),
        duration=_duration(result),
        score=scaled_score(result.get("score") or {}),
        completion=_optional_bool(result.get("completion")),
        success=_optional_bool(result.get("success")),
        teams=tuple(team_ids_from_statement(statement)),
        actor_name=person_name(statement.get("actor")),
        activity_names=_named(_activities_named(statement)),
        team_names=_named((actor_ifi(g), person_name(g)) for g in _team_groups(statement)),
    )


def team_ids_from_statement(statement: Mapping[str, Any]) -> list[str]:
    """Teams a statement places its actor in: `context.team` (Data 2.4.6) and xAPI 2.0
    `context.contextGroups[].group`, each identified like an actor: the group's IFI, or for an
    anonymous group the sorted IFIs of its members (`group:[...]`)."""
    return sorted({actor_ifi(group) for group in _team_groups(statement)})


def _team_groups(statement: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    context = statement.get("context") or {}
    groups: list[Any] = [context.get("team")] + [
        entry.get("group") for entry in context.get("contextGroups") or [] if _is_map(entry)
    ]
    return [g for g in groups if isinstance(g, Mapping) and _has_id(g)]


def scaled_score(score: Mapping[str, Any]) -> float | None:
    """Data 2.4.5.1 `scaled` (-1..1); when absent but `raw`, `min` and `max` are given, the
    position of `raw` between them (a percent-based reading of the same score)."""
    scaled = _number(score.get("scaled"))
    if scaled is not None:
        return scaled
    raw, low, high = (_number(score.get(key)) for key in ("raw", "min", "max"))
    if raw is None or low is None or high is None or high <= low:
        return None
    return round(min(1.0, max(-1.0, (raw - low) / (high - low))), 6)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _object_activity(obj: Mapping[str, Any]) -> str | None:
    """Data 2.4.4.1: the object is an Activity when `objectType` is absent or "Activity"."""
    if obj.get("objectType", "Activity") == "Activity" and obj.get("id"):
        return str(obj["id"])
    return None


def _roll_up_activities(statement: Mapping[str, Any]) -> Iterator[str]:
    for item in _roll_up_objects(statement):
        yield str(item["id"])


def _roll_up_objects(statement: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    context_activities = (statement.get("context") or {}).get("contextActivities") or {}
    for kind in ROLL_UP_KINDS:
        value = context_activities.get(kind)
        for item in value if isinstance(value, list) else [value] if value else []:
            if _is_map(item) and item.get("id"):
                yield item


def _activities_named(statement: Mapping[str, Any]) -> Iterator[tuple[str, str | None]]:
    """(id, display name) of the object Activity and of the roll-up activities."""
    obj = statement.get("object") or {}
    if _object_activity(obj) is not None:
        yield str(obj["id"]), activity_name(obj)
    for item in _roll_up_objects(statement):
        yield str(item["id"]), activity_name(item)


def _named(pairs: Iterable[tuple[str, str | None]]) -> tuple[tuple[str, str], ...]:
    """Sorted (id, name) pairs of those that have a name (the first name of an id wins)."""
    named: dict[str, str] = {}
    for key, name in pairs:
        if name is not None:
            named.setdefault(key, name)
    return tuple(sorted(named.items()))


def _pairs(stored: Any) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(stored.items())) if isinstance(stored, Mapping) else ()


def _duration(result: Mapping[str, Any]) -> float | None:
    text = result.get("duration")
    return duration_seconds(text) if isinstance(text, str) else None


def _optional_bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def _has_id(group: Mapping[str, Any]) -> bool:
    return bool(group.get("member")) or any(
        group.get(p) for p in ("mbox", "mbox_sha1sum", "openid", "account")
    )
