"""Learner progress: `lrs.statements.stored` (what the store holds, keyed by learner) ->
`progress_learners` -> `lrs.progress.learner`, plus a team-change trigger for every team of a
changed learner.

One writer per learner: the topic's records of a learner (its statements, and the learner-refresh
triggers of registry changes and of voids by other actors) share its key, so one consumer
instance applies them in order and publishes the learner's values in version order; the
compacted topic then keeps the newest (docs/decisions/0006).

Per batch and tenant: remember the batch's void targets FIRST, then read which of the batch's
statements are voided and whose learner each void target belongs to (from the `statements`
collection, where the persister put each statement before forwarding it here). Each side writes
before it reads, so a statement and a void of it handled at the same time by two instances
always meet: at least one of them sees the other's record (docs/decisions/0006, 0014).
A void of a statement already applied elsewhere (another learner's key) is not applied here: a
learner-refresh trigger carrying the void goes to the learner's partition. Then the touched
learners' states are loaded in one query, the statements applied with the pure
model (`lrs.progress.apply`/`void`), and the changed documents written back with
compare-and-set on `version` (a lost race reloads and re-applies: the model is a function of the
set of statements, so re-applying is a no-op).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from consumers.progress.messages import (
    MAX_VALUE_BYTES,
    LearnerRefresh,
    decode_learner_refresh,
    learner_message,
    learner_refresh_message,
    team_change_message,
)
from consumers.runner import NoWatermarks, Outcome, Poison, Record
from lrs import topics
from lrs.codec import UnusableMessage, decode_accepted, header
from lrs.ports.events import OutgoingMessage
from lrs.ports.progress import LearnerDoc, LearnerProgressState
from lrs.progress import (
    LearnerState,
    StatementFacts,
    apply,
    facts_from_statement,
    learner_id,
    summarize_learner,
    void,
    voided_target,
)
from lrs.progress.model import seal, unseal
from lrs.services.erasure import ErasedAgents, screen_records

Clock = Callable[[], datetime]
Statement = Mapping[str, Any]


@dataclass
class Plan:
    """What to fold into one learner's state: new statements and ids to void."""

    statements: list[Statement] = field(default_factory=list)
    voids: set[str] = field(default_factory=set)


@dataclass
class Changes:
    """The current documents of the learners one call touched (written by it, or already up
    to date), the teams whose progress they may move (`teams`: every member to be read again;
    `members`: these members of the team only), and the learner refreshes (voids) left to the
    learners' own partitions."""

    learners: list[LearnerDoc] = field(default_factory=list)
    teams: set[tuple[str, str]] = field(default_factory=set)
    members: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    refreshes: list[LearnerRefresh] = field(default_factory=list)

    def merge(self, other: Changes) -> None:
        self.learners += other.learners
        self.teams |= other.teams
        for team, learners in other.members.items():
            self.members.setdefault(team, set()).update(learners)
        self.refreshes += other.refreshes

    def _triggers(self, now: datetime) -> list[OutgoingMessage]:
        """One per team: plain when the team is in `teams`, else naming its changed members."""
        return [
            team_change_message(tenant, team, now, self.members.get((tenant, team)))
            if (tenant, team) not in self.teams
            else team_change_message(tenant, team, now)
            for tenant, team in sorted(self.teams | self.members.keys())
        ]

    def outputs(
        self, now: datetime, prefix: str = "", max_value_bytes: int = MAX_VALUE_BYTES
    ) -> list[tuple[str, OutgoingMessage]]:
        """Learner summaries (each at most `max_value_bytes`), team triggers, then learner
        refreshes, on the topics named with `prefix`."""
        learners = [
            (prefix + topics.LEARNER_PROGRESS, learner_message(d, now, max_value_bytes))
            for d in self.learners
        ]
        triggers = [(prefix + topics.TEAM_CHANGES, t) for t in self._triggers(now)]
        refreshes = [
            (prefix + topics.STORED_STATEMENTS, learner_refresh_message(r, now))
            for r in self.refreshes
        ]
        return learners + triggers + refreshes


def comparable(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A summary without its `as_of` (which moves with the clock, not with the progress)."""
    return {k: v for k, v in summary.items() if k != "as_of"}


DEFAULT_HELD_FACTS = 64  # LRS_PROGRESS_HELD_FACTS (docs/decisions/0031)


class LearnerProgress:
    """The one implementation of "fold statements into learner progress" (consumer, rebuild).

    A learner's state holds at most `held_facts` facts: beyond, the oldest are sealed away
    (`lrs.progress.model.seal`) down to half of it, so what a statement costs stops growing with
    its learner's history (docs/decisions/0025). A statement whose fact may be sealed (a re-sent
    or late one) and a void of one are checked against the stored chunks; when one is there,
    the learner is unsealed, folded and sealed again.
    """

    def __init__(
        self, store: LearnerProgressState, clock: Clock, held_facts: int = DEFAULT_HELD_FACTS
    ) -> None:
        self._store = store
        self._clock = clock
        self._held_facts = max(2, held_facts)

    async def apply_statements(
        self,
        tenant: str,
        statements: Sequence[Statement],
        refreshes: Mapping[str, set[str]] | None = None,
        *,
        route_voids: bool = False,
    ) -> Changes:
        """Fold `statements` and the `refreshes` (learner -> ids to void) into the learners'
        progress. With `route_voids`, voids of statements applied in an earlier batch are not
        applied here but returned as refreshes for the target's learner (the consumer produces
        them onto its key: one writer per learner); without it (the rebuild) they are applied.
        """
        plans, routed = await self._plans(tenant, statements, route_voids)
        for learner, voids in (refreshes or {}).items():
            plans.setdefault(learner, Plan()).voids.update(voids)
        changes = await self.commit(tenant, plans)
        changes.refreshes += [
            LearnerRefresh(tenant, learner, frozenset(ids))
            for learner, ids in sorted(routed.items())
        ]
        return changes

    async def _plans(
        self, tenant: str, statements: Sequence[Statement], route_voids: bool
    ) -> tuple[dict[str, Plan], dict[str, set[str]]]:
        """Per learner, what to fold in here; and per learner, the voids to route to it."""
        owners = {
            str(s["id"]).lower(): learner_id(s)
            for s in statements
            if voided_target(s) is None and s.get("id")
        }
        targets = {t for s in statements if (t := voided_target(s)) is not None}
        await self._store.remember_voids(tenant, targets)
        voided = await self._store.voided_among(tenant, owners.keys())
        earlier = await self._store.owners_of(tenant, targets - owners.keys())
        plans: dict[str, Plan] = {}
        for s in statements:
            if voided_target(s) is None and s.get("id"):
                plans.setdefault(owners[str(s["id"]).lower()], Plan()).statements.append(s)
        here = {t: owners[t] for t in voided | (targets & owners.keys())}
        routed: dict[str, set[str]] = {}
        for target, learner in earlier.items():
            if route_voids:
                routed.setdefault(learner, set()).add(target)
            else:
                here[target] = learner
        for target, learner in here.items():
            plans.setdefault(learner, Plan()).voids.add(target)
        return plans, routed

    async def refresh(self, tenant: str, learners: Sequence[str]) -> Changes:
        """Recompute stored learners' summaries (registry teams may have changed)."""
        return await self.commit(tenant, {learner: Plan() for learner in learners})

    async def commit(self, tenant: str, plans: Mapping[str, Plan]) -> Changes:
        changes = Changes()
        pending = dict(plans)
        while pending:
            written, lost = await self._attempt(tenant, pending)
            changes.merge(written)
            pending = {learner: plans[learner] for learner in lost}
        return changes

    async def _attempt(self, tenant: str, plans: Mapping[str, Plan]) -> tuple[Changes, set[str]]:
        """Write the learners that change; report every touched learner's current document
        (written now, or already up to date: a re-run of a batch whose writes are done must
        produce its outputs again) and the teams it is or just was in. A document the store
        kept and another writer has changed since is lost like a refused write: it is read and
        the plan applied again, never published as it was kept."""
        docs = await self._store.load_learners(tenant, plans.keys())
        registry = await self._store.registry_teams_of(tenant, plans.keys())
        whole = await self._unsealed(tenant, plans, docs)
        now = self._clock()
        updated: list[LearnerDoc] = []
        current: list[LearnerDoc] = []
        for learner, plan in sorted(plans.items()):
            old = docs.get(learner) or LearnerDoc.empty(tenant, learner)
            new = self._next(old, plan, registry.get(learner, set()), now, whole.get(learner))
            if new is not None:
                updated.append(new)
            elif old.version:
                current.append(old)
        lost = await self._store.save_learners(updated, now)
        lost |= await self._store.stale_among(tenant, current)  # kept, changed since elsewhere
        current = [d for d in current if d.learner not in lost]
        written = [d for d in updated if d.learner not in lost]
        changes = Changes(learners=sorted([*written, *current], key=lambda d: d.learner))
        for doc in changes.learners:
            previous = docs.get(doc.learner)
            left = previous.teams_left if previous and previous is not doc else ()
            for team in {*doc.teams, *doc.teams_left, *left}:
                changes.members.setdefault((tenant, team), set()).add(doc.learner)
        return changes, lost

    async def _unsealed(
        self, tenant: str, plans: Mapping[str, Plan], docs: Mapping[str, LearnerDoc]
    ) -> dict[str, LearnerState]:
        """The whole states (sealed facts back in) of the learners whose plan concerns one of
        their sealed facts: a statement under a sealed id, or a void of one."""
        concerned: dict[str, str] = {}  # statement id -> learner
        for learner, plan in plans.items():
            doc = docs.get(learner)
            if doc is not None and doc.state.sealed.through is not None:
                concerned |= dict.fromkeys(_maybe_sealed(doc.state, plan), learner)
        if not concerned:
            return {}
        found = await self._store.sealed_among(tenant, concerned.keys())
        whole: dict[str, LearnerState] = {}
        for learner in sorted({concerned[i] for i in found}):
            doc = docs[learner]
            whole[learner] = unseal(doc.state, await self._store.sealed_facts(doc))
        return whole

    def _next(
        self,
        old: LearnerDoc,
        plan: Plan,
        registry_teams: set[str],
        now: datetime,
        whole: LearnerState | None = None,
    ) -> LearnerDoc | None:
        """The learner's next document, or None when nothing changes. `whole`: the learner's
        state with its sealed facts back, when the plan concerns one of them."""
        if old.version == 0 and not plan.statements and not plan.voids:
            return None  # a registry member without statements has no progress document
        start = whole if whole is not None else old.state
        state = start
        for statement in plan.statements:
            state = apply(state, statement)
        for target in sorted(plan.voids):
            state = void(state, target)
        resealed = whole is not None and state != whole
        sealing: list[StatementFacts] = []
        if whole is not None and not resealed:
            state = old.state  # the sealed facts it concerned were equal: nothing to redo
        elif resealed or len(state.facts) > self._held_facts:
            state, sealing = seal(state, self._held_facts // 2)
        summary = {
            **summarize_learner(state, now.date(), registry_teams=registry_teams),
            "tenant": old.tenant,
        }
        unchanged = state == old.state and comparable(summary) == comparable(old.summary)
        if old.version and unchanged:
            return None
        return old.successor(state, summary, summary["teams"], sealing=sealing, resealed=resealed)


def _maybe_sealed(state: LearnerState, plan: Plan) -> list[str]:
    """The statement ids of a plan that may be among the state's sealed facts."""
    ids = [t for t in plan.voids if state.might_hold_sealed(t)]
    for statement in plan.statements:
        facts = facts_from_statement(statement)
        if facts is not None and state.might_hold_sealed(facts.id, facts.sort_key()):
            ids.append(facts.id)
    return ids


class LearnerProgressHandler(NoWatermarks):
    """Runner handler of the `progress` consumer (group `<prefix>-progress`)."""

    name = "progress"

    def __init__(
        self,
        store: LearnerProgressState,
        clock: Clock,
        *,
        prefix: str = "",
        max_value_bytes: int = MAX_VALUE_BYTES,
        erased: ErasedAgents | None = None,  # erased learners (docs/erasure.md)
        held_facts: int = DEFAULT_HELD_FACTS,  # LRS_PROGRESS_HELD_FACTS
    ) -> None:
        self._erased = erased
        self._store = store
        self._clock = clock
        self._prefix = prefix  # the settings' topic prefix
        self._max_value_bytes = max_value_bytes  # LRS_PROGRESS_MAX_VALUE_BYTES
        self._progress = LearnerProgress(store, clock, held_facts)
        self._ready = False

    async def handle(self, records: Sequence[Record]) -> Outcome:
        if not self._ready:
            await self._store.create_indexes()
            self._ready = True
        records = await screen_records(self._erased, records)  # erased learners' old records
        poison: list[Poison] = []
        by_tenant: dict[str, Batch] = {}
        for record in records:
            try:
                _decode_into(record, by_tenant)
            except ValueError as exc:  # UnusableMessage is one
                poison.append(Poison(record, exc))
        changes = Changes()
        for tenant, batch in sorted(by_tenant.items()):
            changes.merge(
                await self._progress.apply_statements(
                    tenant, batch.statements, batch.refreshes, route_voids=True
                )
            )
        outputs = changes.outputs(self._clock(), self._prefix, self._max_value_bytes)
        return Outcome(poison=poison, outputs=outputs)


@dataclass
class Batch:
    """One tenant's part of a batch: stored statements, and learner refreshes (ids to void)."""

    statements: list[Statement] = field(default_factory=list)
    refreshes: dict[str, set[str]] = field(default_factory=dict)


def _decode_into(record: Record, by_tenant: dict[str, Batch]) -> None:
    """Sort one record of `lrs.statements.stored` by its `ce_type`: a learner-refresh trigger
    or a stored statement (the statement-accepted envelope). ValueError: unusable."""
    kind = header(record.headers, topics.HEADER_CE_TYPE)
    if kind == topics.LEARNER_REFRESH_TYPE:
        refresh = decode_learner_refresh(record.value)
        batch = by_tenant.setdefault(refresh.tenant, Batch())
        batch.refreshes.setdefault(refresh.learner, set()).update(refresh.voids)
        return
    if kind not in (None, topics.STATEMENT_ACCEPTED_TYPE):
        raise UnusableMessage(f"unknown record type {kind!r}")
    accepted = decode_accepted(record.value)
    by_tenant.setdefault(accepted.tenant, Batch()).statements.append(accepted.statement)
