"""Realistic statements for tests, built from small parts (no 40-line literals)."""

from __future__ import annotations

import uuid
from typing import Any

VERBS = {
    name: f"http://adlnet.gov/expapi/verbs/{name}"
    for name in ("attempted", "experienced", "completed", "passed", "failed", "answered", "voided")
}


def agent(n: int | str = 1, **extra: Any) -> dict[str, Any]:
    return {
        "objectType": "Agent",
        "name": f"Learner {n}",
        "mbox": f"mailto:learner{n}@example.org",
        **extra,
    }


def account_agent(name: str, home: str = "https://lms.example.org") -> dict[str, Any]:
    return {"objectType": "Agent", "account": {"homePage": home, "name": name}}


def activity(path: str = "course/1", name: str = "Course 1") -> dict[str, Any]:
    return {
        "objectType": "Activity",
        "id": f"https://content.example.org/{path}",
        "definition": {
            "name": {"en-US": name},
            "type": "http://adlnet.gov/expapi/activities/course",
        },
    }


def statement(
    learner: int | str = 1,
    verb: str = "completed",
    obj: dict[str, Any] | None = None,
    *,
    with_id: bool = True,
    result: bool = True,
    context: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A statement like a course player sends: actor, verb, activity, result, context."""
    doc: dict[str, Any] = {
        "actor": agent(learner),
        "verb": {"id": VERBS.get(verb, verb), "display": {"en-US": verb}},
        "object": obj or activity(),
        "timestamp": "2026-11-20T10:15:30.250+01:00",
    }
    if with_id:
        doc["id"] = str(uuid.uuid4())
    if result:
        doc["result"] = {
            "score": {"scaled": 0.85, "raw": 85, "min": 0, "max": 100},
            "success": True,
            "completion": True,
            "duration": "PT12M30S",
        }
    if context:
        doc["context"] = {
            "registration": str(uuid.uuid4()),
            "platform": "Example LMS",
            "language": "en-US",
            "contextActivities": {"parent": [activity("program/1", "Program")]},
        }
    doc.update(extra)
    return doc


def voiding(target_id: str, learner: int | str = 1) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid4()),
        "actor": agent(learner),
        "verb": {"id": VERBS["voided"], "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target_id},
    }
