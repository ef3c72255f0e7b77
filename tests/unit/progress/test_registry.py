"""The team registry's pure rules."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lrs.progress import registry as r
from lrs.xapi.errors import BadRequest
from tests.support.factories import agent

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def test_ids_from_names_are_url_safe_slugs() -> None:
    assert r.parse_create({"name": "  Sales EMEA — Ünïcode! "}) == (
        "registry:sales-emea-unicode",
        "Sales EMEA — Ünïcode!",
    )
    assert r.parse_create({"name": "x", "team": "mbox:mailto:t@x.org"})[0] == "mbox:mailto:t@x.org"


@pytest.mark.parametrize(
    "body", [[], {"name": ""}, {"name": "!!!"}, {"name": "a", "team": 3}, {"name": "a", "x": 1}]
)
def test_bad_create_bodies(body: object) -> None:
    with pytest.raises(BadRequest):
        r.parse_create(body)


def test_members_change_and_versions() -> None:
    team = r.new_team("t", "registry:a", "A", NOW)
    agents = r.parse_members({"members": [agent(2), agent(1)]}, "2.0.0")
    two = r.with_members(team, agents, NOW)
    assert two.members == ("mbox:mailto:learner1@example.org", "mbox:mailto:learner2@example.org")
    assert two.version == 2
    assert r.plus_members(two, agents[:1], NOW) is two  # nothing new: no new version
    one = r.minus_member(two, "mbox:mailto:learner2@example.org", NOW)
    assert one.members == ("mbox:mailto:learner1@example.org",)
    assert one.names == {"mbox:mailto:learner1@example.org": "Learner 1"}
    assert r.minus_member(one, "nobody", NOW) is one
    assert r.registry_value(one, deleted=True)["members"] == []


@pytest.mark.parametrize(
    "body", [{"members": [{"mbox": "x"}]}, [{"objectType": "Group", "member": []}], "nope"]
)
def test_members_must_be_agents(body: object) -> None:
    with pytest.raises(BadRequest):
        r.parse_members(body, "1.0.3")
