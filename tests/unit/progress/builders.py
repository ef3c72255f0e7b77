"""Statements for progress tests: one learner's course player, with the parts progress reads."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.factories import activity, agent

ADL = "http://adlnet.gov/expapi/verbs/"
CMI5 = "https://w3id.org/xapi/adl/verbs/"
COURSE = activity("course/1", "Course 1")["id"]
MODULE_A = activity("course/1/module/a", "Module A")["id"]
MODULE_B = activity("course/1/module/b", "Module B")["id"]
PROGRAM = activity("program/1", "Program")["id"]


def stmt(
    verb: str = "completed",
    obj: str = MODULE_A,
    *,
    at: str = "2026-11-20T10:00:00Z",
    learner: int = 1,
    result: dict[str, Any] | None = None,
    parents: list[str] | None = None,
    grouping: list[str] | None = None,
    team: dict[str, Any] | None = None,
    sid: str | None = None,
) -> dict[str, Any]:
    """A statement about `obj`; `verb` is a full IRI or an ADL verb name."""
    doc: dict[str, Any] = {
        "id": sid or str(uuid.uuid4()),
        "actor": agent(learner),
        "verb": {"id": verb if ":" in verb else ADL + verb, "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": obj},
        "timestamp": at,
        "stored": at,
    }
    if result is not None:
        doc["result"] = result
    context: dict[str, Any] = {}
    activities = {"parent": parents, "grouping": grouping}
    if any(activities.values()):
        context["contextActivities"] = {
            kind: [{"objectType": "Activity", "id": i} for i in ids]
            for kind, ids in activities.items()
            if ids
        }
    if team is not None:
        context["team"] = team
    if context:
        doc["context"] = context
    return doc


def voiding(target_id: str, *, at: str = "2026-11-21T00:00:00Z") -> dict[str, Any]:
    """A voiding statement (Data 2.3.2), sent by an administrator."""
    return {
        "id": str(uuid.uuid4()),
        "actor": agent("admin"),
        "verb": {"id": ADL + "voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target_id},
        "timestamp": at,
        "stored": at,
    }


def group(*members: int, name: str | None = None) -> dict[str, Any]:
    """A Group: identified by `name` as its account name, else anonymous with the members."""
    doc: dict[str, Any] = {"objectType": "Group", "member": [agent(n) for n in members]}
    if name:
        doc["account"] = {"homePage": "https://lms.example.org", "name": name}
    return doc
