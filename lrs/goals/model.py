"""Goal definitions: who a goal belongs to, its period and its targets (pure data).

Field names follow ADL's Enterprise Learner Record Repository (IEEE P2997 work) where they fit:
`goalId`, `name`, `description`, `type` (`self` or `assigned`), `startDate`, `achievedByDate`;
the rest (`owner`, `recurrence`, `targets`, `archived`) is this LRS's own (docs/decisions/
0019-goals.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, cast

from lrs.xapi.errors import BadRequest, Issue

OwnerKind = Literal["learner", "team", "organisation"]
Recurrence = Literal["week", "month", "quarter"]
OWNER_KINDS: tuple[OwnerKind, ...] = ("learner", "team", "organisation")
RECURRENCES: tuple[Recurrence, ...] = ("week", "month", "quarter")
LEARNER_TARGET_KINDS = ("complete", "score", "learning_days", "minutes")
GROUP_TARGET_KINDS = ("members",)
GOAL_TYPES = ("self", "assigned")
MAX_OWNER_KEY_ID = 8192  # far above the ids goals and learners have


@dataclass(frozen=True, slots=True)
class Owner:
    """A learner (canonical learner id), a registry/statement team (team id) or the tenant."""

    kind: OwnerKind
    id: str | None = None

    @property
    def key(self) -> str:
        """`learner:<id>`, `team:<id>` or `organisation` (the `?owner=` query form)."""
        return "organisation" if self.kind == "organisation" else f"{self.kind}:{self.id}"

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind} if self.id is None else {"kind": self.kind, "id": self.id}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Owner:
        return cls(doc["kind"], doc.get("id"))


@dataclass(frozen=True, slots=True)
class Target:
    """One measurable target. `kind` decides which fields matter:

    * `complete`: every activity of `activities` completed (or passed, `require: "passed"`);
    * `score`: a best scaled score of at least `score` on `activity`;
    * `learning_days`: learning on `days` distinct UTC days, `per` week or per period;
    * `minutes`: `minutes` of learning (statement durations) in the period;
    * `members` (team and organisation goals): at least `share` (0..1) of the members meet
      the learner-level target `of`.
    """

    kind: str
    activities: tuple[str, ...] = ()
    require: Literal["completed", "passed"] = "completed"
    activity: str | None = None
    score: float | None = None
    days: int | None = None
    per: Literal["week", "period"] = "period"
    minutes: float | None = None
    share: float | None = None
    of: Target | None = None

    def as_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind}
        if self.kind == "complete":
            doc.update(activities=list(self.activities), require=self.require)
        elif self.kind == "score":
            doc.update(activity=self.activity, score=self.score)
        elif self.kind == "learning_days":
            doc.update(days=self.days, per=self.per)
        elif self.kind == "minutes":
            doc.update(minutes=self.minutes)
        elif self.kind == "members" and self.of is not None:
            doc.update(share=self.share, of=self.of.as_json())
        return doc


@dataclass(frozen=True, slots=True)
class Goal:
    """A goal of one tenant. `achieved_by` is the last day (inclusive, UTC) of a one-off goal,
    or the last day of the last period of a recurring one (None: it recurs for ever)."""

    tenant: str
    goal_id: str
    name: str
    owner: Owner
    start: date
    targets: tuple[Target, ...]
    achieved_by: date | None = None
    recurrence: Recurrence | None = None
    description: str | None = None
    type: str = "assigned"
    archived: bool = False
    version: int = 1
    updated: datetime | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The goal as the API returns it and `lrs.goals` carries it (schemas/goal.v1.json is
        the request body; schemas/events/goal.v1.json this value)."""
        doc: dict[str, Any] = {
            "tenant": self.tenant,
            "goalId": self.goal_id,
            "name": self.name,
            "description": self.description,
            "type": self.type,
            "owner": self.owner.as_json(),
            "startDate": self.start.isoformat(),
            "achievedByDate": self.achieved_by.isoformat() if self.achieved_by else None,
            "recurrence": self.recurrence,
            "targets": [t.as_json() for t in self.targets],
            "archived": self.archived,
            "version": self.version,
        }
        if self.updated is not None:
            doc["updated"] = self.updated.isoformat().replace("+00:00", "Z")
        return doc


def parse_owner_key(text: str) -> Owner:
    """`learner:<id>`, `team:<id>` or `organisation` (the `?owner=` parameter) as an Owner, the
    id of at most MAX_OWNER_KEY_ID characters without control characters; BadRequest naming
    `owner` and the rule `owner-key` otherwise."""
    if text == "organisation":
        return Owner("organisation")
    kind, _, oid = text.partition(":")
    plain = not any(ord(c) < 32 or ord(c) == 127 for c in oid)
    if kind in ("learner", "team") and oid and len(oid) <= MAX_OWNER_KEY_ID and plain:
        return Owner(cast(OwnerKind, kind), oid)
    message = (
        "owner: must be learner:<learner id>, team:<team id> or organisation (the id of at most"
        f" {MAX_OWNER_KEY_ID} characters, without control characters)"
    )
    raise BadRequest(message, [Issue("?owner", "owner-key", message)])
