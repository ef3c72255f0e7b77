"""Organisation progress (`GET /progress/organisation` and its live stream): the value the
organisation-progress consumer last stored for the caller's tenant (docs/organisation.md,
docs/decisions/0020-organisation-progress.md). Same scopes as every progress read.

With a period (`?period=`, `?from=&to=`): what the organisation did in it, recomputed at read
time (`organisation_in_period`)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from lrs import topics
from lrs.goals.periods import ReviewPeriod
from lrs.ports.credentials import Principal
from lrs.ports.organisation import OrganisationReader
from lrs.progress.organisation import (
    learner_figures,
    summarize_organisation_progress,
    team_entries,
)
from lrs.services.goals import GoalDeps
from lrs.services.progress import (
    ProgressDeps,
    StreamEvent,
    Watches,
    authorize_read,
    follow_hub,
)
from lrs.services.progress_hub import Change
from lrs.services.progress_periods import goals_in_period, read_in_period
from lrs.services.progress_views import ProgressSource, statement_teams
from lrs.xapi.errors import NotFound

ORGANISATION_EVENT = "organisation-progress"


async def organisation_progress(reader: OrganisationReader, who: Principal) -> dict[str, Any]:
    """GET /progress/organisation: the consumer's last value for the caller's tenant."""
    authorize_read(who)
    value = await reader.read_organisation(who.tenant)
    if value is None:
        raise NotFound(
            "no organisation progress yet: it is computed after the first learner, team or"
            " goal progress change of the tenant"
        )
    return value


async def organisation_in_period(
    source: ProgressSource,
    goals: GoalDeps,
    who: Principal,
    period: ReviewPeriod,
    *,
    max_learners: int,
    max_statements: int,
) -> dict[str, Any]:
    """GET /progress/organisation?period=...: the pure model (lrs.progress.organisation) over
    each learner's live statements in the period (`read_in_period`, under its statement cap),
    the teams as they are now, and the goals of the period with the status they ended with
    (`period_goals`), as of the period's end (now while it runs). At most `max_learners`
    learners, the most recently changed (`learners_truncated` says when there are more)."""
    authorize_read(who)
    tenant = who.tenant
    listed = await source.progress.summaries(tenant, max_learners + 1)
    learners = [str(s["learner"]) for s in listed[:max_learners]]
    read = await read_in_period(source, tenant, learners, period, max_statements=max_statements)
    figures = [
        learner_figures(r.state, r.view["activities"], statement_teams(r.doc.state))
        for r in read.values()
    ]
    registry = await source.registry.list_teams(tenant)
    teams = team_entries([(t.team, t.name, t.members) for t in registry], figures)
    ended = period_goals(
        await goals_in_period(goals, source, who, None, period, max_statements=max_statements)
    )
    value = summarize_organisation_progress(figures, teams, ended, period.as_of(source.clock()))
    del value["next_check_at"]  # a period's figures do not move with the clock
    return {
        **value,
        "tenant": tenant,
        "period": period.as_json(),
        "learners_truncated": len(listed) > max_learners,
    }


def period_goals(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The goals of a period (`goals_in_period`) each with the status its last goal period in
    the asked one ended with (the current status while that runs); a goal with no such
    outcome (an organisation goal's older recurring periods, not recomputed) is left out."""
    return [{**g, "status": g["outcomes"][-1]["status"]} for g in listed if g.get("outcomes")]


def open_organisation_stream(
    reader: OrganisationReader, live: ProgressDeps, who: Principal
) -> AsyncIterator[StreamEvent]:
    """`GET /progress/organisation/stream`: an `organisation-progress` event with the value now
    (when there is one), then one per newer `version`, with keep-alive comments. Subscribes
    before reading the snapshot, so nothing in between is lost or sent twice. The event id is
    the version. Authorization is checked now, before the response starts."""
    authorize_read(who)
    return _stream(reader, live, who.tenant)


def _stream(
    reader: OrganisationReader, live: ProgressDeps, tenant: str
) -> AsyncIterator[StreamEvent]:
    sent = [0]

    async def snapshot() -> list[StreamEvent]:
        value = await reader.read_organisation(tenant)
        if value is None:
            return [StreamEvent(comment="no organisation progress yet")]
        return [_event(value) if _newer(value, sent) else StreamEvent(comment="up to date")]

    async def on_change(item: Change) -> list[StreamEvent]:
        return [_event(item.value)] if _newer(item.value, sent) else []

    watches: Watches = (tenant, [("organisation", [topics.ORGANISATION_ENTITY])])
    return follow_hub(live, watches, snapshot, on_change)


def _event(value: Mapping[str, Any]) -> StreamEvent:
    return StreamEvent(ORGANISATION_EVENT, value, id=str(value.get("version")))


def _newer(value: Mapping[str, Any], sent: list[int]) -> bool:
    """True (and remembered) when the value's version is above the last one sent."""
    version = value.get("version")
    if not isinstance(version, int) or version <= sent[0]:
        return False
    sent[0] = version
    return True
