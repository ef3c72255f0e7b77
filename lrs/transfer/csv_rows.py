"""The flat CSV projection of a statement (docs/import-export.md lists the columns).

Pure: a statement in, one row of strings out. Lists (context activities) are joined with a
space, which no IRI contains. Free-text columns (names, displays) that a spreadsheet would run
as a formula get a leading apostrophe; identifiers and numbers are written as stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lrs.xapi.ifi import actor_ifi

COLUMNS = (
    "id",
    "stored",
    "timestamp",
    "voided",
    "actor_ifi",
    "actor_name",
    "verb_id",
    "verb_display",
    "object_type",
    "object_id",
    "object_name",
    "result_score_scaled",
    "result_success",
    "result_completion",
    "result_duration",
    "context_registration",
    "context_team",
    "context_instructor",
    "context_parent_ids",
    "context_grouping_ids",
    "authority",
)
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_row(statement: Mapping[str, Any], voided: bool = False) -> list[str]:
    """The statement's values in the order of COLUMNS."""
    actor = _map(statement.get("actor"))
    verb = _map(statement.get("verb"))
    result = _map(statement.get("result"))
    context = _map(statement.get("context"))
    activities = _map(context.get("contextActivities"))
    object_type, object_id, object_name = _object_columns(_map(statement.get("object")))
    return [
        _text(statement.get("id")),
        _text(statement.get("stored")),
        _text(statement.get("timestamp")),
        "true" if voided else "false",
        _who(actor),
        _free_text(actor.get("name")),
        _text(verb.get("id")),
        _free_text(_pick_language(verb.get("display"))),
        object_type,
        object_id,
        _free_text(object_name),
        _text(_map(result.get("score")).get("scaled")),
        _text(result.get("success")),
        _text(result.get("completion")),
        _text(result.get("duration")),
        _text(context.get("registration")),
        _who(_map(context.get("team"))),
        _who(_map(context.get("instructor"))),
        _ids(activities.get("parent")),
        _ids(activities.get("grouping")),
        _who(_map(statement.get("authority"))),
    ]


def _object_columns(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    kind = _text(obj.get("objectType")) or "Activity"
    if kind in ("Agent", "Group"):
        return kind, _who(obj), _text(obj.get("name"))
    if kind == "SubStatement":
        return kind, "", ""
    name = _pick_language(_map(obj.get("definition")).get("name"))
    return kind, _text(obj.get("id")), name


def _who(agent: Mapping[str, Any]) -> str:
    """An Agent's or Group's identifier (`lrs.xapi.ifi`), empty when there is none."""
    return actor_ifi(agent) if agent else ""


def _ids(activities: Any) -> str:
    if isinstance(activities, Mapping):
        activities = [activities]
    if not isinstance(activities, list):
        return ""
    return " ".join(_text(a.get("id")) for a in activities if isinstance(a, Mapping))


def _pick_language(language_map: Any) -> str:
    """en-US, else en, else the first entry of a language map."""
    if not isinstance(language_map, Mapping) or not language_map:
        return ""
    for tag in ("en-US", "en"):
        if tag in language_map:
            return _text(language_map[tag])
    return _text(next(iter(language_map.values())))


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _free_text(value: Any) -> str:
    text = _text(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
