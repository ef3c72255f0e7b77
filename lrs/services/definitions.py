"""The Activities and Agents Resources (xAPI Communication 2.4, 2.5): what the LRS knows of one
Activity or Agent, from the statements of the caller's tenant (merged by the persist consumer)."""

from __future__ import annotations

from typing import Any

from lrs.ports.credentials import Principal
from lrs.ports.definitions import ActivityStore, AgentStore
from lrs.xapi.definitions import AgentSighting, activity_object, person_object
from lrs.xapi.errors import Forbidden

# Reading what statements said about Activities and Agents: whoever may read every statement
# (statements/read, all/read, all) or (re)define Activities and Actors (define, Communication 4.2).
READ_SCOPES = frozenset({"all", "all/read", "statements/read", "define"})


def authorize_read(who: Principal) -> None:
    if not who.scopes & READ_SCOPES:
        raise Forbidden(
            "reading Activities or Agents needs one of the scopes " + ", ".join(sorted(READ_SCOPES))
        )


async def get_activity(store: ActivityStore, who: Principal, activity_id: str) -> dict[str, Any]:
    """The canonical Activity Object; for an Activity never seen, one with just its id
    (Communication 2.5: "If an LRS does not have a canonical definition of the Activity to
    return, the LRS SHOULD* still return an Activity Object when queried")."""
    return activity_object(activity_id, await store.get(who.tenant, activity_id))


async def get_person(store: AgentStore, who: Principal, agent: AgentSighting) -> dict[str, Any]:
    """The Person Object of an Agent (Communication 2.4): the names seen with its identifier.
    "If an LRS does not have any additional information about an Agent to return, the LRS MUST
    still return a Person Object when queried, but that Person Object will only include the
    information associated with the requested Agent": then the request's own name and IFI."""
    known = await store.get(who.tenant, agent.ifi)
    if known is None:
        return person_object(agent.identifier, [agent.name] if agent.name else [])
    return person_object(known.identifier, known.names)
