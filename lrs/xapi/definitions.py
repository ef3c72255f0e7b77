"""What statements tell the LRS about Activities and Agents, for the Activities and Agents
Resources (xAPI Communication 2.4, 2.5). Pure: statement in, sightings out.

An Activity is seen as a statement's object, in its context activities (every kind) and the same
inside a SubStatement; each sighting carries the definition the statement gave (possibly empty).
An Agent is seen as the actor, the object, the authority, the context instructor and team (and
xAPI 2.0 context agents and groups), as a member of any Group there, and the same inside a
SubStatement; each sighting carries the Agent's one identifier and the name given, if any.

Merging follows xAPI Data 2.4.4.1 ("Upon receiving a Statement with an Activity Definition that
differs from the one stored, an LRS ... SHOULD update the stored Activity Definition
accordingly"): language maps (`name`, `description`) merge per language tag, `extensions` merge
per extension IRI, and every other property (type, moreInfo, interaction properties) takes the
value of the statement merged last (the store adapters say in which order that is).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from lrs.xapi.ifi import IFI_PROPERTIES, agent_ifi

CONTEXT_ACTIVITY_KINDS = ("parent", "grouping", "category", "other")
LANGUAGE_MAPS = ("name", "description")
EXTENSIONS = "extensions"
# Defaults of LRS_MAX_DEFINITION_BYTES and LRS_MAX_AGENT_NAMES (lrs/settings.py, decision 0004).
DEFAULT_MAX_DEFINITION_BYTES = 1024 * 1024
DEFAULT_MAX_AGENT_NAMES = 100


@dataclass(frozen=True, slots=True)
class ActivitySighting:
    """One Activity as one statement shows it: its id and the definition given there."""

    activity_id: str
    definition: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class AgentSighting:
    """One Agent as one statement shows it: its canonical IFI (`lrs.xapi.ifi`), the identifying
    property as given (e.g. ``{"mbox": "mailto:..."}``) and its name, if any."""

    ifi: str
    identifier: Mapping[str, Any]
    name: str | None


def activities_in(statement: Mapping[str, Any]) -> list[ActivitySighting]:
    """Every Activity of a statement, in order of appearance (repeats kept: a later one with
    the same id refines the earlier one, as a later statement would)."""
    return list(_activities(statement))


def agents_in(statement: Mapping[str, Any]) -> list[AgentSighting]:
    """Every Agent of a statement, Group members included; Groups themselves are not Agents
    (the Agents Resource takes an Agent, "not a Person Object, nor is it a Group")."""
    return [s for who in _people(statement) if (s := agent_sighting(who)) is not None]


def agent_sighting(agent: Mapping[str, Any]) -> AgentSighting | None:
    """The sighting of an Agent, or None for a Group or anything without an identifier."""
    if agent.get("objectType", "Agent") != "Agent":
        return None
    ifi = agent_ifi(agent)
    if ifi is None:
        return None
    prop = next(p for p in IFI_PROPERTIES if agent.get(p) is not None)
    name = agent.get("name")
    return AgentSighting(ifi, {prop: agent[prop]}, name if isinstance(name, str) else None)


def _activities(statement: Mapping[str, Any]) -> Iterator[ActivitySighting]:
    obj = statement.get("object")
    if isinstance(obj, Mapping):
        if obj.get("objectType", "Activity") == "Activity":
            yield from _sighting(obj)
        elif obj.get("objectType") == "SubStatement":
            yield from _activities(obj)
    context = statement.get("context")
    groups = context.get("contextActivities") if isinstance(context, Mapping) else None
    if not isinstance(groups, Mapping):
        return
    for kind in CONTEXT_ACTIVITY_KINDS:
        value = groups.get(kind)
        for activity in value if isinstance(value, list) else [value]:
            if isinstance(activity, Mapping):
                yield from _sighting(activity)


def _sighting(activity: Mapping[str, Any]) -> Iterator[ActivitySighting]:
    activity_id = activity.get("id")
    if isinstance(activity_id, str):
        definition = activity.get("definition")
        yield ActivitySighting(activity_id, definition if isinstance(definition, Mapping) else {})


def _people(statement: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """Agents and Groups of a statement, each Group followed by its members."""
    obj = statement.get("object")
    context = statement.get("context")
    context = context if isinstance(context, Mapping) else {}
    candidates: list[Any] = [statement.get("actor"), statement.get("authority")]
    if isinstance(obj, Mapping) and obj.get("objectType") in ("Agent", "Group"):
        candidates.append(obj)
    candidates += [context.get("instructor"), context.get("team")]
    candidates += [c.get("agent") for c in _mappings(context.get("contextAgents"))]
    candidates += [c.get("group") for c in _mappings(context.get("contextGroups"))]
    for who in _mappings(candidates):
        yield who
        yield from _mappings(who.get("member"))
    if isinstance(obj, Mapping) and obj.get("objectType") == "SubStatement":
        yield from _people(obj)


def _mappings(values: Any) -> Iterator[Mapping[str, Any]]:
    for value in values if isinstance(values, list) else []:
        if isinstance(value, Mapping):
            yield value


def merge_definition(canonical: Mapping[str, Any], incoming: Mapping[str, Any]) -> dict[str, Any]:
    """The canonical definition after seeing `incoming` (rules in the module docstring)."""
    merged = dict(canonical)
    for key, value in incoming.items():
        if key in LANGUAGE_MAPS or key == EXTENSIONS:
            if isinstance(value, Mapping):
                merged[key] = {**merged.get(key, {}), **value}
        else:
            merged[key] = value
    return merged


def bounded_merge_definition(
    canonical: Mapping[str, Any], incoming: Mapping[str, Any], max_bytes: int
) -> dict[str, Any]:
    """`merge_definition`, bounded (docs/decisions/0004): when the merged definition would be
    larger than `max_bytes` (here its compact JSON; in MongoDB the document's BSON), the
    incoming definition replaces the stored one. Deterministic, and idempotent: merging the
    same definition again changes nothing."""
    merged = merge_definition(canonical, incoming)
    if len(orjson.dumps(merged)) > max_bytes:
        return dict(incoming)
    return merged


def activity_object(activity_id: str, definition: Mapping[str, Any] | None) -> dict[str, Any]:
    """xAPI Communication 2.5: the Activity Object the Activities Resource returns. "If an LRS
    does not have a canonical definition of the Activity to return, the LRS SHOULD* still return
    an Activity Object when queried" (xAPI 2.0: shall): then it carries only the id."""
    activity: dict[str, Any] = {"objectType": "Activity", "id": activity_id}
    if definition:
        activity["definition"] = dict(definition)
    return activity


def person_object(identifier: Mapping[str, Any], names: list[str]) -> dict[str, Any]:
    """xAPI Communication 2.4: the Person Object, "each attribute has an array value". Empty
    arrays are left out (every property but objectType is optional)."""
    person: dict[str, Any] = {"objectType": "Person"}
    if names:
        person["name"] = list(names)
    for prop in IFI_PROPERTIES:
        if identifier.get(prop) is not None:
            person[prop] = [identifier[prop]]
    return person
