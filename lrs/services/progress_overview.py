"""The organisation overview (`GET /progress/overview`): every team, how many learners were
active today and in the last 7 / 30 days, and completion per course, computed now
(lrs.progress.overview) from the stored learner summaries, the stored team progress and the
team registry. Same scopes as every progress read (lrs.services.progress.authorize_read)."""

from __future__ import annotations

from typing import Any

from lrs.ports.credentials import Principal
from lrs.ports.progress import TeamProgressDoc
from lrs.progress.overview import TeamEntry, summarize_organisation
from lrs.progress.registry import Team
from lrs.services.progress import ProgressDeps, authorize_read


async def organisation_overview(
    deps: ProgressDeps, who: Principal, max_learners: int
) -> dict[str, Any]:
    """At most `max_learners` learners are counted (the most recently changed ones); the
    answer says `learners_truncated` when the tenant has more."""
    authorize_read(who)
    summaries = await deps.progress.summaries(who.tenant, max_learners + 1)
    registry = await deps.registry.list_teams(who.tenant)
    stored = await deps.progress.teams(who.tenant)
    overview = summarize_organisation(
        summaries[:max_learners], team_entries(registry, stored), deps.clock()
    )
    return {
        **overview,
        "tenant": who.tenant,
        "learners_truncated": len(summaries) > max_learners,
    }


def team_entries(registry: list[Team], stored: list[TeamProgressDoc]) -> list[TeamEntry]:
    """Registry teams (their name, their members and those statements add) and the teams only
    statements name (the name most members' statements give; a team left without members,
    such as a deleted registry team, is left out)."""
    progress = {doc.team: doc for doc in stored}
    entries = [
        TeamEntry(
            team.team,
            team.name,
            {*team.members, *(progress[team.team].members if team.team in progress else ())},
            registered=True,
        )
        for team in registry
    ]
    listed = {team.team for team in registry}
    entries += [
        TeamEntry(doc.team, doc.summary.get("name"), set(doc.members), registered=False)
        for doc in stored
        if doc.team not in listed and doc.members
    ]
    return entries
