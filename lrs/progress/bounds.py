"""Published progress values that always fit in one broker record.

A learner's summary lists every activity they touched (and every parent and grouping it rolled
up to) and every team they are in; a team's lists every activity of its members. Both grow
without bound, while a broker takes records of about 1 MB (Apache Kafka's default). The stored
summaries (and the progress API's answers) keep everything; a published value larger than the
limit is cut down by one rule (docs/decisions/0006):

1. the `activities` list keeps the entries that fit, in order of preference: for a learner the
   most recently active first (`last_activity_at`, then activity id), for a team the most
   started first (`started`, then activity id); the kept ones stay sorted by activity id;
2. only if the value still does not fit with no activity listed, the learner's `team_names`
   (display names only) are left out, and if it still does not fit, the `teams` list keeps its
   first ones (sorted by id) that fit.

Every other field (totals, counts, scores) still describes the whole: for a learner,
`totals.activities_started - len(activities)` activities are left out. `Omitted` says how many
of each list were dropped (the consumers put it in record headers). A value that cannot fit
even with both lists empty (not possible within the identifier limits) is returned as is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

Value = Mapping[str, Any]
# The default of LRS_PROGRESS_MAX_VALUE_BYTES (lrs/settings.py): below the broker's default record
# limit (about 1 MB), leaving room for the key and headers.
DEFAULT_MAX_VALUE_BYTES = 900 * 1024


@dataclass(frozen=True)
class Omitted:
    """How many entries of each list a bounded value leaves out."""

    activities: int = 0
    teams: int = 0

    def __bool__(self) -> bool:
        return bool(self.activities or self.teams)


def encoded_size(value: object) -> int:
    """Bytes of the compact JSON the consumers publish (orjson, as `lrs.codec` writes it)."""
    return len(orjson.dumps(value))


def bound_learner_value(value: Value, max_bytes: int) -> tuple[dict[str, Any], Omitted]:
    """`value` (a learner-progress value) cut down to `max_bytes` by the module's rule."""
    return _bound(value, max_bytes, _recent_first, cut_teams=True)


def bound_team_value(value: Value, max_bytes: int) -> tuple[dict[str, Any], Omitted]:
    """`value` (a team-progress value) cut down to `max_bytes` by the module's rule."""
    return _bound(value, max_bytes, _most_started_first, cut_teams=False)


Ranking = Callable[[Sequence[Mapping[str, Any]]], list[Mapping[str, Any]]]


def _bound(
    value: Value, max_bytes: int, rank: Ranking, *, cut_teams: bool
) -> tuple[dict[str, Any], Omitted]:
    bounded = dict(value)
    if encoded_size(bounded) <= max_bytes:
        return bounded, Omitted()
    activities = list(value.get("activities") or ())
    ranked = rank(activities)
    kept = _prefix_that_fits({**bounded, "activities": []}, "activities", ranked, max_bytes)
    bounded["activities"] = sorted(kept, key=lambda a: str(a["activity"]))
    omitted = Omitted(activities=len(activities) - len(kept))
    if kept or not cut_teams or encoded_size(bounded) <= max_bytes:
        return bounded, omitted
    bounded.pop("team_names", None)
    if encoded_size(bounded) <= max_bytes:
        return bounded, omitted
    teams = list(value.get("teams") or ())
    bounded["teams"] = _prefix_that_fits({**bounded, "teams": []}, "teams", teams, max_bytes)
    return bounded, Omitted(omitted.activities, len(teams) - len(bounded["teams"]))


def _prefix_that_fits(base: Value, field: str, items: Sequence[Any], max_bytes: int) -> list[Any]:
    """The longest prefix of `items` that, as `base[field]`, keeps the value within
    `max_bytes`. Compact JSON lists are `[a,b,...]`: each item adds its own size and a comma."""
    room = max_bytes - encoded_size(base)  # `base` already holds the empty list `[]`
    kept: list[Any] = []
    for item in items:
        cost = encoded_size(item) + (1 if kept else 0)
        if cost > room:
            break
        kept.append(item)
        room -= cost
    return kept


def _recent_first(activities: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Latest `last_activity_at` first (ISO UTC strings sort by time), ties by activity id
    (sorting is stable, also in reverse)."""
    by_id = sorted(activities, key=lambda a: str(a["activity"]))
    return sorted(by_id, key=lambda a: str(a.get("last_activity_at") or ""), reverse=True)


def _most_started_first(rows: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return sorted(rows, key=lambda r: (-int(r.get("started") or 0), str(r["activity"])))
