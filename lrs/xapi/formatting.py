"""Statement formats of GET Statements (xAPI 1.0.3 Communication 2.1.3, `format` parameter).

- `exact`: Agent, Activity, Verb and Group Objects exactly as received.
- `ids`: only the minimum needed to identify Agents, Groups, Activities and Verbs; for
  Anonymous Groups, the minimum needed to identify each member.
- `canonical`: Activity Objects and Verbs with one language per language map, chosen with the
  request's Accept-Language "applied to each language map individually" (Communication
  2.1.3 "Language Filtering Requirements for Canonical Format Statements"); Agents and Groups
  as in `exact`.

In every format a single Activity under `contextActivities` is returned as an array of one
(Data 2.4.6.2: the LRS MUST return every contextActivities value as an array).

The functions are pure: the input statement is never changed and the result shares no
mutable value with it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = ["FORMATS", "format_statement", "parse_accept_language"]

FORMATS = frozenset({"exact", "ids", "canonical"})

IFI_KEYS = ("mbox", "mbox_sha1sum", "openid", "account")
_INTERACTION_COMPONENTS = ("choices", "scale", "source", "target", "steps")

_LANGUAGE_RANGE = re.compile(r"^(?:\*|[A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*)$")
_QVALUE = re.compile(r"^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$")

Transform = Callable[[Any], Any]

_SCALARS = frozenset({str, int, float, bool, type(None)})


def format_statement(
    statement: Mapping[str, Any], fmt: str, languages: Sequence[str]
) -> dict[str, Any]:
    """The statement in format `fmt` ("exact", "ids" or "canonical"); input left unchanged.

    `languages` is the request's Accept-Language list, best first (see
    `parse_accept_language`); only `canonical` uses it.
    """
    if fmt == "ids":
        return _statement(statement, _IdsRules())
    if fmt == "canonical":
        return _statement(statement, _CanonicalRules(_LanguagePicker(languages)))
    if fmt == "exact":
        return _statement(statement, _ExactRules())
    raise ValueError(f"unknown statement format {fmt!r}; expected one of {sorted(FORMATS)}")


def parse_accept_language(header: str | None) -> list[str]:
    """Language ranges of an Accept-Language header (RFC 2616 14.4), best first.

    Ordered by q-value, ties kept in header order; ranges with q=0 (not acceptable) and
    malformed parts are dropped; duplicates (ignoring case) keep their first place; "*" goes
    last whatever its q.
    """
    if not header:
        return []
    weighted: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")):
        parsed = _parse_range(part)
        if parsed is not None and parsed[1] > 0:
            weighted.append((-parsed[1], position, parsed[0]))
    ranges: list[str] = []
    seen: set[str] = set()
    for _, _, tag in sorted(weighted):
        if tag.lower() not in seen:
            seen.add(tag.lower())
            ranges.append(tag)
    if "*" in seen:
        ranges.remove("*")
        ranges.append("*")
    return ranges


def _parse_range(part: str) -> tuple[str, float] | None:
    """`tag;q=0.5` -> (tag, 0.5); None when the tag or a parameter is malformed."""
    tag, *params = (piece.strip() for piece in part.split(";"))
    if not _LANGUAGE_RANGE.match(tag):
        return None
    quality = 1.0
    for param in params:
        name, equals, value = param.partition("=")
        if name.strip().lower() != "q" or not equals or not _QVALUE.match(value.strip()):
            return None
        quality = float(value)
    return tag, quality


# -- language choice --------------------------------------------------------------------------


class _LanguagePicker:
    """Chooses one entry of a language map for an Accept-Language list.

    Each "probe" is a lower-case tag that a key either equals or extends ("en" -> "en-US").
    For each range, best first: the key equal to it, then a key it is a prefix of (RFC 2616
    14.4, cited by Communication 2.1.3), then a key equal to a shorter prefix of the range
    (RFC 4647 3.4 "lookup": "en-GB" accepts "en"). Failing all ranges, a key extending a
    shorter prefix ("en-GB" accepts "en-AU"). Otherwise, and for "*", the map's first entry.
    Tags compare case-insensitively (RFC 5646 2.1.1).
    """

    __slots__ = ("_probes",)

    def __init__(self, languages: Sequence[str]) -> None:
        ranges = [tag for tag in (item.strip().lower() for item in languages) if tag != "*"]
        probes: list[tuple[str, bool]] = []
        for tag in ranges:
            probes += [(tag, False), (tag, True)]
            probes += [(parent, False) for parent in _parents(tag)]
        for tag in ranges:
            probes += [(parent, True) for parent in _parents(tag)]
        self._probes = list(dict.fromkeys(probe for probe in probes if probe[0]))

    def pick(self, language_map: Any) -> Any:
        if not isinstance(language_map, Mapping) or len(language_map) <= 1:
            return _copy(language_map)
        key = self._choose(list(language_map))
        return {key: _copy(language_map[key])}

    def _choose(self, keys: list[str]) -> str:
        lowered = [str(key).lower() for key in keys]
        for probe, extends in self._probes:
            if not extends:
                if probe in lowered:
                    return keys[lowered.index(probe)]
                continue
            prefix = probe + "-"
            for index, candidate in enumerate(lowered):
                if candidate.startswith(prefix):
                    return keys[index]
        return keys[0]


def _parents(tag: str) -> list[str]:
    """Shorter prefixes of a language tag, longest first: "zh-hant-tw" -> zh-hant, zh."""
    parents = []
    while "-" in tag:
        tag = tag.rpartition("-")[0]
        parents.append(tag)
    return parents


# -- per-format rules -------------------------------------------------------------------------


class _ExactRules:
    """Everything as received (copied)."""

    def actor(self, value: Any) -> Any:
        return _copy(value)

    def verb(self, value: Any) -> Any:
        return _copy(value)

    def activity(self, value: Any) -> Any:
        return _copy(value)

    def attachments(self, value: Any) -> Any:
        return _copy(value)


class _IdsRules(_ExactRules):
    """Identifiers only (Communication 2.1.3 `ids`)."""

    def actor(self, value: Any) -> Any:
        """objectType and IFI; an Anonymous Group keeps its members, each reduced likewise."""
        if not isinstance(value, Mapping):
            return _copy(value)
        out = {key: _copy(value[key]) for key in ("objectType", *IFI_KEYS) if key in value}
        members = value.get("member")
        if isinstance(members, list) and not any(key in value for key in IFI_KEYS):
            out["member"] = [self.actor(member) for member in members]
        return out

    def verb(self, value: Any) -> Any:
        return {"id": value["id"]} if isinstance(value, Mapping) and "id" in value else _copy(value)

    def activity(self, value: Any) -> Any:
        """Only `id`: the ADL conformance suite (XAPI-00171) expects exactly one property."""
        if isinstance(value, Mapping) and "id" in value:
            return {"id": value["id"]}
        return _copy(value)


class _CanonicalRules(_ExactRules):
    """One language per language map (Communication 2.1.3 `canonical`)."""

    def __init__(self, picker: _LanguagePicker) -> None:
        self._pick = picker.pick

    def verb(self, value: Any) -> Any:
        return _with_maps(value, ("display",), self._pick)

    def activity(self, value: Any) -> Any:
        if not isinstance(value, Mapping) or not isinstance(value.get("definition"), Mapping):
            return _copy(value)
        out = {key: _copy(item) for key, item in value.items() if key != "definition"}
        out["definition"] = self._definition(value["definition"])
        return out

    def attachments(self, value: Any) -> Any:
        if not isinstance(value, list):
            return _copy(value)
        return [_with_maps(item, ("display", "description"), self._pick) for item in value]

    def _definition(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        out = _with_maps(definition, ("name", "description"), self._pick)
        for key in _INTERACTION_COMPONENTS:
            components = definition.get(key)
            if isinstance(components, list):
                out[key] = [_with_maps(c, ("description",), self._pick) for c in components]
        return dict(out)


_Rules = _ExactRules


# -- statement walk ---------------------------------------------------------------------------


def _statement(statement: Mapping[str, Any], rules: _Rules) -> dict[str, Any]:
    """A Statement: authority and attachments formatted besides what a SubStatement has."""
    handlers: dict[str, Transform] = {
        **_substatement_handlers(rules),
        "authority": rules.actor,
        "attachments": rules.attachments,
    }
    return _apply(statement, handlers)


def _substatement(statement: Mapping[str, Any], rules: _Rules) -> dict[str, Any]:
    return _apply(statement, _substatement_handlers(rules))


def _substatement_handlers(rules: _Rules) -> dict[str, Transform]:
    return {
        "actor": rules.actor,
        "verb": rules.verb,
        "object": lambda value: _object(value, rules),
        "context": lambda value: _context(value, rules),
    }


def _apply(value: Mapping[str, Any], handlers: Mapping[str, Transform]) -> dict[str, Any]:
    """A copy of an object whose properties named in `handlers` are transformed by them."""
    return {key: handlers.get(key, _copy)(item) for key, item in value.items()}


def _object(value: Any, rules: _Rules) -> Any:
    if not isinstance(value, Mapping):
        return _copy(value)
    kind = value.get("objectType", "Activity")
    if kind in ("Agent", "Group"):
        return rules.actor(value)
    if kind == "SubStatement":
        return _substatement(value, rules)
    if kind == "Activity":
        return rules.activity(value)
    return _copy(value)


def _context(context: Any, rules: _Rules) -> Any:
    if not isinstance(context, Mapping):
        return _copy(context)
    handlers: dict[str, Transform] = {
        "instructor": rules.actor,
        "team": rules.actor,
        "contextActivities": lambda value: _context_activities(value, rules),
        "contextAgents": lambda value: _wrapped_actors(value, "agent", rules),
        "contextGroups": lambda value: _wrapped_actors(value, "group", rules),
    }
    return _apply(context, handlers)


def _context_activities(activities: Any, rules: _Rules) -> Any:
    """Each value as a list (Data 2.4.6.2), its Activities formatted."""
    if not isinstance(activities, Mapping):
        return _copy(activities)
    out: dict[str, Any] = {}
    for key, value in activities.items():
        items = [value] if isinstance(value, Mapping) else value
        out[key] = [rules.activity(item) for item in items] if isinstance(items, list) else value
    return out


def _wrapped_actors(items: Any, key: str, rules: _Rules) -> Any:
    """2.0 contextAgents/contextGroups: each item's `agent`/`group` formatted."""
    if not isinstance(items, list):
        return _copy(items)
    handlers = {key: rules.actor}
    return [_apply(item, handlers) if isinstance(item, Mapping) else item for item in items]


def _with_maps(value: Any, keys: Sequence[str], pick: Transform) -> Any:
    """A copy of an object with the language maps under `keys` reduced by `pick`."""
    if not isinstance(value, Mapping):
        return _copy(value)
    return {key: pick(item) if key in keys else _copy(item) for key, item in value.items()}


def _copy(value: Any) -> Any:
    """A deep copy of a JSON value (much faster than copy.deepcopy)."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {key: _copy(item) for key, item in value.items()}
    if kind is list:
        return [_copy(item) for item in value]
    return value
