"""Statement comparison: is a re-sent (or signed) statement the same statement as another?

xAPI 1.0.3 Data 2.3.1 "Statement Comparison Requirements" (xAPI 2.0 keeps the same rules):

- differences which could have been caused by the exceptions to Statement Immutability
  MUST be ignored;
- differences in the serialization of any other property MUST NOT be ignored.

The exceptions (Data 2.3.1) and how they are applied here:

- properties the LRS assigns ("id", "authority", "stored", "timestamp", "version"):
  `stored`, `authority` and `version` are ignored; `id` and `timestamp` are compared only
  when both statements carry them (the LRS fills them in when they are absent), and a
  `timestamp` equal to the statement's own `stored` counts as LRS-assigned (Data 2.4.7);
- Activity Definitions are not part of the statement: an Activity's `definition` is ignored;
- a Verb's `display` is not part of the statement: it is ignored;
- timestamps are compared by the instant they denote (Data 2.4.7, 4.5: another time zone, or
  the value truncated or rounded to milliseconds, is the same timestamp);
- the `member` list of a Group is unordered (Data 2.4.2.2);
- attachments are "not part of Statements": their metadata is compared as an unordered list,
  and an empty list is the same as none;
- case: the domain part of an e-mail address (Data 2.4.2.3) and the `mailto` scheme (an IRI
  scheme, RFC 3987 5.3.2.1, allowed by Data 3.1), UUIDs (RFC 4122 section 3: case-insensitive
  on input) and language tags used as language-map keys (RFC 5646 2.1.1) ignore case;
  everything else, including other IRIs, is compared as an exact string (Data 3.1 permits
  simple string comparison).

Explicitly not exceptions: Result `duration` is compared as a string (Data 2.3.1), except that
precision beyond 0.01 s is not compared (Data 4.6; exercised by the 2.0 conformance suite).
Also: a single Activity in `contextActivities` equals a list holding that Activity (Data
2.4.6.2: the LRS MUST return it as an array), an absent `objectType` equals its default
("Agent" for actors, "Activity" for objects), and JSON `true` never equals `1`. An empty object
or list is *not* the same as an absent property (not an exception to immutability).

Signed statements (Data 2.6): the JWS payload MUST be the complete statement before the
signature was added, and the LRS MUST validate that it is logically equivalent to the received
statement by the same comparison requirements. `signature_equivalent` applies the rules above
and, in addition, disregards signature attachments (usageType
`http://adlnet.gov/expapi/attachments/signature`); other attachments are compared only when both
sides list some (the ADL conformance suite signs the statement with its attachments removed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lrs.xapi.timefmt import timestamp_micros

__all__ = ["SIGNATURE_USAGE_TYPE", "signature_equivalent", "statements_equivalent"]

SIGNATURE_USAGE_TYPE = "http://adlnet.gov/expapi/attachments/signature"

Eq = Callable[[Any, Any], bool]

_LRS_SET = frozenset({"stored", "authority", "version"})
_ONE_SIDED_OK = frozenset({"id"})
_DURATION_TAIL = re.compile(r"([.,]\d{2})\d+S$")


def statements_equivalent(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two statements are the same statement (Data 2.3.1 comparison requirements).

    Used when a statement arrives with an id the LRS already holds: equivalent means the
    request is a harmless re-send, otherwise it is a conflict (Communication 2.1.1/2.1.2).
    """
    if not _top_level_eq(a, b):
        return False
    return _attachments_eq(a.get("attachments") or [], b.get("attachments") or [])


def signature_equivalent(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether a JWS payload and a received statement are logically equivalent (Data 2.6).

    The rules of `statements_equivalent` apply; signature attachments are disregarded and
    the remaining attachments are compared only when both sides have some.
    """
    if not _top_level_eq(a, b):
        return False
    left = _without_signatures(a.get("attachments"))
    right = _without_signatures(b.get("attachments"))
    return not left or not right or _attachments_eq(left, right)


# -- generic -------------------------------------------------------------------------------


def _json_eq(a: Any, b: Any) -> bool:
    """Exact JSON equality, keeping `true`/`false` apart from `1`/`0` (Python's == does not)."""
    kind = type(a)
    if kind is str:
        return bool(a == b)
    if kind is bool or type(b) is bool:
        return a is b
    if kind is dict or isinstance(a, Mapping):
        return (
            isinstance(b, Mapping)
            and a.keys() == b.keys()
            and all(_json_eq(value, b[key]) for key, value in a.items())
        )
    if kind is list:
        return type(b) is list and len(a) == len(b) and all(map(_json_eq, a, b))
    if isinstance(b, Mapping | list):
        return False
    return bool(a == b)


def _is_map(value: Any) -> bool:
    return type(value) is dict or isinstance(value, Mapping)


def _fields_eq(
    a: Any,
    b: Any,
    rules: Mapping[str, Eq],
    skip: frozenset[str] = frozenset(),
    one_sided_ok: frozenset[str] = frozenset(),
) -> bool:
    """Compare two objects property by property: `rules` per key, exact JSON otherwise.

    Keys in `skip` are ignored; keys in `one_sided_ok` are compared only if both have them.
    """
    if not (_is_map(a) and _is_map(b)):
        return _json_eq(a, b)
    for key in a.keys() | b.keys():
        if key in skip:
            continue
        if key not in a or key not in b:
            if key in one_sided_ok:
                continue
            return False
        if not rules.get(key, _json_eq)(a[key], b[key]):
            return False
    return True


def _list_eq(item_eq: Eq) -> Eq:
    def eq(a: Any, b: Any) -> bool:
        if not (isinstance(a, list) and isinstance(b, list)):
            return _json_eq(a, b)
        return len(a) == len(b) and all(map(item_eq, a, b))

    return eq


def _object_type_eq(a: Mapping[str, Any], b: Mapping[str, Any], default: str) -> bool:
    return bool(a.get("objectType", default) == b.get("objectType", default))


def _canonical_key(value: Any) -> str:
    """A sort/multiset key for a normalized JSON value (json keeps `true` apart from `1`)."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


# -- case-insensitive values ----------------------------------------------------------------


def _uuid_eq(a: Any, b: Any) -> bool:
    """UUIDs are case-insensitive on input (RFC 4122 section 3)."""
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return _json_eq(a, b)


def _mbox_norm(mbox: Any) -> Any:
    """`mailto:` scheme and e-mail domain in lower case (Data 2.3.1, 2.4.2.3); local part kept."""
    if not isinstance(mbox, str) or ":" not in mbox:
        return mbox
    scheme, _, address = mbox.partition(":")
    local, at, domain = address.rpartition("@")
    if not at:
        return f"{scheme.lower()}:{address}"
    return f"{scheme.lower()}:{local}@{domain.lower()}"


def _language_map_norm(value: Any) -> Any:
    """Language tags are case-insensitive (RFC 5646 2.1.1): lower-case the keys."""
    if not isinstance(value, Mapping):
        return value
    return {str(key).lower(): text for key, text in value.items()}


# -- time ------------------------------------------------------------------------------------


def _instant_us(text: str) -> int | None:
    """Microseconds since the epoch denoted by an ISO 8601 timestamp (exact, whatever the year
    or offset; rules of `lrs.xapi.timefmt`)."""
    try:
        return timestamp_micros(text)
    except ValueError:
        return None


def _reduced_to_ms(precise: int, reduced: int) -> bool:
    """Whether `reduced` is `precise` truncated or rounded to milliseconds (Data 4.5)."""
    truncated = precise - precise % 1000
    return reduced in (truncated, truncated + 1000 if precise % 1000 >= 500 else truncated)


def _timestamp_eq(a: Any, b: Any) -> bool:
    """Same instant, whatever the offset or (millisecond-or-finer) precision (Data 2.3.1)."""
    if not (isinstance(a, str) and isinstance(b, str)):
        return _json_eq(a, b)
    if a == b:
        return True
    left, right = _instant_us(a), _instant_us(b)
    if left is None or right is None:
        return False
    return left == right or _reduced_to_ms(left, right) or _reduced_to_ms(right, left)


def _duration_eq(a: Any, b: Any) -> bool:
    """Durations are strings (Data 2.3.1), compared to 0.01 s precision (Data 4.6)."""
    if not (isinstance(a, str) and isinstance(b, str)):
        return _json_eq(a, b)
    return _DURATION_TAIL.sub(r"\1S", a) == _DURATION_TAIL.sub(r"\1S", b)


# -- agents and groups ----------------------------------------------------------------------


def _actor_norm(actor: Any) -> Any:
    """An Agent or Group with default objectType, normalized mbox and members in a set order."""
    if not isinstance(actor, Mapping):
        return actor
    out = dict(actor)
    out["objectType"] = actor.get("objectType", "Agent")
    if "mbox" in actor:
        out["mbox"] = _mbox_norm(actor["mbox"])
    members = actor.get("member")
    if isinstance(members, list):
        out["member"] = sorted((_actor_norm(m) for m in members), key=_canonical_key)
    return out


def _actor_eq(a: Any, b: Any) -> bool:
    """Agents/Groups (Data 2.4.2); Group members compare as an unordered list (Data 2.3.1)."""
    return _json_eq(_actor_norm(a), _actor_norm(b))


# -- verbs, objects --------------------------------------------------------------------------


def _verb_eq(a: Any, b: Any) -> bool:
    """Verb `display` is not part of the statement (Data 2.3.1)."""
    return _fields_eq(a, b, {}, skip=frozenset({"display"}))


def _activity_eq(a: Any, b: Any) -> bool:
    """Activity definitions are not part of the statement (Data 2.3.1): only `id` counts."""
    if not (_is_map(a) and _is_map(b)):
        return _json_eq(a, b)
    skip = frozenset({"definition", "objectType"})
    return _object_type_eq(a, b, "Activity") and _fields_eq(a, b, {}, skip=skip)


def _statement_ref_eq(a: Any, b: Any) -> bool:
    return _fields_eq(a, b, {"id": _uuid_eq})


def _substatement_eq(a: Any, b: Any) -> bool:
    return _fields_eq(a, b, _SUBSTATEMENT_RULES)


def _object_eq(a: Any, b: Any) -> bool:
    """A statement's object: Activity, Agent, Group, StatementRef or SubStatement."""
    if not (_is_map(a) and _is_map(b)):
        return _json_eq(a, b)
    if not _object_type_eq(a, b, "Activity"):
        return False
    kind = a.get("objectType", "Activity")
    if kind in ("Agent", "Group"):
        return _actor_eq(a, b)
    compare = {"StatementRef": _statement_ref_eq, "SubStatement": _substatement_eq}
    return compare.get(kind, _activity_eq)(a, b)


# -- result, context -----------------------------------------------------------------------


def _result_eq(a: Any, b: Any) -> bool:
    return _fields_eq(a, b, {"duration": _duration_eq})


def _as_list(value: Any) -> Any:
    """A single context Activity is the same as a list of one (Data 2.4.6.2)."""
    return [value] if isinstance(value, Mapping) else value


def _context_activities_eq(a: Any, b: Any) -> bool:
    if not (_is_map(a) and _is_map(b)):
        return _json_eq(a, b)
    activities = _list_eq(_activity_eq)
    return a.keys() == b.keys() and all(activities(_as_list(a[k]), _as_list(b[k])) for k in a)


def _context_rules() -> dict[str, Eq]:
    return {
        "registration": _uuid_eq,
        "instructor": _actor_eq,
        "team": _actor_eq,
        "contextActivities": _context_activities_eq,
        "statement": _statement_ref_eq,
        # xAPI 2.0 (9274.1.1 Data 2.4.6): contextAgents / contextGroups
        "contextAgents": _list_eq(lambda x, y: _fields_eq(x, y, {"agent": _actor_eq})),
        "contextGroups": _list_eq(lambda x, y: _fields_eq(x, y, {"group": _actor_eq})),
    }


_CONTEXT_RULES = _context_rules()


def _context_eq(a: Any, b: Any) -> bool:
    return _fields_eq(a, b, _CONTEXT_RULES)


_SUBSTATEMENT_RULES: dict[str, Eq] = {
    "actor": _actor_eq,
    "verb": _verb_eq,
    "object": _object_eq,
    "result": _result_eq,
    "context": _context_eq,
    "timestamp": _timestamp_eq,
}

_STATEMENT_RULES: dict[str, Eq] = {**_SUBSTATEMENT_RULES, "id": _uuid_eq}


# -- statement, attachments ------------------------------------------------------------------


def _top_level_eq(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Every statement property except attachments, under the Data 2.3.1 exceptions."""
    skip = _LRS_SET | {"attachments", "timestamp"}
    if not _fields_eq(a, b, _STATEMENT_RULES, skip=skip, one_sided_ok=_ONE_SIDED_OK):
        return False
    left, right = _client_timestamp(a), _client_timestamp(b)
    return left is None or right is None or _timestamp_eq(left, right)


def _client_timestamp(statement: Mapping[str, Any]) -> Any:
    """The timestamp unless absent or possibly set by the LRS.

    Data 2.4.7: the LRS SHOULD set an absent `timestamp` to the value of `stored`; a timestamp
    denoting the statement's own `stored` instant may be that assignment, so it is not compared.
    """
    timestamp = statement.get("timestamp")
    stored = statement.get("stored")
    if timestamp is None or (stored is not None and _timestamp_eq(timestamp, stored)):
        return None
    return timestamp


def _attachment_key(attachment: Any) -> str:
    if not isinstance(attachment, Mapping):
        return _canonical_key(attachment)
    out = dict(attachment)
    for key in ("display", "description"):
        if key in attachment:
            out[key] = _language_map_norm(attachment[key])
    return _canonical_key(out)


def _attachments_eq(a: Any, b: Any) -> bool:
    """Attachment metadata as an unordered list; language-map keys ignore case."""
    if not (isinstance(a, list) and isinstance(b, list)):
        return _json_eq(a, b)
    if len(a) != len(b):
        return False
    return sorted(map(_attachment_key, a)) == sorted(map(_attachment_key, b))


def _without_signatures(attachments: Any) -> Sequence[Any]:
    if not isinstance(attachments, list):
        return [] if attachments is None else [attachments]
    return [
        item
        for item in attachments
        if not (isinstance(item, Mapping) and item.get("usageType") == SIGNATURE_USAGE_TYPE)
    ]
