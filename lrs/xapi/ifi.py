"""Inverse functional identifiers (xAPI Data 2.4.2.3): one canonical string per Agent or Group.

The canonical identifier is used as the Kafka key of a learner's statements, as the learner id
of derived progress, and in the statement indexes. Two representations of the same agent (with
or without `objectType`, `name`, ...) give the same identifier.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

IFI_PROPERTIES = ("mbox", "mbox_sha1sum", "openid", "account")


def agent_ifi(agent: Mapping[str, Any]) -> str | None:
    """The canonical IFI of an Agent or identified Group, or None for an anonymous Group.

    xAPI Data 2.4.2.1: an Agent MUST have exactly one IFI; validation has checked that, so the
    first one found is the one.
    """
    for prop in IFI_PROPERTIES:
        value = agent.get(prop)
        if value is None:
            continue
        if prop == "account" and isinstance(value, Mapping):
            return f"account:{value.get('homePage', '')}|{value.get('name', '')}"
        return f"{prop}:{value}"
    return None


def actor_ifi(actor: Mapping[str, Any]) -> str:
    """The identifier of a statement's actor: its IFI, or for an anonymous Group its members'.

    Anonymous groups (Data 2.4.2.2) have no IFI of their own; they are identified by the sorted
    identifiers of their members, so the same group always lands on the same partition.
    """
    ifi = agent_ifi(actor)
    if ifi is not None:
        return ifi
    members = actor.get("member") or []
    member_ids = sorted(agent_ifi(m) or "" for m in members if isinstance(m, Mapping))
    return "group:[" + ",".join(member_ids) + "]"


def group_member_ifis(actor: Mapping[str, Any]) -> list[str]:
    """IFIs of the members listed in a Group (empty for an Agent)."""
    members = actor.get("member") or []
    return [ifi for m in members if isinstance(m, Mapping) and (ifi := agent_ifi(m))]
