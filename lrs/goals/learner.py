"""The goals that apply to one learner, and what each says about them (pure;
docs/goals.md "A learner's goals").

A goal applies to a learner when its owner is the learner, one of the learner's teams (the
membership rule of goal progress: registry members and learners whose statements name the
team) or the organisation. Each goal progress value shown for a learner gets a `learner` block:

* the learner's own goal: `{"id", "through": "own", "meets", "targets"}` with the goal's own
  figures per target (`kind`, `value`, `target`, `percentage`, `met`);
* a team or organisation goal: `through` `team` or `organisation`, `meets` true when the learner
  is among the members meeting every target, and per `members` target `{"kind", "met"}`: whether
  the learner meets its learner-level target `of` (from the target's `members_meeting`).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from typing import Any

from lrs.xapi.errors import BadRequest, Issue

GOAL_REMOVED = "goal-removed"
MAX_LEARNER_ID = 8192  # far above any identifier a statement may carry
LEARNER_ID_FORMS = ("mbox:", "mbox_sha1sum:", "openid:", "account:", "group:[")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_learner_id(text: str, param: str = "learner") -> str:
    """A canonical learner id as progress keeps it (lrs.xapi.ifi: `mbox:mailto:...`,
    `mbox_sha1sum:...`, `openid:...`, `account:<homePage>|<name>`, `group:[...]` for an
    anonymous group); BadRequest naming `param` and the rule `learner-id` otherwise."""
    forms = text.startswith(LEARNER_ID_FORMS) and text.partition(":")[2]
    if forms and len(text) <= MAX_LEARNER_ID and not _CONTROL.search(text):
        return text
    message = (
        f"{param}: must be a learner id (mbox:mailto:..., mbox_sha1sum:..., openid:...,"
        f" account:<homePage>|<name>) of at most {MAX_LEARNER_ID} characters, without control"
        " characters"
    )
    raise BadRequest(message, [Issue(f"?{param}", "learner-id", message)])


def owner_keys_of(learner: str, teams: Collection[str]) -> set[str]:
    """The `?owner=` keys of every goal that applies to the learner."""
    return {f"learner:{learner}", "organisation", *(f"team:{team}" for team in teams)}


def owner_key_of(value: Mapping[str, Any]) -> str:
    """The `?owner=` key of a goal progress value ("" when it has no owner)."""
    owner = value.get("owner")
    if not isinstance(owner, Mapping):
        return ""
    if owner.get("kind") == "organisation":
        return "organisation"
    return f"{owner.get('kind')}:{owner.get('id')}"


def for_learner(value: Mapping[str, Any], learner: str) -> dict[str, Any]:
    """The value with its `learner` block (module docstring)."""
    targets = [t for t in value.get("targets") or () if isinstance(t, Mapping)]
    kind = str((value.get("owner") or {}).get("kind", ""))
    if kind == "learner":
        rows = [_own_row(t) for t in targets]
        block = {"through": "own", "meets": bool(rows) and all(r["met"] for r in rows)}
    else:
        rows = [
            {"kind": t.get("kind"), "met": learner in (t.get("members_meeting") or ())}
            for t in targets
        ]
        block = {"through": kind, "meets": learner in (value.get("members_meeting") or ())}
    return {**value, "learner": {"id": learner, **block, "targets": rows}}


def _own_row(target: Mapping[str, Any]) -> dict[str, Any]:
    fields = ("kind", "value", "target", "percentage", "met")
    return {name: target.get(name) for name in fields}


def removed_event(goal: str, owner: Mapping[str, Any] | None, learner: str) -> dict[str, Any]:
    """The data of a `goal-removed` stream event: the goal no longer applies to the learner
    (they left its team, or it was deleted)."""
    return {"goalId": goal, "owner": dict(owner or {}), "learner": learner}
