"""Verb classes: what a verb means for progress (ADL vocabulary and cmi5 defined verbs).

Only the class is kept per statement, so a change to this table needs a rebuild of the progress
projection (replay the statements topic). Unknown verbs are `OTHER`: they count as activity
(the activity becomes in progress, last activity time moves) but never change an outcome.
"""

from __future__ import annotations

from enum import StrEnum

ADL = "http://adlnet.gov/expapi/verbs/"
CMI5 = "https://w3id.org/xapi/adl/verbs/"
VOIDED = ADL + "voided"


class VerbClass(StrEnum):
    """What a statement asserts about its object activity."""

    COMPLETED = "completed"  # the activity was finished (completion)
    PASSED = "passed"  # success: true
    FAILED = "failed"  # success: false
    START = "start"  # an attempt started, sent by the content itself
    LAUNCH = "launch"  # the LMS launched the content (cmi5 pairs it with `initialized`)
    OTHER = "other"  # any other activity: experienced, progressed, answered, terminated...


def _table() -> dict[str, VerbClass]:
    by_name = {
        "completed": VerbClass.COMPLETED,
        "satisfied": VerbClass.COMPLETED,  # cmi5 (sent by the LMS): moveOn criteria met
        "waived": VerbClass.COMPLETED,  # cmi5 (sent by the LMS): requirements waived
        "passed": VerbClass.PASSED,
        "mastered": VerbClass.PASSED,  # ADL: highest level of knowledge or skill
        "failed": VerbClass.FAILED,
        "attempted": VerbClass.START,
        "initialized": VerbClass.START,
        "launched": VerbClass.LAUNCH,
    }
    table: dict[str, VerbClass] = {}
    for name, verb_class in by_name.items():
        table[ADL + name] = verb_class
        table[CMI5 + name] = verb_class
    return table


VERB_CLASSES = _table()


def classify_verb(verb_id: str) -> VerbClass:
    """The class of a verb IRI; anything not listed is `OTHER`."""
    return VERB_CLASSES.get(verb_id, VerbClass.OTHER)
