"""What an erasure of a learner (docs/erasure.md) recognises and records, without I/O: the
identifiers an Agent is known by, the redaction of other statements that name it, the learner
ids that name it, and the audit record. Shared by the erasure service (lrs.services.erasure)
and its MongoDB side (lrs.adapters.mongo_erasure), which must not import a service."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lrs import topics
from lrs.xapi.ifi import agent_ifi

# What replaces the learner wherever another statement names them: an Agent that identifies
# nobody (homePage on the reserved `.invalid` top-level domain), the same for every erasure.
ERASED_HOME_PAGE = "https://lrs.invalid/erased"
ERASED_AGENT: Mapping[str, Any] = {
    "objectType": "Agent",
    "account": {"homePage": ERASED_HOME_PAGE, "name": "erased"},
}
GROUP_PREFIX = "group:["


def erasure_identifiers(agent: Mapping[str, Any]) -> list[str]:
    """The canonical identifiers (lrs.xapi.ifi) the request's Agent is known by: its IFI and,
    for an `mbox`, the `mbox_sha1sum` of the same address (Data 2.4.2.3: both identify the
    same person, and a client may send either)."""
    ifi = agent_ifi(agent)
    if ifi is None:
        raise ValueError("the Agent has no identifier")
    found = [ifi]
    mbox = agent.get("mbox")
    if isinstance(mbox, str):
        found.append(f"mbox_sha1sum:{hashlib.sha1(mbox.encode()).hexdigest()}")
    return found


def agent_hash(tenant: str, identifier: str) -> str:
    """What the erased-agents list and the audit record keep instead of the identifier."""
    return hashlib.sha256(f"{tenant}{topics.KEY_SEPARATOR}{identifier}".encode()).hexdigest()


def agents_in(value: Any) -> Iterator[str]:
    """The identifier of every Agent or Group anywhere in a statement (any JSON object with an
    IFI property), members and SubStatements included."""
    if isinstance(value, Mapping):
        ifi = agent_ifi(value)
        if ifi is not None:
            yield ifi
        for item in value.values():
            yield from agents_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from agents_in(item)


def redacted(value: Any, erased: AbstractSet[str]) -> Any:
    """`value` with every Agent whose identifier is in `erased` replaced by ERASED_AGENT (its
    objectType kept when it says Agent; a Group member is always an Agent)."""
    if isinstance(value, Mapping):
        ifi = agent_ifi(value)
        if ifi is not None and ifi in erased:
            return dict(ERASED_AGENT)
        return {k: redacted(v, erased) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(item, erased) for item in value]
    return value


def names_erased(key: str, identifiers: Sequence[str]) -> bool:
    """Whether a statement filter key (lrs.adapters.mongo_store.filter_keys) names one of the
    identifiers: as its last part, or as a member of an anonymous authority Group."""
    return any(key.endswith("|" + i) or f"|{i}+" in key for i in identifiers)


def group_members(learner: str) -> list[str]:
    """The member identifiers of an anonymous Group's learner id (`group:[a,b]`), else []."""
    if not learner.startswith(GROUP_PREFIX) or not learner.endswith("]"):
        return []
    return [m for m in learner[len(GROUP_PREFIX) : -1].split(",") if m]


def learner_ids_naming(learners: Sequence[str], identifiers: Sequence[str]) -> list[str]:
    """The learner ids among `learners` that are one of the identifiers or an anonymous Group
    listing one."""
    wanted = set(identifiers)
    return [
        learner
        for learner in learners
        if learner in wanted or wanted.intersection(group_members(learner))
    ]


@dataclass
class ErasureCounts:
    """What one erasure removed or changed, per kind (never the content)."""

    statements_deleted: int = 0
    statements_redacted: int = 0
    documents_deleted: int = 0
    persons_deleted: int = 0
    progress_learners_deleted: int = 0
    progress_records_deleted: int = 0
    registry_teams_changed: int = 0
    tombstones_published: int = 0
    teams_recomputed: int = 0
    goals_deleted: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ErasureRecord:
    """The audit record of one erasure (`erasures` collection)."""

    erasure_id: str
    tenant: str
    agent_hash: str
    requested_by: str
    started_at: datetime
    completed_at: datetime | None
    counts: Mapping[str, int] = field(default_factory=dict)


def record_view(record: ErasureRecord) -> dict[str, Any]:
    """An audit record as JSON (the API's and the CLI's output)."""
    return {
        "id": record.erasure_id,
        "tenant": record.tenant,
        "agent_hash": record.agent_hash,
        "requested_by": record.requested_by,
        "started_at": record.started_at.isoformat(),
        "completed_at": record.completed_at.isoformat() if record.completed_at else None,
        "counts": dict(record.counts),
    }
