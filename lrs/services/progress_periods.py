"""Progress in a period, for growth talks (`?period=` or `?from=&to=`, docs/goals.md "Periods
for growth talks"): what a learner, a team or any set of learners did in it, and how the goals
of that period ended.

What was done in a period is recomputed at read time by the pure progress model
(lrs.progress.summarize_learner) over the learner's live statements whose timestamp falls in
the period, both ends inclusive (lrs.goals.periods.ReviewPeriod). Those statements are read from
the learner's stored progress STATE (`progress_learners.state`): the facts of exactly the
learner's statements that are not voided, each with its timestamp, kept by the learner-progress
consumer (docs/decisions/0006). It is the input the live views (0007) and goal progress (0019)
read too, so a period view, the live view and a goal over the same days agree, and reading it
is one point query per learner (one `$in` query for many), on the `_id` index, whatever the
period. The statements collection keeps no timestamp field, only `stored` (0015), which does not
bound a timestamp (a statement may be sent years after it happened).

Bounds: the statements in the period, over every learner of one view, are counted before any
summary is made; more than LRS_PERIOD_VIEW_MAX_STATEMENTS is a 400 naming that setting and
asking for a shorter period (the request asks for more than the LRS recomputes at once; the
client can fix it, hence 400 rather than 413, which is about the request's own size).

Team membership is the team's as it is now (registry members and learners whose live
statements name the team), not as it was in the period: the registry keeps no history.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from lrs.goals import Goal
from lrs.goals.evaluate import ended_period
from lrs.goals.model import parse_owner_key
from lrs.goals.periods import Period, ReviewPeriod, current_period, midnight, previous_period
from lrs.ports.credentials import Principal
from lrs.ports.progress import LearnerProgressDoc
from lrs.progress.model import LearnerState, summarize_learner
from lrs.services.goals import GoalDeps
from lrs.services.progress import authorize_read
from lrs.services.progress_views import (
    Candidate,
    ProgressSource,
    assemble_team,
    read_roster,
    statement_teams,
)
from lrs.xapi.errors import BadRequest, Issue, NotFound

MAX_STATEMENTS_RULE = "period-view-max-statements"


def within(state: LearnerState, period: ReviewPeriod) -> LearnerState:
    """The learner's live facts whose timestamp falls in the period."""
    low, high = period.bounds()
    facts = {sid: f for sid, f in state.whole().facts.items() if low <= f.at <= high}
    return LearnerState(state.learner, facts, state.voided)


def states_within(
    docs: Mapping[str, LearnerProgressDoc], period: ReviewPeriod, max_statements: int
) -> dict[str, LearnerState]:
    """Each learner's state cut to the period; BadRequest when together they hold more than
    `max_statements` statements."""
    states = {lr: within(LearnerState.from_dict(doc.state), period) for lr, doc in docs.items()}
    held = sum(len(s.facts) for s in states.values())
    if held > max_statements:
        message = (
            f"period: {held} statements fall in {period.label}, more than a period view"
            f" recomputes (LRS_PERIOD_VIEW_MAX_STATEMENTS = {max_statements}); ask for a"
            " shorter period"
        )
        raise BadRequest(message, [Issue("?period", MAX_STATEMENTS_RULE, message)])
    return states


def period_view(
    state: LearnerState,
    doc: LearnerProgressDoc,
    tenant: str,
    registry_teams: Collection[str],
    period: ReviewPeriod,
    now: datetime,
) -> dict[str, Any]:
    """A learner's view in the period: the live view's shape (streaks counted up to the end
    of the period, or today while it runs) plus `period`."""
    as_of = period.as_of(now).date()
    summary = summarize_learner(state, as_of, registry_teams=sorted(registry_teams))
    return {**summary, "tenant": tenant, "version": doc.version, "period": period.as_json()}


@dataclass(frozen=True, slots=True)
class InPeriod:
    """One learner read for a period: the stored progress, its state cut to the period and
    what the learner did in it (`period_view`)."""

    doc: LearnerProgressDoc
    state: LearnerState
    view: dict[str, Any]


async def whole_learners(
    source: ProgressSource, tenant: str, learners: Sequence[str]
) -> dict[str, LearnerProgressDoc]:
    """The learners' stored progress with every live fact in their states (a period needs the
    facts in it, sealed ones too: docs/decisions/0025); none asked, none read."""
    return await source.progress.whole_learners(tenant, learners) if learners else {}


async def read_in_period(
    source: ProgressSource,
    tenant: str,
    learners: Collection[str],
    period: ReviewPeriod,
    *,
    max_statements: int,
) -> dict[str, InPeriod]:
    """Each of `learners` with progress, read for the period, in two queries whatever their
    number (under the cap `states_within` applies)."""
    docs = await whole_learners(source, tenant, sorted(learners))
    teams = await source.registry.teams_of_members(tenant, sorted(docs)) if docs else {}
    states = states_within(docs, period, max_statements)
    now = source.clock()
    return {
        lr: InPeriod(
            doc, states[lr], period_view(states[lr], doc, tenant, teams.get(lr, []), period, now)
        )
        for lr, doc in docs.items()
    }


async def learners_in_period(
    source: ProgressSource,
    tenant: str,
    learners: Collection[str],
    period: ReviewPeriod,
    *,
    max_statements: int,
) -> dict[str, dict[str, Any] | None]:
    """What each learner did in the period (`period_view`; None: no progress at all), in two
    queries whatever the number of learners. The building block of period views over many
    learners (a team, the organisation: `read_in_period`)."""
    found = await read_in_period(source, tenant, learners, period, max_statements=max_statements)
    return {lr: found[lr].view if lr in found else None for lr in learners}


async def learner_progress_in_period(
    source: ProgressSource,
    who: Principal,
    learner: str,
    period: ReviewPeriod,
    *,
    max_statements: int,
) -> dict[str, Any]:
    """GET /progress/learners/{id}?period=...: 404 as the live view when no progress at all."""
    authorize_read(who)
    views = await learners_in_period(
        source, who.tenant, [learner], period, max_statements=max_statements
    )
    view = views[learner]
    if view is None:
        raise NotFound(f"no progress for learner {learner!r} yet")
    return view


async def team_progress_in_period(
    source: ProgressSource,
    who: Principal,
    team: str,
    period: ReviewPeriod,
    *,
    max_statements: int,
) -> dict[str, Any]:
    """GET /progress/teams/{id}?period=...: the team summary over its current members' views
    in the period (`as_of`: the end of the period, or now while it runs) plus `period`."""
    authorize_read(who)
    tenant = who.tenant
    roster = await read_roster(source, tenant, team)
    docs = await whole_learners(source, tenant, roster.candidates)
    teams = await source.registry.teams_of_members(tenant, sorted(docs)) if docs else {}
    states = states_within(docs, period, max_statements)
    now = source.clock()
    candidates = {
        lr: Candidate(
            period_view(states[lr], doc, tenant, teams.get(lr, []), period, now),
            team in statement_teams(doc.state),  # membership now: every live statement
        )
        for lr, doc in docs.items()
    }
    for learner in roster.candidates:
        candidates.setdefault(learner, Candidate(None, False))
    view = assemble_team(tenant, team, roster, candidates, period.as_of(now))
    if not view.exists or view.summary is None:
        raise NotFound(f"no team {team!r} (neither in the registry nor in any statement)")
    return {**view.summary, "period": period.as_json()}


# ------------------------------------------------------------------------ goals of a period

MAX_OLDER_PERIODS = 60  # older periods of one recurring goal recomputed for one answer


async def goals_in_period(
    deps: GoalDeps,
    source: ProgressSource,
    who: Principal,
    owner: str | None,
    period: ReviewPeriod,
    *,
    max_statements: int,
) -> list[dict[str, Any]]:
    """GET /progress/goals?period=...[&owner=...]: the goals (archived ones too, as without a
    period) whose days overlap the period, each its published value plus `outcomes` and
    `outcomes_complete` (`period_outcomes`; older periods of learner and team goals
    recomputed, `older_outcomes`)."""
    authorize_read(who)
    key = parse_owner_key(owner).key if owner is not None else None
    goals = {g.goal_id: g for g in await deps.store.list_goals(who.tenant, key, archived=True)}
    now = deps.clock()
    listed = []
    for value in await deps.progress.read_progress(who.tenant, key):
        goal = goals.get(str(value.get("goalId")))
        if goal is None or not period.overlaps(goal_days(goal)):
            continue
        found = period_outcomes(goal, value, period, now)
        if not found["outcomes_complete"]:
            found = await older_outcomes(source, goal, value, found, period, max_statements)
        listed.append({**value, **found})
    return listed


def goal_days(goal: Goal) -> Period:
    """Every day a goal measures: from `startDate` to `achievedByDate` (for ever, for a
    recurring goal without one)."""
    return Period(goal.start, goal.achieved_by or date.max)


def published_periods(value: Mapping[str, Any]) -> list[tuple[Period, Mapping[str, Any]]]:
    """The goal periods a published value holds, oldest first, each with its entry: the
    previous period (recurring goals) and the current one."""
    held = []
    for entry in (value.get("previous_period"), value):
        if isinstance(entry, Mapping) and isinstance(entry.get("period"), Mapping):
            days = entry["period"]
            start, end = date.fromisoformat(days["start"]), date.fromisoformat(days["end"])
            held.append((Period(start, end), entry))
    return held


def period_outcomes(
    goal: Goal, value: Mapping[str, Any], period: ReviewPeriod, now: datetime
) -> dict[str, Any]:
    """How the goal's periods overlapping the asked one ended, from the published value
    (lrs.progress.goal): its current period and, for a recurring goal, `previous_period`.

    `outcomes` lists those of the two that overlap, oldest first, each `{period, status,
    percentage, final, source: "published"}`; `final` is true once the goal period is over (its
    status then is `achieved` or `missed`, as published by the goal-progress consumer at the
    end), false while it runs (the current status). `outcomes_complete` is false when the asked
    period reaches back before the previous period (and the goal was running then): the
    published value no longer holds those.
    """
    held = published_periods(value)
    outcomes = [
        {
            "period": days.as_json(),
            "status": entry.get("status"),
            "percentage": entry.get("percentage"),
            "final": now.date() > days.last_day,
            "source": "published",
        }
        for days, entry in held
        if period.overlaps(days)
    ]
    first_kept = held[0][0].first_day if held else None
    return {"outcomes": outcomes, "outcomes_complete": _kept_all(goal, period, first_kept)}


def _kept_all(goal: Goal, period: ReviewPeriod, first_kept: date | None) -> bool:
    """Whether the published periods (from `first_kept` on) cover every day of the goal in the
    asked period (a one-off goal has one period: the published one)."""
    if goal.recurrence is None or not period.overlaps(goal_days(goal)):
        return True
    first_asked = max(period.start.date(), goal.start)
    return first_kept is not None and first_asked >= first_kept


def older_periods(
    goal: Goal, first_kept: Period, period: ReviewPeriod
) -> tuple[list[Period], bool]:
    """A recurring goal's periods before `first_kept` that overlap the asked period, oldest
    first, at most MAX_OLDER_PERIODS (the most recent ones); and whether that is all of them."""
    older: list[Period] = []
    if first_kept.first_day <= goal.start:
        return older, True
    day = min(period.last.date(), first_kept.first_day - timedelta(days=1))
    earlier: Period | None = current_period(goal, midnight(day))  # not a walk from the kept
    while earlier is not None and earlier.last_day >= period.start.date():
        if len(older) == MAX_OLDER_PERIODS:
            return older[::-1], False
        if period.overlaps(earlier):
            older.append(earlier)
        earlier = previous_period(goal, earlier)
    return older[::-1], True


async def older_outcomes(
    source: ProgressSource,
    goal: Goal,
    value: Mapping[str, Any],
    found: dict[str, Any],
    period: ReviewPeriod,
    max_statements: int,
) -> dict[str, Any]:
    """`found` with the older periods of a learner or team goal recomputed (`source:
    "recomputed"`, `final`) by the goal evaluation (lrs.goals.evaluate.ended_period) over the
    members' stored states: the members as they are now, as the published previous period
    counts them. An organisation goal's older periods are not recomputed here (every learner
    of the tenant would be read)."""
    held = published_periods(value)
    if goal.owner.kind == "organisation" or not held:
        return found
    periods, complete = older_periods(goal, held[0][0], period)
    members = await goal_members(source, goal)
    states_within(
        {m: doc for m, doc in members.items() if doc is not None}, period, max_statements
    )  # the cap of a period view: refuses when the members hold too much in the period
    states = {
        m: LearnerState.from_dict(doc.state) if doc is not None else None
        for m, doc in members.items()
    }
    recomputed = [
        {**ended_period(goal, states, days), "final": True, "source": "recomputed"}
        for days in periods
    ]
    return {"outcomes": recomputed + found["outcomes"], "outcomes_complete": complete}


async def goal_members(source: ProgressSource, goal: Goal) -> dict[str, LearnerProgressDoc | None]:
    """A learner goal's owner, or a team goal's members now (registry members and learners
    whose live statements name the team), each with their stored progress (None: none)."""
    tenant, owner = goal.tenant, goal.owner.id or ""
    if goal.owner.kind == "learner":
        docs = await whole_learners(source, tenant, [owner])
        return {owner: docs.get(owner)}
    roster = await read_roster(source, tenant, owner)
    docs = await whole_learners(source, tenant, roster.candidates)
    members = roster.listed | {
        lr for lr, doc in docs.items() if owner in statement_teams(doc.state)
    }
    return {m: docs.get(m) for m in sorted(members)}
