"""Realistic statements for tests and benchmarks, built from small parts (no 40-line literals).

The one statement factory of the tests. Every builder returns a fresh dict, so tests can mutate
what they get. `statement()` is what a course player sends; `full_statement()` uses every part
of a statement, valid in xAPI 1.0.3 and 2.0.0 alike; `stmt()` is a statement as progress reads
it (an Activity by id, a time, parents, a team).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

Json = dict[str, Any]

ADL_VERBS = "http://adlnet.gov/expapi/verbs/"
INTERACTION_TYPE = "http://adlnet.gov/expapi/activities/cmi.interaction"
ALGEBRA = "https://lms.example.org/courses/algebra-1"
ADL = "http://adlnet.gov/expapi/verbs/"
CMI5 = "https://w3id.org/xapi/adl/verbs/"
COURSE = "https://content.example.org/course/1"
MODULE_A = "https://content.example.org/course/1/module/a"
MODULE_B = "https://content.example.org/course/1/module/b"
PROGRAM = "https://content.example.org/program/1"

VERBS = {
    name: f"http://adlnet.gov/expapi/verbs/{name}"
    for name in ("attempted", "experienced", "completed", "passed", "failed", "answered", "voided")
}


def agent(
    n: int | str = 1, *, ifi: str = "mbox", object_type: bool = True, **extra: Any
) -> dict[str, Any]:
    """Learner `n`, identified by one inverse functional identifier of kind `ifi`."""
    email = f"mailto:learner{n}@example.org"
    ids: dict[str, Any] = {
        "mbox": email,
        "mbox_sha1sum": hashlib.sha1(email.encode()).hexdigest(),
        "openid": f"https://openid.example.org/learner{n}",
        "account": {
            "homePage": "https://lms.example.org",
            "name": f"learner-{n:05d}" if isinstance(n, int) else f"learner-{n}",
        },
    }
    out: dict[str, Any] = {"objectType": "Agent"} if object_type else {}
    out.update({"name": f"Learner {n}", ifi: ids[ifi]}, **extra)
    return out


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


def group(*members: int, name: str | None = None, ifi: str | None = None) -> Json:
    """A Group of the learners `members`: identified by an account named `name`, or by the
    `ifi` kind given (`mbox`, `account`), else anonymous."""
    out: Json = {"objectType": "Group", "member": [agent(n) for n in members]}
    if name:
        out["account"] = {"homePage": "https://lms.example.org", "name": name}
    elif ifi == "account":
        out["account"] = {"homePage": "https://lms.example.org", "name": "team-euler"}
    elif ifi == "mbox":
        out["mbox"] = "mailto:team-euler@example.org"
    return out


def verb(name: str = "completed", *, display: bool = True) -> Json:
    out: Json = {"id": ADL_VERBS + name}
    if display:
        out["display"] = {"en-US": name, "fr-FR": name}
    return out


def lesson(path: str = "lesson-1", *, definition: Json | None = None) -> Json:
    """An Activity of the algebra course, with a full definition unless one is given."""
    out: Json = {"objectType": "Activity", "id": f"{ALGEBRA}/{path}"}
    out["definition"] = (
        definition
        if definition is not None
        else {
            "name": {"en-US": f"Algebra 1: {path}"},
            "description": {"en-US": "A short lesson on linear equations."},
            "type": "http://adlnet.gov/expapi/activities/lesson",
            "moreInfo": f"{ALGEBRA}/{path}/info",
        }
    )
    return out


def components(*ids: str) -> list[Json]:
    return [{"id": cid, "description": {"en-US": f"Option {cid}"}} for cid in ids]


def interaction(kind: str, pattern: list[str] | None = None, **lists: list[Json]) -> Json:
    """An interaction Activity definition of ``interactionType`` ``kind``."""
    definition: Json = {
        "name": {"en-US": f"Question ({kind})"},
        "description": {"en-US": "Answer the question."},
        "type": INTERACTION_TYPE,
        "interactionType": kind,
    }
    if pattern is not None:
        definition["correctResponsesPattern"] = pattern
    definition.update(lists)
    return lesson(f"q-{kind}", definition=definition)


def scored_result(*, raw: float = 42, low: float = 0, high: float = 50) -> Json:
    return {
        "score": {"scaled": max(-1.0, min(1.0, raw / high)), "raw": raw, "min": low, "max": high},
        "success": True,
        "completion": True,
        "response": "x = 4",
        "duration": "PT4M35.5S",
        "extensions": {"https://lms.example.org/xapi/ext/attempts": 2},
    }


def full_context(*, registration: str | None = None) -> Json:
    return {
        "registration": registration or str(uuid.uuid4()),
        "instructor": agent(99),
        "team": group(1, 2),
        "contextActivities": {
            "parent": [lesson("unit-2")],
            "grouping": [{"id": ALGEBRA}],
            "category": [{"id": "https://w3id.org/xapi/cmi5/context/categories/cmi5"}],
        },
        "revision": "r3",
        "platform": "Example LMS",
        "language": "en-US",
        "statement": {"objectType": "StatementRef", "id": str(uuid.uuid4())},
        "extensions": {"https://lms.example.org/xapi/ext/session": {"device": "tablet"}},
    }


def attachment() -> Json:
    return {
        "usageType": "http://adlnet.gov/expapi/attachments/signature",
        "display": {"en-US": "Certificate"},
        "description": {"en-US": "Completion certificate"},
        "contentType": "application/pdf",
        "length": 20480,
        "sha2": hashlib.sha256(b"certificate").hexdigest(),
        "fileUrl": "https://files.example.org/cert.pdf",
    }


def full_statement(**overrides: Any) -> Json:
    """A full, valid statement; ``overrides`` replace (or, set to ``...``, drop) properties."""
    out: Json = {
        "id": str(uuid.uuid4()),
        "actor": agent(),
        "verb": verb(),
        "object": lesson(),
        "result": scored_result(),
        "context": full_context(),
        "timestamp": "2024-05-17T09:31:22.123Z",
    }
    for key, value in overrides.items():
        if value is ...:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def minimal_statement() -> Json:
    return {"actor": agent(), "verb": verb(), "object": lesson()}


def substatement(**overrides: Any) -> Json:
    """A SubStatement object (no id/stored/version/authority)."""
    inner = full_statement(id=..., **overrides)
    inner["objectType"] = "SubStatement"
    return inner


# --- statements as progress reads them -------------------------------------------------------


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


def voided_by_admin(target_id: str, *, at: str = "2026-11-21T00:00:00Z") -> dict[str, Any]:
    """A voiding statement (Data 2.3.2), sent by an administrator."""
    return {
        "id": str(uuid.uuid4()),
        "actor": agent("admin"),
        "verb": {"id": ADL + "voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target_id},
        "timestamp": at,
        "stored": at,
    }
