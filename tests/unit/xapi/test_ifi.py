"""Inverse functional identifiers (xAPI Data 2.4.2.3): one canonical string per Agent/Group."""

from __future__ import annotations

from typing import Any

import pytest

from lrs.xapi.ifi import actor_ifi, agent_ifi, group_member_ifis

SHA1 = "ebd31e95054c018b10727ccffd2ef2ec3a016ee9"
ACCOUNT = {"homePage": "http://example.com", "name": "learner-1"}


def agent(**ifi: Any) -> dict[str, Any]:
    return {"objectType": "Agent", **ifi}


def group(*members: dict[str, Any], **ifi: Any) -> dict[str, Any]:
    return {"objectType": "Group", "member": list(members), **ifi}


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        (agent(mbox="mailto:a@example.com"), "mbox:mailto:a@example.com"),
        (agent(mbox_sha1sum=SHA1), f"mbox_sha1sum:{SHA1}"),
        (agent(openid="http://openid.example.com/a"), "openid:http://openid.example.com/a"),
        (agent(account=ACCOUNT), "account:http://example.com|learner-1"),
        (group(mbox="mailto:team@example.com"), "mbox:mailto:team@example.com"),
    ],
)
def test_agent_ifi_per_property(who: dict[str, Any], expected: str) -> None:
    assert agent_ifi(who) == expected


@pytest.mark.parametrize(
    "variant",
    [
        {"mbox": "mailto:a@example.com"},
        {"objectType": "Agent", "mbox": "mailto:a@example.com", "name": "A"},
        {"name": "Someone else", "mbox": "mailto:a@example.com"},
    ],
)
def test_display_properties_do_not_change_the_ifi(variant: dict[str, Any]) -> None:
    assert agent_ifi(variant) == "mbox:mailto:a@example.com"


def test_account_ifi_ignores_key_order() -> None:
    reordered = {"name": ACCOUNT["name"], "homePage": ACCOUNT["homePage"]}
    assert agent_ifi(agent(account=reordered)) == agent_ifi(agent(account=ACCOUNT))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (agent(mbox="mailto:a@example.com"), agent(mbox="mailto:b@example.com")),
        (agent(account=ACCOUNT), agent(account={**ACCOUNT, "name": "learner-2"})),
        (agent(account=ACCOUNT), agent(account={**ACCOUNT, "homePage": "http://other.com"})),
        (agent(openid="http://x.example.com/a"), agent(mbox="mailto:http://x.example.com/a")),
    ],
)
def test_different_agents_have_different_ifis(
    first: dict[str, Any], second: dict[str, Any]
) -> None:
    assert agent_ifi(first) != agent_ifi(second)


def test_anonymous_group_has_no_ifi() -> None:
    assert agent_ifi(group(agent(mbox="mailto:a@example.com"))) is None


def test_actor_ifi_of_identified_agent_is_its_ifi() -> None:
    assert actor_ifi(agent(mbox="mailto:a@example.com")) == "mbox:mailto:a@example.com"


def test_actor_ifi_of_anonymous_group_is_its_sorted_members() -> None:
    a = agent(mbox="mailto:a@example.com")
    b = agent(account=ACCOUNT)
    expected = "group:[account:http://example.com|learner-1,mbox:mailto:a@example.com]"
    assert actor_ifi(group(a, b)) == expected
    assert actor_ifi(group(b, a)) == expected


def test_actor_ifi_of_identified_group_ignores_members() -> None:
    team = group(agent(mbox="mailto:a@example.com"), mbox="mailto:team@example.com")
    assert actor_ifi(team) == "mbox:mailto:team@example.com"


def test_actor_ifi_of_empty_anonymous_group() -> None:
    assert actor_ifi({"objectType": "Group"}) == "group:[]"


def test_group_member_ifis_lists_identified_members_in_order() -> None:
    members = [agent(mbox="mailto:b@example.com"), agent(), agent(mbox="mailto:a@example.com")]
    assert group_member_ifis(group(*members)) == [
        "mbox:mailto:b@example.com",
        "mbox:mailto:a@example.com",
    ]


def test_group_member_ifis_of_an_agent_is_empty() -> None:
    assert group_member_ifis(agent(mbox="mailto:a@example.com")) == []
