"""Goals of a learner, a team or the whole organisation, and progress toward them, as pure
functions (no FastAPI, Kafka or MongoDB; the time is passed in). docs/goals.md describes them;
docs/decisions/0019-goals.md records the decisions."""

from lrs.goals.evaluate import AT_RISK_ALLOWANCE, STATUSES, evaluate_goal, status_of
from lrs.goals.model import Goal, Owner, Target
from lrs.goals.periods import Period, current_period
from lrs.goals.store import goal_from_doc, goal_to_doc
from lrs.goals.validation import parse_goal, validate_goal_id

__all__ = [
    "AT_RISK_ALLOWANCE",
    "STATUSES",
    "Goal",
    "Owner",
    "Period",
    "Target",
    "current_period",
    "evaluate_goal",
    "goal_from_doc",
    "goal_to_doc",
    "parse_goal",
    "status_of",
    "validate_goal_id",
]
