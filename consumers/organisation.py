"""Organisation progress (docs/decisions/0020-organisation-progress.md): consumers on the shared
runner.

`organisation-learners`, `organisation-teams` and `organisation-goals` read
`lrs.progress.learner`, `lrs.progress.team` and `lrs.progress.goal` and put one "recompute this
tenant" trigger per tenant of the batch on `lrs.progress.organisation-changes` (compacted, key
tenant + `organisation`): a burst of changes of one tenant becomes one trigger per batch.
`organisation-learners`' triggers name the learners whose records it read; the others' name
none (the registry and the goals' values are read for every computation anyway): an
organisation-progress instance holding every other learner's figures from its last computation
reads only the named ones (docs/decisions/0034).

`organisation-progress` reads those triggers (lingering `LRS_PROGRESS_LINGER_MS` after a
batch's first record, so a burst is one recomputation) and, like goal progress, recomputes from
the current truth: every learner's stored days and summary (`progress_learners`; only the
named ones when it holds the others', `consumers.held`), the registry (`teams`), the goal
progress values (`progress_goals`) and the clock, with the pure
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
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import orjson

from consumers.clocked import DEFAULT_OPTIONS, Clock, ClockedHandler, ClockedOptions, Send
from consumers.goals import comparable
from consumers.held import Held, Trigger, merged_triggers
from consumers.progress.messages import MAX_NAMED_LEARNERS
from consumers.runner import NoWatermarks, Outcome, Poison, Record
from lrs import topics
from lrs.metrics import ORGANISATION_RECOMPUTATIONS
from lrs.ports.events import OutgoingMessage
from lrs.ports.organisation import OrganisationDoc, OrganisationProgressStore
from lrs.progress.organisation import (
    LearnerFigures,
    summarize_organisation_progress,
    team_entries,
)
from lrs.xapi.timefmt import format_timestamp, parse_timestamp

SOURCE = "/lrs/consumers/organisation"
MAX_ATTEMPTS = 32

# About this many KB of learners' figures are held by default (LRS_ORGANISATION_HELD_MB), in
# all tenants (the least recently used tenants go first; a larger tenant is never held). A
# learner's figures take about 384 bytes, 96 per summary row and 8 per day (their strings and
# days are shared, `figures_of`; measured by bench/held_memory.py: 1.2 KB for 9.8 rows and 7
# days, 2.1 KB for 17.5 rows and 19 days, 7.6 KB for 72.5 rows and 30 days), so 64 MB hold
# some 9,000 to 50,000 learners (`_weight`).
MOST_HELD_KB = 64 * 1024
LEARNER_BYTES, ROW_BYTES, DAY_BYTES = 384, 96, 8

# A learner read by `_id` costs SecantusDB about four times one read with the tenant's index
# (measured with 2,000 learners: 224 against 59 µs of the store's CPU per learner, 2026-12-04):
# the learners held are used only when the triggers name fewer than a quarter of them.
ID_READ_COST = 4

Naming = Literal["keys", "none", "all"]  # what a trigger handler's triggers say of the learners


def _headers(kind: str, tenant: str, now: datetime, ce_id: str) -> list[tuple[str, bytes]]:
    return topics.cloud_event_headers(kind, SOURCE, tenant, ce_id, format_timestamp(now))


def organisation_change_message(
    tenant: str, now: datetime, learners: Collection[str] | None = None
) -> OutgoingMessage:
    """A trigger: "recompute this tenant's organisation progress"
    (schemas/events/organisation-changed.v1.json). `learners`, when given, are the learners
    whose stored progress changed (none: only the registry or goals did); without it, or with
    more than MAX_NAMED_LEARNERS, the trigger is plain: every learner is read."""
    value: dict[str, Any] = {"tenant": tenant}
    if learners is not None and len(learners) <= MAX_NAMED_LEARNERS:
        value["learners"] = sorted(learners)
    return OutgoingMessage(
        topics.organisation_key(tenant),
        orjson.dumps(value),
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


def decode_organisation_change(value: bytes | None) -> tuple[str, frozenset[str] | None]:
    """(tenant, the changed learners it names or None) of an organisation trigger; ValueError
    (or orjson.JSONDecodeError, one) when it is not one."""
    doc = orjson.loads(value) if value else None
    tenant = doc.get("tenant") if isinstance(doc, Mapping) else None
    if not isinstance(doc, Mapping) or not isinstance(tenant, str) or not tenant:
        raise ValueError("value needs a non-empty string `tenant`")
    learners = doc.get("learners")
    if learners is None:
        return tenant, None
    if not isinstance(learners, list) or not all(isinstance(x, str) and x for x in learners):
        raise ValueError("`learners` must be a list of learner ids")
    return tenant, frozenset(learners)


class OrganisationTriggersHandler(NoWatermarks):
    """Runner handler of `organisation-learners` / `-teams` / `-goals`: the tenants whose
    learner, team or goal progress changed (from the record keys; a tombstone counts too).
    What a trigger says of the learners (`names`): "keys", the learners of the record keys
    changed (`organisation-learners`; a tombstone, an erasure's, makes its tenant's trigger
    plain instead, so that the erased learner's id is not written again); "none", no learner
    did (`-teams`, `-goals`: the registry and the goals' values are read for every computation
    anyway); "all", the default, any may have (plain triggers: every learner is read)."""

    def __init__(self, name: str, clock: Clock, *, prefix: str = "", names: Naming = "all") -> None:
        self.name = name
        self._clock = clock
        self._prefix = prefix
        self._names = names

    async def handle(self, records: Sequence[Record]) -> Outcome:
        tenants: dict[str, set[str] | None] = {}  # tenant -> learners named (None: plain)
        poison: list[Poison] = []
        for record in records:
            if record.key is None:
                continue
            try:
                tenant, entity = topics.split_key(record.key)
            except UnicodeDecodeError as exc:
                poison.append(Poison(record, exc))
                continue
            if tenant:
                named = tenants.setdefault(tenant, None if self._names == "all" else set())
                if named is not None and self._names == "keys":
                    if record.value is None:
                        tenants[tenant] = None
                    elif entity:
                        named.add(entity)
        now = self._clock()
        topic = self._prefix + topics.ORGANISATION_CHANGES
        outputs = [
            (topic, organisation_change_message(t, now, named))
            for t, named in sorted(tenants.items())
        ]
        return Outcome(poison=poison, outputs=outputs)


def _weight(figures: Mapping[str, LearnerFigures]) -> int:
    """About what the learners' figures take in memory, in bytes."""
    return sum(
        LEARNER_BYTES + ROW_BYTES * len(f.activities) + DAY_BYTES * len(f.days)
        for f in figures.values()
    )


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
        held_kb: int = MOST_HELD_KB,  # LRS_ORGANISATION_HELD_MB
    ) -> None:
        super().__init__(store, clock, send, options)
        self._store = store
        self.held_kb = held_kb  # at most, in all tenants
        self._held: Held[LearnerFigures] = Held(_weight, held_kb * 1024)

    def trigger_message(self, ref: str, now: datetime) -> OutgoingMessage:
        return organisation_change_message(ref, now)

    async def handle(self, records: Sequence[Record]) -> Outcome:
        await self._ensure_indexes()
        self._held.follow(records)
        triggers, poison = merged_triggers(records, decode_organisation_change)
        for bad in poison:  # whatever it named is unknown
            self._held.drop_partition(bad.record.partition)
        current = [await self.recompute(t, triggers[t]) for t in sorted(triggers)]
        now = self._clock()
        topic = self._prefix + topics.ORGANISATION_PROGRESS
        return Outcome(
            poison=poison, outputs=[(topic, organisation_message(d, now)) for d in current]
        )

    async def recompute(self, tenant: str, trigger: Trigger | None = None) -> OrganisationDoc:
        """Recompute and store the tenant's value; its current document (written now or
        already up to date). A lost compare-and-set reads and computes again. `trigger` (what
        the batch's triggers say) may let the learners held be used."""
        for _ in range(MAX_ATTEMPTS):
            old = await self._store.load(tenant)
            learners, read_at = await self._learners(tenant, old.version, trigger)
            value = await self._value(tenant, [learners[k] for k in sorted(learners)])
            current = old
            if not old.version or comparable(value) != comparable(old.value):
                next_check = parse_timestamp(value["next_check_at"])
                current = OrganisationDoc(tenant, value, old.version + 1, next_check)
                if not await self._store.save(current, self._clock()):
                    continue  # (what is held gave another version: not used again)
            if trigger is not None:
                self._held.hold(tenant, trigger.partition, current.version, learners, read_at)
            ORGANISATION_RECOMPUTATIONS.labels("all" if read_at else "changed").inc()
            return current
        raise RuntimeError(f"organisation progress of {tenant!r}: too many concurrent writes")

    async def _learners(
        self, tenant: str, version: int, trigger: Trigger | None
    ) -> tuple[dict[str, LearnerFigures], datetime | None]:
        """Every learner's figures, and when they were all read (None: only the named ones
        were, the others are held). Held figures are used when the triggers all named the
        changed learners, the organisation document is still the one they gave, and fewer
        than one in ID_READ_COST of them are named."""
        now = self._clock()
        named = trigger.learners if trigger is not None else None
        held = None
        if trigger is not None and named is not None:
            held = self._held.values(tenant, version, now, trigger.partition)
        if named is None or held is None or ID_READ_COST * len(named) >= len(held):
            return {f.learner: f for f in await self._store.learners(tenant)}, now
        for learner in named:
            held.pop(learner, None)
        if named:
            held.update((f.learner, f) for f in await self._store.named_learners(tenant, named))
        return held, None

    async def _value(self, tenant: str, learners: list[LearnerFigures]) -> dict[str, Any]:
        teams = team_entries(await self._store.registry(tenant), learners)
        goals = await self._store.goal_values(tenant)
        return summarize_organisation_progress(learners, teams, goals, self._clock())
