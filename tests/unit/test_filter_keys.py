"""The filter keys of a statement (lrs.adapters.mongo_store.filter_keys): every value a filter
of GET /statements compares (Communication 2.1.3, and the authority for
`statements/read/mine`) is written once, under the narrowest prefix that names it; a related
filter asks for each of its prefixes (docs/decisions/0027). Each key is an index entry."""

from __future__ import annotations

from typing import Any

from lrs.adapters.mongo_store import agent_keys, filter_keys, inheritable
from tests.support.factories import activity, agent, statement

AUTH = {"objectType": "Agent", "account": {"homePage": "http://lms.example", "name": "lms"}}


def keyed(doc: dict[str, Any]) -> list[str]:
    return filter_keys({**doc, "authority": AUTH})


def test_each_value_is_written_once_under_its_narrowest_prefix() -> None:
    doc = statement(learner="ann", obj=activity("course/1"), context=False)
    doc["context"] = {
        "instructor": agent("ian"),
        "registration": "9a8b7c6d-0000-4000-8000-000000000001",
        "contextActivities": {"parent": [activity("program/1")], "grouping": [doc["object"]]},
    }
    keys = keyed(doc)
    ann, ian = (
        "Agent|mbox:mailto:learnerann@example.org",
        "Agent|mbox:mailto:learnerian@example.org",
    )
    lms = "Agent|account:http://lms.example|lms"
    assert len(keys) == len(set(keys))
    assert [k for k in keys if k.endswith(ann)] == [f"agent|{ann}"]
    assert [k for k in keys if k.endswith(ian)] == [f"ragent|{ian}"]
    assert [k for k in keys if k.endswith(lms)] == [f"authority|{lms}"]
    course = doc["object"]["id"]
    assert [k for k in keys if k.endswith(f"|{course}")] == [f"activity|{course}"]
    assert f"ractivity|{activity('program/1')['id']}" in keys
    assert len(keys) == 7  # + verb, registration


def test_a_related_agent_filter_asks_for_every_prefix_an_agent_is_written_under() -> None:
    assert agent_keys("Agent|x") == ("ragent|Agent|x", "agent|Agent|x", "authority|Agent|x")


def test_a_referrer_inherits_the_authority_as_a_related_agent_but_not_as_its_writer() -> None:
    keys = ["agent|Agent|a", "authority|Agent|w", "authority|Group|Agent|m+Agent|n"]
    assert inheritable(keys) == ["agent|Agent|a", "ragent|Agent|w"]
