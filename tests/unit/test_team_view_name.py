"""A registry team's progress carries the name an administrator gave it (REST and streams),
even when no statement named the team."""

from __future__ import annotations

from datetime import UTC, datetime

from lrs.ports.progress import TeamProgressDoc
from lrs.progress.registry import Team
from lrs.services.progress_views import Candidate, Roster, assemble_team

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def roster(registered: Team | None, stored: TeamProgressDoc | None = None) -> Roster:
    return Roster(registered=registered, stored=stored)


def test_a_registry_team_with_members_is_named_by_the_registry() -> None:
    member = "mbox:mailto:a@example.org"
    team = Team("t1", "blue", "Team Blue", NOW, members=(member,))
    candidates = {member: Candidate(view=None, names_team=False)}
    view = assemble_team("t1", "blue", roster(team), candidates, NOW)
    assert view.summary is not None
    assert view.summary["name"] == "Team Blue"
    assert view.name == "Team Blue"


def test_a_team_only_statements_named_keeps_no_registry_name() -> None:
    view = assemble_team("t1", "green", roster(None), {}, NOW)
    assert view.summary is None
    assert view.name is None
