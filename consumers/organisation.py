"""Organisation progress (docs/decisions/0020-organisation-progress.md): consumers on the shared
runner.

`organisation-learners`, `organisation-teams` and `organisation-goals` read
`lrs.progress.learner`, `lrs.progress.team` and `lrs.progress.goal` and put one "recompute this
tenant" trigger per tenant of the batch on `lrs.progress.organisation-changes` (compacted, key
tenant + `organisation`): a burst of changes of one tenant becomes one trigger per batch.

`organisation-progress` reads those triggers (lingering `LRS_PROGRESS_LINGER_MS` after a
batch's first record, so a burst is one recomputation) and, like goal progress, recomputes from
the current truth: every learner's stored state and summary (`progress_learners`), the registry
(`teams`), the goal progress values (`progress_goals`) and the clock, with the pure
lrs.progress.organisation. A changed value (ignoring `as_of`) is written to
`progress_organisation` with compare-and-set on `version`; the current value is published on
`lrs.progress.organisation` in any case (a re-run publishes again). One writer per tenant (the
owner of the tenant's trigger partition), every change written before its trigger: the last
computation after the last change is right.

The clock: the value says when it changes with the time alone (`next_check_at`, the next UTC
midnight, when the day windows move). While caught up, `organisation-progress` looks every
`LRS_GOALS_CLOCK_SECONDS` for tenants whose time has come and triggers them on its own topic,
through a producer of its own (as goal-progress does).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import orjson

from consumers.clocked import DEFAULT_OPTIONS, Clock, ClockedHandler, ClockedOptions, Send
from consumers.goals import comparable
from consumers.runner import NoWatermarks, Outcome, Poison, Record
from lrs import topics
from lrs.ports.events import OutgoingMessage
from lrs.ports.organisation import OrganisationDoc, OrganisationProgressStore
from lrs.progress.organisation import summarize_organisation_progress, team_entries
from lrs.xapi.timefmt import format_timestamp, parse_timestamp

SOURCE = "/lrs/consumers/organisation"
MAX_ATTEMPTS = 32


def _headers(kind: str, tenant: str, now: datetime, ce_id: str) -> list[tuple[str, bytes]]:
    return topics.cloud_event_headers(kind, SOURCE, tenant, ce_id, format_timestamp(now))


def organisation_change_message(tenant: str, now: datetime) -> OutgoingMessage:
    """A trigger: "recompute this tenant's organisation progress" (value `{tenant}`)."""
    return OutgoingMessage(
        topics.organisation_key(tenant),
        orjson.dumps({"tenant": tenant}),
        _headers(topics.ORGANISATION_CHANGED_TYPE, tenant, now, uuid.uuid4().hex),
    )


def organisation_message(doc: OrganisationDoc, now: datetime) -> OutgoingMessage:
    """The tenant's `lrs.progress.organisation` value (organisation-progress.v1.json)."""
    ce_id = f"{doc.tenant}/organisation/{doc.version}"
    return OutgoingMessage(
        topics.organisation_key(doc.tenant),
        orjson.dumps(doc.published()),
        _headers(topics.ORGANISATION_PROGRESS_TYPE, doc.tenant, now, ce_id),
    )


def decode_tenant_ref(value: bytes | None) -> str:
    """The tenant of an organisation trigger; ValueError when it is not one."""
    doc = orjson.loads(value) if value else None
    tenant = doc.get("tenant") if isinstance(doc, Mapping) else None
    if not isinstance(tenant, str) or not tenant:
        raise ValueError("value needs a non-empty string `tenant`")
    return tenant


class OrganisationTriggersHandler(NoWatermarks):
    """Runner handler of `organisation-learners` / `-teams` / `-goals`: the tenants whose
    learner, team or goal progress changed (from the record keys; a tombstone counts too)."""

    def __init__(self, name: str, clock: Clock, *, prefix: str = "") -> None:
        self.name = name
        self._clock = clock
        self._prefix = prefix

    async def handle(self, records: Sequence[Record]) -> Outcome:
        tenants: set[str] = set()
        poison: list[Poison] = []
        for record in records:
            if record.key is None:
                continue
            try:
                tenant, _ = topics.split_key(record.key)
            except UnicodeDecodeError as exc:
                poison.append(Poison(record, exc))
                continue
            if tenant:
                tenants.add(tenant)
        now = self._clock()
        topic = self._prefix + topics.ORGANISATION_CHANGES
        outputs = [(topic, organisation_change_message(t, now)) for t in sorted(tenants)]
        return Outcome(poison=poison, outputs=outputs)


class OrganisationProgressHandler(ClockedHandler[str]):
    """Runner handler of `organisation-progress` (reads `lrs.progress.organisation-changes`);
    its clock triggers the tenants whose `next_check_at` has come (ClockedHandler)."""

    name = "organisation-progress"
    trigger_topic = topics.ORGANISATION_CHANGES

    def __init__(
        self,
        store: OrganisationProgressStore,
        clock: Clock,
        send: Send,
        *,
        options: ClockedOptions = DEFAULT_OPTIONS,
    ) -> None:
        super().__init__(store, clock, send, options)
        self._store = store

    def trigger_message(self, ref: str, now: datetime) -> OutgoingMessage:
        return organisation_change_message(ref, now)

    async def handle(self, records: Sequence[Record]) -> Outcome:
        await self._ensure_indexes()
        tenants: set[str] = set()
        poison: list[Poison] = []
        for record in records:
            try:
                tenants.add(decode_tenant_ref(record.value))
            except (ValueError, orjson.JSONDecodeError) as exc:
                poison.append(Poison(record, exc))
        current = [await self.recompute(tenant) for tenant in sorted(tenants)]
        now = self._clock()
        topic = self._prefix + topics.ORGANISATION_PROGRESS
        return Outcome(
            poison=poison, outputs=[(topic, organisation_message(d, now)) for d in current]
        )

    async def recompute(self, tenant: str) -> OrganisationDoc:
        """Recompute and store the tenant's value; its current document (written now or
        already up to date). A lost compare-and-set reads and computes again."""
        for _ in range(MAX_ATTEMPTS):
            old = await self._store.load(tenant)
            value = await self._value(tenant)
            if old.version and comparable(value) == comparable(old.value):
                return old
            new = OrganisationDoc(
                tenant, value, old.version + 1, parse_timestamp(value["next_check_at"])
            )
            if await self._store.save(new, self._clock()):
                return new
        raise RuntimeError(f"organisation progress of {tenant!r}: too many concurrent writes")

    async def _value(self, tenant: str) -> dict[str, Any]:
        learners = await self._store.learners(tenant)
        teams = team_entries(await self._store.registry(tenant), learners)
        goals = await self._store.goal_values(tenant)
        return summarize_organisation_progress(learners, teams, goals, self._clock())
