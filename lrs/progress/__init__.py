"""Learner and team progress derived from statements, as pure functions (no I/O, no clock).

The consumers (learner-progress, team-progress) keep a `LearnerState` per learner, `apply`
each accepted statement to it, and publish `summarize_learner` / `summarize_team` values.
"""

from lrs.progress.durations import duration_seconds
from lrs.progress.facts import (
    StatementFacts,
    facts_from_statement,
    learner_id,
    team_ids_from_statement,
    voided_target,
)
from lrs.progress.model import (
    LearnerState,
    activity_summary,
    add_facts,
    apply,
    fold,
    summarize_learner,
    void,
)
from lrs.progress.team import registry_teams_for, summarize_team
from lrs.progress.verbs import VerbClass, classify_verb

__all__ = [
    "LearnerState",
    "StatementFacts",
    "VerbClass",
    "activity_summary",
    "add_facts",
    "apply",
    "classify_verb",
    "duration_seconds",
    "facts_from_statement",
    "fold",
    "learner_id",
    "registry_teams_for",
    "summarize_learner",
    "summarize_team",
    "team_ids_from_statement",
    "void",
    "voided_target",
]
