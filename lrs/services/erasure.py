"""Erasure of a learner (the right to be forgotten; docs/erasure.md, docs/decisions/0018).

What an erasure does, in this order (each step idempotent, so a re-run after a crash completes
the erasure; the audit record started first is the one completed):

1. put the learner's identifier hashes on the erased-agents list with the erasure's time: from
   then on the persister drops statements of the learner accepted before that time (still in
   flight on `xapi.statements`) and redacts the learner out of other in-flight statements, and
   the progress consumer drops the learner's records produced before it;
2. delete the statements whose actor is the learner; redact every other statement that names
   the learner anywhere (object Agent, `context.instructor`, a Group member, `authority`,
   inside a SubStatement): each such Agent becomes the placeholder `ERASED_AGENT`; filter keys
   naming the learner (also those a StatementRef inherited from an erased target) are removed;
3. delete their State and Agent Profile documents and their Person (the `agents` projection);
4. remember the teams the learner's progress lists, delete their progress documents and
   bookkeeping, remove them from every registry team (published on `lrs.teams`, as the team
   API does), publish a tombstone for every learner key of theirs on `lrs.progress.learner`
   and a recomputation trigger for every such team on `lrs.progress.team-changes`;
   the goal-triggers consumer hears the tombstones and recomputes every goal whose last
   computation counted the learner (docs/decisions/0019-goals.md), so their id leaves
   `members_meeting` and `progress_goals.members`;
5. delete the goals OWNED by the learner (`goals`) and their progress (`progress_goals`),
   kept on the audit record first, and tombstone their keys on `lrs.goals` and
   `lrs.progress.goal` (a goal of one person names them in its owner: it is theirs to lose);
6. complete the audit record (who, when, the identifier's hash, counts per kind).

The pure parts (identifiers, hashes, redaction, screening of in-flight statements) are in
lrs.erasure; this module holds the orchestration over two ports, an `ErasureStore` and an
`ErasureBus`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol, TypeVar

import orjson

from lrs import topics
from lrs.erasure import (
    ErasureCounts,
    ErasureRecord,
    agent_hash,
    agents_in,
    erasure_identifiers,
    group_members,
    redacted,
)
from lrs.ports.events import ErasureBus, OutgoingMessage
from lrs.ports.statements import AcceptedStatement
from lrs.xapi.ifi import actor_ifi
from lrs.xapi.timefmt import format_timestamp

TEAM_CHANGED_TYPE = topics.TEAM_CHANGED_TYPE
SOURCE = "/lrs/erasure"


# --- in-flight statements (the persister's and the progress consumer's check) -----------------


Agent = tuple[str, str]  # (tenant, IFI)


class ErasedAgents(Protocol):
    """The erased-agents list: identifier hash -> when it was (last) erased."""

    async def erased_at(self, tenant: str, hashes: Sequence[str]) -> dict[str, datetime]: ...


async def screen_statements(
    erased: ErasedAgents, batch: Sequence[AcceptedStatement], listed: set[Agent] | None = None
) -> list[AcceptedStatement | None]:
    """Each statement as it may be stored: None when its actor was erased after it was accepted
    (`stored`, set at acceptance, not later than the erasure), redacted when it names an Agent
    erased after it was accepted, else unchanged. Statements accepted after an erasure are new
    data and kept as they are. One lookup for the batch. `listed` receives the (tenant, IFI) of
    the batch's Agents on the erased-agents list, whenever they were erased."""
    wanted = {
        (a.tenant, i): agent_hash(a.tenant, i)
        for a in batch
        for i in {a.actor_ifi, *agents_in(a.statement)}
    }
    if not wanted:
        return list(batch)
    by_tenant: dict[str, list[str]] = {}
    for (tenant, _), digest in wanted.items():
        by_tenant.setdefault(tenant, []).append(digest)
    times: dict[tuple[str, str], datetime] = {}
    for tenant, digests in by_tenant.items():
        found = await erased.erased_at(tenant, digests)
        times |= {(tenant, d): moment for d, moment in found.items()}
    if not times:
        return list(batch)
    if listed is not None:
        listed.update(agent for agent, digest in wanted.items() if (agent[0], digest) in times)
    return [_screened(a, wanted, times) for a in batch]


T = TypeVar("T")


async def screen_pairs(
    erased: ErasedAgents | None,
    pairs: Sequence[tuple[T, AcceptedStatement]],
    listed: set[Agent] | None = None,
) -> list[tuple[T, AcceptedStatement]]:
    """`screen_statements` for (record, statement) pairs: the dropped ones left out."""
    if erased is None or not pairs:
        return list(pairs)
    screened = await screen_statements(erased, [a for _, a in pairs], listed)
    return [(r, a) for (r, _), a in zip(pairs, screened, strict=True) if a is not None]


def _screened(
    accepted: AcceptedStatement,
    hashes: Mapping[tuple[str, str], str],
    times: Mapping[tuple[str, str], datetime],
) -> AcceptedStatement | None:
    def erased(identifier: str) -> bool:
        moment = times.get((accepted.tenant, hashes[(accepted.tenant, identifier)]))
        return moment is not None and accepted.stored <= moment

    if erased(accepted.actor_ifi):
        return None
    gone = {i for i in agents_in(accepted.statement) if erased(i)}
    if not gone:
        return accepted
    statement = redacted(accepted.statement, gone)
    return replace(accepted, statement=statement, actor_ifi=actor_ifi(statement["actor"]))


def record_time(headers: Sequence[tuple[str, bytes]] | None) -> datetime | None:
    """When a record was produced: its `ce_time` header (the acceptance time of a statement,
    the production time of a trigger), or None."""
    for name, value in headers or ():
        if name == topics.HEADER_CE_TIME:
            try:
                return datetime.fromisoformat(value.decode())
            except ValueError:
                return None
    return None


def key_identifiers(key: bytes | None) -> tuple[str, list[str]] | None:
    """(tenant, identifiers) a learner-keyed record is about: its learner id and, for an
    anonymous Group, its members."""
    if not key:
        return None
    try:
        tenant, learner = topics.split_key(key)
    except UnicodeDecodeError:
        return None
    return tenant, [learner, *group_members(learner)]


class KeyedRecord(Protocol):
    """What `screen_records` reads of a consumed record."""

    @property
    def key(self) -> bytes | None: ...

    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


R = TypeVar("R", bound=KeyedRecord)


async def screen_records(erased: ErasedAgents | None, records: Sequence[R]) -> list[R]:
    """The records to process: not those keyed by an erased learner (or an anonymous Group
    listing one) and produced (`ce_time`) no later than the erasure; a record without a time
    counts as produced before. One lookup per tenant of the batch (none without a list)."""
    if erased is None:
        return list(records)
    about = {id(r): found for r in records if (found := key_identifiers(r.key)) is not None}
    by_tenant: dict[str, set[str]] = {}
    for tenant, identifiers in about.values():
        by_tenant.setdefault(tenant, set()).update(agent_hash(tenant, i) for i in identifiers)
    times: dict[tuple[str, str], datetime] = {}
    for tenant, digests in by_tenant.items():
        listed = await erased.erased_at(tenant, sorted(digests))
        times |= {(tenant, d): moment for d, moment in listed.items()}
    if not times:
        return list(records)

    def dropped(record: R) -> bool:
        if id(record) not in about:
            return False
        tenant, identifiers = about[id(record)]
        produced = record_time(record.headers)
        for identifier in identifiers:
            moment = times.get((tenant, agent_hash(tenant, identifier)))
            if moment is not None and (produced is None or produced <= moment):
                return True
        return False

    return [r for r in records if not dropped(r)]


# --- the erasure ----------------------------------------------------------------------------


class ErasureStore(Protocol):
    async def begin(
        self, tenant: str, hashes: Sequence[str], requested_by: str, now: datetime
    ) -> ErasureRecord:
        """List the hashes as erased at `now` and start (or resume: an unfinished record of
        the same hash) the audit record."""
        ...

    async def erase_statements(self, tenant: str, identifiers: Sequence[str]) -> tuple[int, int]:
        """(deleted, redacted) statements."""
        ...

    async def erase_documents(self, tenant: str, identifiers: Sequence[str]) -> tuple[int, int]:
        """(State and Agent Profile documents, Persons) deleted."""
        ...

    async def progress_learners(self, tenant: str, identifiers: Sequence[str]) -> list[str]:
        """The learner ids with progress that are, or (anonymous Groups) list, the learner."""
        ...

    async def remember_teams(self, erasure_id: str, teams: Sequence[str]) -> list[str]:
        """Add the teams of the erased progress to the audit record; return all it holds."""
        ...

    async def learner_teams(self, tenant: str, learners: Sequence[str]) -> list[str]: ...

    async def erase_progress(self, tenant: str, learners: Sequence[str]) -> tuple[int, int]:
        """(progress documents, bookkeeping records) deleted."""
        ...

    async def registry_teams_listing(
        self, tenant: str, identifiers: Sequence[str]
    ) -> list[str]: ...

    async def erase_goals(self, erasure_id: str, tenant: str, learners: Sequence[str]) -> list[str]:
        """Keep the ids of the goals owned by these learners on the audit record, delete those
        goals and their progress; every goal id the record holds (a re-run tombstones again)."""
        ...

    async def complete(self, erasure_id: str, counts: ErasureCounts, now: datetime) -> None: ...

    async def list_erasures(self, tenant: str | None) -> list[ErasureRecord]: ...


# Removes one learner from one registry team and publishes the change on `lrs.teams` (the team
# API's own operation, lrs.services.teams.remove_member); returns whether it changed the team.
RemoveMember = Callable[[str, str, str], Any]


@dataclass(frozen=True)
class ErasureDeps:
    store: ErasureStore
    bus: ErasureBus
    remove_member: RemoveMember
    clock: Callable[[], datetime]
    prefix: str = ""  # the settings' topic prefix


async def erase_agent(
    deps: ErasureDeps, tenant: str, agent: Mapping[str, Any], requested_by: str
) -> ErasureRecord:
    """Erase the learner `agent` (an Agent object) from `tenant`; see the module docstring."""
    identifiers = erasure_identifiers(agent)
    hashes = [agent_hash(tenant, i) for i in identifiers]
    record = await deps.store.begin(tenant, hashes, requested_by, deps.clock())
    counts = ErasureCounts()
    counts.statements_deleted, counts.statements_redacted = await deps.store.erase_statements(
        tenant, identifiers
    )
    counts.documents_deleted, counts.persons_deleted = await deps.store.erase_documents(
        tenant, identifiers
    )
    learners = await _erase_progress(deps, tenant, identifiers, record.erasure_id, counts)
    await _erase_goals(deps, tenant, learners, record.erasure_id, counts)
    await deps.store.complete(record.erasure_id, counts, deps.clock())
    return replace(record, completed_at=deps.clock(), counts=counts.as_dict())


async def _erase_progress(
    deps: ErasureDeps,
    tenant: str,
    identifiers: Sequence[str],
    erasure_id: str,
    counts: ErasureCounts,
) -> list[str]:
    """Progress documents and bookkeeping, registry membership, then what the topics need:
    tombstones for the learner keys and a recomputation of every team they were in (the
    teams are kept on the audit record first, so a re-run after a crash still triggers them)."""
    learners = sorted({*identifiers, *await deps.store.progress_learners(tenant, identifiers)})
    registry = await deps.store.registry_teams_listing(tenant, identifiers)
    teams = [*await deps.store.learner_teams(tenant, learners), *registry]
    teams = await deps.store.remember_teams(erasure_id, teams)
    keys = [topics.learner_key(tenant, learner) for learner in learners]
    (
        counts.progress_learners_deleted,
        counts.progress_records_deleted,
    ) = await deps.store.erase_progress(tenant, learners)
    for team in registry:
        for identifier in identifiers:
            counts.registry_teams_changed += bool(
                await deps.remove_member(tenant, team, identifier)
            )
    await deps.bus.tombstones(deps.prefix + topics.LEARNER_PROGRESS, keys)
    counts.tombstones_published = len(keys)
    now = deps.clock()
    triggers = [team_change_message(tenant, team, now) for team in sorted(teams)]
    if triggers:
        await deps.bus.publish(deps.prefix + topics.TEAM_CHANGES, triggers)
    counts.teams_recomputed = len(triggers)
    return learners


async def _erase_goals(
    deps: ErasureDeps, tenant: str, learners: Sequence[str], erasure_id: str, counts: ErasureCounts
) -> None:
    """The learner's own goals: deleted, then their keys tombstoned on both goal topics."""
    goals = await deps.store.erase_goals(erasure_id, tenant, learners)
    keys = [topics.goal_key(tenant, goal) for goal in goals]
    if keys:
        await deps.bus.tombstones(deps.prefix + topics.GOALS, keys)
        await deps.bus.tombstones(deps.prefix + topics.GOAL_PROGRESS, keys)
    counts.goals_deleted = len(goals)


def team_change_message(tenant: str, team: str, now: datetime) -> OutgoingMessage:
    """A "recompute this team" trigger, as the progress consumer produces it."""
    ce_id = f"erasure/{tenant}/{team}/{now.timestamp()}"
    headers = topics.cloud_event_headers(
        TEAM_CHANGED_TYPE, SOURCE, tenant, ce_id, format_timestamp(now)
    )
    value = orjson.dumps({"tenant": tenant, "team": team})
    return OutgoingMessage(topics.team_key(tenant, team), value, headers)
