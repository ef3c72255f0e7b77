"""What the Statement Resource's filters look at, extracted once when a statement is persisted.

xAPI Communication 2.1.3 (GET Statements) filters by agent, verb, activity and registration, and
widens `agent` / `activity` with `related_agents` / `related_activities`. The persister stores
these lists beside each statement so every filter is an indexed equality match.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from lrs.xapi.ifi import agent_ifi, group_member_ifis

VOIDED_VERB = "http://adlnet.gov/expapi/verbs/voided"
_CONTEXT_ACTIVITY_KINDS = ("parent", "grouping", "category", "other")


@dataclass(frozen=True, slots=True)
class StatementIndex:
    """The filterable facts of one statement (identifiers only, never display data)."""

    agents: list[str]
    related_agents: list[str]
    verb: str
    activity: str | None
    related_activities: list[str]
    registration: str | None
    voids: str | None
    ref: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "agents": self.agents,
            "related_agents": self.related_agents,
            "verb": self.verb,
            "activity": self.activity,
            "related_activities": self.related_activities,
            "registration": self.registration,
            "voids": self.voids,
            "ref": self.ref,
        }


def agent_key(agent: Mapping[str, Any]) -> str | None:
    """Agent/Group identity for filters: objectType plus IFI (Communication 2.1.3 `agent`)."""
    ifi = agent_ifi(agent)
    if ifi is None:
        return None
    return f"{agent.get('objectType') or 'Agent'}|{ifi}"


def authority_key(authority: Mapping[str, Any] | None) -> str | None:
    """Who wrote a statement, as `statements/read/mine` compares it (Communication 4.1): the
    authority's Agent key, or for an anonymous Group (an OAuth application + user pair, Data
    2.4.9) its sorted members' keys."""
    if not authority:
        return None
    key = agent_key(authority)
    if key is not None:
        return key
    members = sorted(f"Agent|{ifi}" for ifi in group_member_ifis(authority))
    return "Group|" + "+".join(members) if members else None


def index_statement(statement: Mapping[str, Any]) -> StatementIndex:
    """Extract the identifiers the statement filters compare against."""
    actor = statement.get("actor") or {}
    obj = statement.get("object") or {}
    verb_id = str((statement.get("verb") or {}).get("id", ""))
    agents = _dedupe(_agent_keys_direct(actor, obj))
    related_agents = _dedupe(_related_agents(statement))
    registration = (statement.get("context") or {}).get("registration")
    is_activity = _is_activity(obj)
    is_ref = obj.get("objectType") == "StatementRef" and bool(obj.get("id"))
    ref = str(obj["id"]).lower() if is_ref else None
    return StatementIndex(
        agents=agents,
        related_agents=related_agents,
        verb=verb_id,
        activity=str(obj["id"]) if is_activity and "id" in obj else None,
        related_activities=_dedupe(_related_activities(statement)),
        registration=str(registration).lower() if registration else None,
        voids=ref if verb_id == VOIDED_VERB else None,
        ref=ref,
    )


def _is_activity(obj: Mapping[str, Any]) -> bool:
    return bool(obj.get("objectType", "Activity") == "Activity")


def _agent_keys_direct(actor: Mapping[str, Any], obj: Mapping[str, Any]) -> Iterator[str]:
    """The actor, and the object when it is an Agent or Group, with the members of either when
    it is a Group (Communication 2.1.3 `agent`: "Groups that have members which match the
    specified Agent" match)."""
    candidates = [actor] + ([obj] if obj.get("objectType") in ("Agent", "Group") else [])
    for who in candidates:
        yield from _people(who)


def _people(who: Mapping[str, Any] | None) -> Iterator[str]:
    """An Agent or Group, and for a Group each of its members."""
    if not isinstance(who, Mapping):
        return
    key = agent_key(who)
    if key:
        yield key
    for member_ifi in group_member_ifis(who):
        yield f"Agent|{member_ifi}"


def _related_agents(statement: Mapping[str, Any]) -> Iterator[str]:
    """Every Agent/Group anywhere: actor, object, authority, context instructor/team, and the
    same inside a SubStatement (Communication 2.1.3 `related_agents`)."""
    yield from _people(statement.get("actor"))
    obj = statement.get("object") or {}
    if obj.get("objectType") in ("Agent", "Group"):
        yield from _people(obj)
    yield from _people(statement.get("authority"))
    context = statement.get("context") or {}
    yield from _people(context.get("instructor"))
    yield from _people(context.get("team"))
    for context_agent in context.get("contextAgents") or []:
        yield from _people(context_agent.get("agent"))
    for context_group in context.get("contextGroups") or []:
        yield from _people(context_group.get("group"))
    if obj.get("objectType") == "SubStatement":
        yield from _related_agents(obj)


def _related_activities(statement: Mapping[str, Any]) -> Iterator[str]:
    """The object Activity, every context Activity, and the same inside a SubStatement
    (Communication 2.1.3 `related_activities`)."""
    obj = statement.get("object") or {}
    if _is_activity(obj) and "id" in obj:
        yield str(obj["id"])
    context_activities = (statement.get("context") or {}).get("contextActivities") or {}
    for kind in _CONTEXT_ACTIVITY_KINDS:
        value = context_activities.get(kind)
        for activity in value if isinstance(value, list) else [value] if value else []:
            if isinstance(activity, Mapping) and "id" in activity:
                yield str(activity["id"])
    if obj.get("objectType") == "SubStatement":
        yield from _related_activities(obj)


def _dedupe(values: Iterator[str]) -> list[str]:
    return list(dict.fromkeys(values))
