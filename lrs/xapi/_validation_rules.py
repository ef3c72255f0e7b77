"""Rules of the xAPI statement data model that a JSON Schema cannot express.

They run only on statements the schema already accepted, so shapes are known; every access is
still guarded so odd input can never raise anything but an ``Issue``.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from typing import Any

from lrs.xapi._validation_schema import json_path
from lrs.xapi.errors import Issue

_COMPONENT_LISTS = ("choices", "scale", "source", "target", "steps")
_CONTEXT_ACTIVITY_KEYS = ("parent", "grouping", "category", "other")


def rule_issues(stmt: dict[str, Any], prefix: str) -> list[Issue]:
    """Issues of the extra rules on a schema-valid statement (and its SubStatement)."""
    issues: list[Issue] = []
    stored = stmt.get("stored")
    if isinstance(stored, str):
        issues.extend(check_timestamp(stored, f"{prefix}.stored"))
    issues.extend(_statement_like(stmt, prefix))
    obj = stmt.get("object")
    if isinstance(obj, dict) and obj.get("objectType") == "SubStatement":
        issues.extend(_statement_like(obj, f"{prefix}.object"))
    return issues


def _statement_like(stmt: dict[str, Any], base: str) -> Iterator[Issue]:
    timestamp = stmt.get("timestamp")
    if isinstance(timestamp, str):
        yield from check_timestamp(timestamp, f"{base}.timestamp")
    verb = stmt.get("verb")
    if isinstance(verb, dict):
        yield from check_language_map(verb.get("display"), f"{base}.verb.display")
    result = stmt.get("result")
    if isinstance(result, dict):
        yield from check_score(result.get("score"), f"{base}.result.score")
    for activity, path in _activities(stmt, base):
        yield from check_activity(activity, path)
    context = stmt.get("context")
    if isinstance(context, dict):
        yield from _check_context_language(context.get("language"), f"{base}.context.language")
    yield from _check_attachments(stmt.get("attachments"), f"{base}.attachments")


def _activities(stmt: dict[str, Any], base: str) -> Iterator[tuple[dict[str, Any], str]]:
    """Every Activity of the statement: its object and its context activities."""
    obj = stmt.get("object")
    if isinstance(obj, dict) and obj.get("objectType", "Activity") == "Activity":
        yield obj, f"{base}.object"
    context = stmt.get("context")
    groups = context.get("contextActivities") if isinstance(context, dict) else None
    if not isinstance(groups, dict):
        return
    for key in _CONTEXT_ACTIVITY_KEYS:
        value = groups.get(key)
        path = f"{base}.context.contextActivities.{key}"
        if isinstance(value, dict):
            yield value, path
        elif isinstance(value, list):
            for i, item in enumerate(value):
                if isinstance(item, dict):
                    yield item, f"{path}[{i}]"


def check_timestamp(value: str, path: str) -> Iterator[Issue]:
    """xAPI Data 4.5: a Timestamp MUST be a real ISO 8601 date-time (no 30 February)."""
    if len(value) < 8:
        return
    if value[4] == "-":
        year, month, day = value[0:4], value[5:7], value[8:10]
    else:
        year, month, day = value[0:4], value[4:6], value[6:8]
    if not (year.isdigit() and month.isdigit() and day.isdigit()):
        return
    y, m, d = int(year), int(month), int(day)
    if 1 <= m <= 12 and d > calendar.monthrange(y, m)[1]:
        yield Issue(path, "timestamp-format", "is not a real calendar date (xAPI Data 4.5)")


def check_score(score: object, path: str) -> Iterator[Issue]:
    """xAPI Data 2.4.5.1: min < max, and raw between min and max (inclusive)."""
    if not isinstance(score, dict):
        return
    raw, low, high = _num(score.get("raw")), _num(score.get("min")), _num(score.get("max"))
    if low is not None and high is not None and low >= high:
        yield Issue(
            f"{path}.min", "score-min-below-max", "min must be less than max (xAPI Data 2.4.5.1)"
        )
    if raw is not None and low is not None and raw < low:
        yield Issue(
            f"{path}.raw",
            "score-raw-within-range",
            "raw must not be less than min (xAPI Data 2.4.5.1)",
        )
    if raw is not None and high is not None and raw > high:
        yield Issue(
            f"{path}.raw",
            "score-raw-within-range",
            "raw must not be greater than max (xAPI Data 2.4.5.1)",
        )


def _num(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def check_activity(activity: dict[str, Any], path: str) -> Iterator[Issue]:
    """Language maps of a definition, and distinct interaction component ids (Data 2.4.4.1)."""
    definition = activity.get("definition")
    if not isinstance(definition, dict):
        return
    base = f"{path}.definition"
    yield from check_language_map(definition.get("name"), f"{base}.name")
    yield from check_language_map(definition.get("description"), f"{base}.description")
    for key in _COMPONENT_LISTS:
        components = definition.get(key)
        if isinstance(components, list):
            yield from _check_components(components, f"{base}.{key}")


def _check_components(components: list[Any], path: str) -> Iterator[Issue]:
    """xAPI Data 2.4.4.1 (Interaction Components): ids within one list MUST be distinct."""
    seen: set[str] = set()
    for i, component in enumerate(components):
        if not isinstance(component, dict):
            continue
        cid = component.get("id")
        if isinstance(cid, str):
            if cid in seen:
                yield Issue(
                    f"{path}[{i}].id",
                    "interaction-component-ids-unique",
                    "interaction component ids must be distinct within a list (xAPI Data 2.4.4.1)",
                )
            seen.add(cid)
        yield from check_language_map(component.get("description"), f"{path}[{i}].description")


def _check_attachments(attachments: object, path: str) -> Iterator[Issue]:
    if not isinstance(attachments, list):
        return
    for i, item in enumerate(attachments):
        if isinstance(item, dict):
            yield from check_language_map(item.get("display"), f"{path}[{i}].display")
            yield from check_language_map(item.get("description"), f"{path}[{i}].description")


def _check_context_language(tag: object, path: str) -> Iterator[Issue]:
    if isinstance(tag, str) and has_repeated_subtags(tag):
        yield Issue(
            path,
            "language-tag",
            "must be a valid RFC 5646 language tag (no repeated variant or "
            "extension singleton) (xAPI Data 2.4.6)",
        )


def check_language_map(value: object, path: str) -> Iterator[Issue]:
    """xAPI Data 4.2: keys MUST be valid RFC 5646 tags (the schema checks their shape)."""
    if not isinstance(value, dict):
        return
    for key in value:
        if isinstance(key, str) and has_repeated_subtags(key):
            yield Issue(
                json_path(path, [key]),
                "language-map-keys",
                "language map keys must be valid RFC 5646 tags (no repeated variant "
                "or extension singleton) (xAPI Data 4.2)",
            )


def has_repeated_subtags(tag: str) -> bool:
    """RFC 5646 2.2.5/2.2.6: a variant or an extension singleton may occur only once."""
    parts = tag.lower().split("-")
    if len(parts) < 3 or len(parts) == len(set(parts)):
        return False
    seen_variants: set[str] = set()
    seen_singletons: set[str] = set()
    in_extension = False
    for part in parts[1:]:
        if part == "x":
            return False
        if len(part) == 1:
            if part in seen_singletons:
                return True
            seen_singletons.add(part)
            in_extension = True
        elif not in_extension and _is_variant(part):
            if part in seen_variants:
                return True
            seen_variants.add(part)
    return False


def _is_variant(part: str) -> bool:
    return 5 <= len(part) <= 8 or (len(part) == 4 and part[0].isdigit())
