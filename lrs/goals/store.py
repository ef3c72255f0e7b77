"""A goal as stored (the `goals` collection) and back: the API's JSON plus the keys the store
indexes by. Pure conversion; the adapter (lrs.adapters.mongo_goals) does the I/O."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from lrs.goals.model import Goal, Owner, Target


def goal_to_doc(goal: Goal) -> dict[str, Any]:
    return {
        "_id": f"{goal.tenant}/{goal.goal_id}",
        "owner_key": goal.owner.key,
        **goal.as_json(),
        "updated": goal.updated,
    }


def goal_from_doc(doc: Mapping[str, Any]) -> Goal:
    due = doc.get("achievedByDate")
    return Goal(
        tenant=doc["tenant"],
        goal_id=doc["goalId"],
        name=doc["name"],
        owner=Owner.from_json(doc["owner"]),
        start=date.fromisoformat(doc["startDate"]),
        targets=tuple(target_from_json(t) for t in doc["targets"]),
        achieved_by=date.fromisoformat(due) if due else None,
        recurrence=doc.get("recurrence"),
        description=doc.get("description"),
        type=doc.get("type", "assigned"),
        archived=bool(doc.get("archived")),
        version=int(doc.get("version", 1)),
        updated=doc.get("updated"),
    )


def target_from_json(doc: Mapping[str, Any]) -> Target:
    of = doc.get("of")
    return Target(
        kind=doc["kind"],
        activities=tuple(doc.get("activities") or ()),
        require=doc.get("require", "completed"),
        activity=doc.get("activity"),
        score=doc.get("score"),
        days=doc.get("days"),
        per=doc.get("per", "period"),
        minutes=doc.get("minutes"),
        share=doc.get("share"),
        of=target_from_json(of) if of else None,
    )
