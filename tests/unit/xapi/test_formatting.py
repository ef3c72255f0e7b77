"""GET Statements formats (xAPI Communication 2.1.3) and Accept-Language parsing."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lrs.xapi.formatting import format_statement, parse_accept_language

VERB = "http://adlnet.gov/expapi/verbs/attended"


def agent(email: str = "ann@example.com", **extra: Any) -> dict[str, Any]:
    return {"objectType": "Agent", "name": "Someone", "mbox": f"mailto:{email}", **extra}


def account_agent() -> dict[str, Any]:
    return {"name": "Acc", "account": {"homePage": "http://lms.example.com", "name": "42"}}


def lang(**texts: str) -> dict[str, str]:
    """A language map: lang(en_GB="x") -> {"en-GB": "x"}."""
    return {key.replace("_", "-"): text for key, text in texts.items()}


def verb(**texts: str) -> dict[str, Any]:
    return {"id": VERB, "display": lang(**texts) or lang(en_US="attended", en_GB="attended")}


def activity(slug: str = "a", **definition: Any) -> dict[str, Any]:
    base = {
        "name": lang(en="Other", en_GB="Name GB", en_US="Name US"),
        "description": lang(en_US="Desc US", en_GB="Desc GB"),
        "type": "http://adlnet.gov/expapi/activities/cmi.interaction",
        "moreInfo": "http://example.com/more",
        "extensions": {"http://example.com/ext": {"en-US": "not a language map"}},
    }
    return {
        "objectType": "Activity",
        "id": f"http://example.com/activities/{slug}",
        "definition": {**base, **definition},
    }


def group(*members: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"objectType": "Group", "name": "Team", "member": list(members), **extra}


def statement(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": "6f2d4a1c-3b5e-4c7d-8e9f-0a1b2c3d4e5f",
        "actor": agent(),
        "verb": verb(),
        "object": activity(),
        "result": {"success": True, "duration": "PT1S"},
        "timestamp": "2024-01-02T03:04:05.678Z",
        "stored": "2024-01-02T03:04:06.000Z",
        "authority": group(agent("app@example.com"), account_agent()),
        "version": "1.0.0",
    }
    return {**base, **extra}


def substatement(**extra: Any) -> dict[str, Any]:
    return {
        "objectType": "SubStatement",
        "actor": group(agent("bob@example.com"), mbox="mailto:team@example.com"),
        "verb": verb(),
        "object": activity("sub"),
        "context": {"contextActivities": {"parent": [activity("sub-parent")]}},
        **extra,
    }


def full_context() -> dict[str, Any]:
    return {
        "registration": "ec531277-b57b-4c15-8d91-d292c5b2b8f7",
        "instructor": agent("teacher@example.com"),
        "team": group(agent("x@example.com"), agent("y@example.com")),
        "contextActivities": {"parent": activity("p"), "category": [activity("c")]},
        "contextAgents": [{"objectType": "contextAgent", "agent": agent("ca@example.com")}],
        "contextGroups": [
            {"objectType": "contextGroup", "group": group(agent("g@example.com"), name="G")}
        ],
        "language": "en-US",
        "extensions": {"http://example.com/ext": 1},
    }


# -- exact --------------------------------------------------------------------------------------


def test_exact_returns_an_equal_independent_copy() -> None:
    original = statement(context=full_context() | {"contextActivities": {"other": [activity()]}})
    formatted = format_statement(original, "exact", ["en-GB"])
    assert formatted == original
    formatted["actor"]["name"] = "changed"
    formatted["object"]["definition"]["name"]["en"] = "changed"
    formatted["context"]["contextActivities"]["other"].append({})
    assert original["actor"]["name"] == "Someone"
    assert original["object"]["definition"]["name"]["en"] == "Other"
    assert len(original["context"]["contextActivities"]["other"]) == 1


@pytest.mark.parametrize("fmt", ["exact", "ids", "canonical"])
def test_single_context_activity_returned_as_list(fmt: str) -> None:
    original = statement(context={"contextActivities": {"parent": activity("p")}})
    parent = format_statement(original, fmt, [])["context"]["contextActivities"]["parent"]
    assert isinstance(parent, list)
    assert [item["id"] for item in parent] == ["http://example.com/activities/p"]


@pytest.mark.parametrize("fmt", ["exact", "ids", "canonical"])
def test_input_not_mutated(fmt: str) -> None:
    original = statement(object=substatement(context=full_context()), context=full_context())
    before = copy.deepcopy(original)
    format_statement(original, fmt, ["en-GB"])
    assert original == before


def test_unknown_format_rejected() -> None:
    with pytest.raises(ValueError, match="unknown statement format"):
        format_statement(statement(), "full", [])


# -- ids ----------------------------------------------------------------------------------------


def _ids(original: dict[str, Any]) -> dict[str, Any]:
    return format_statement(original, "ids", ["en-US"])


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        pytest.param(
            agent(), {"objectType": "Agent", "mbox": "mailto:ann@example.com"}, id="agent"
        ),
        pytest.param(
            {"mbox_sha1sum": "a" * 40, "name": "N"}, {"mbox_sha1sum": "a" * 40}, id="no-objecttype"
        ),
        pytest.param(
            {"openid": "http://id.example.com/x", "name": "N"},
            {"openid": "http://id.example.com/x"},
            id="openid",
        ),
        pytest.param(account_agent(), {"account": account_agent()["account"]}, id="account"),
        pytest.param(
            group(agent("b@example.com"), mbox="mailto:team@example.com"),
            {"objectType": "Group", "mbox": "mailto:team@example.com"},
            id="identified-group-drops-members",
        ),
        pytest.param(
            group(agent("b@example.com"), account_agent()),
            {
                "objectType": "Group",
                "member": [
                    {"objectType": "Agent", "mbox": "mailto:b@example.com"},
                    {"account": account_agent()["account"]},
                ],
            },
            id="anonymous-group-keeps-member-ids",
        ),
    ],
)
def test_ids_actor(actor: dict[str, Any], expected: dict[str, Any]) -> None:
    as_object = actor if "objectType" in actor else {**actor, "objectType": "Agent"}
    formatted = _ids(statement(actor=actor, object=as_object))
    assert formatted["actor"] == expected
    assert formatted["object"] == {**expected, "objectType": as_object["objectType"]}


def test_ids_verb_and_activity_keep_only_id() -> None:
    formatted = _ids(statement())
    assert formatted["verb"] == {"id": VERB}
    assert formatted["object"] == {"id": "http://example.com/activities/a"}


def test_ids_keeps_non_identifying_statement_parts() -> None:
    original = statement()
    formatted = _ids(original)
    for key in ("id", "result", "timestamp", "stored", "version"):
        assert formatted[key] == original[key]


def test_ids_reduces_authority_group_members() -> None:
    authority = _ids(statement())["authority"]
    assert authority == {
        "objectType": "Group",
        "member": [
            {"objectType": "Agent", "mbox": "mailto:app@example.com"},
            {"account": {"homePage": "http://lms.example.com", "name": "42"}},
        ],
    }


def test_ids_substatement_like_conformance_xapi_00171() -> None:
    """The shape the ADL suite checks: object.actor 2 keys, object.object 1, verbs 1."""
    sub = _ids(statement(object=substatement()))["object"]
    assert sub["objectType"] == "SubStatement"
    assert sub["actor"] == {"objectType": "Group", "mbox": "mailto:team@example.com"}
    assert sub["verb"] == {"id": VERB}
    assert sub["object"] == {"id": "http://example.com/activities/sub"}
    assert sub["context"]["contextActivities"]["parent"] == [
        {"id": "http://example.com/activities/sub-parent"}
    ]


def test_ids_context() -> None:
    context = _ids(statement(context=full_context()))["context"]
    assert context["instructor"] == {"objectType": "Agent", "mbox": "mailto:teacher@example.com"}
    assert [m["mbox"] for m in context["team"]["member"]] == [
        "mailto:x@example.com",
        "mailto:y@example.com",
    ]
    assert "name" not in context["team"]
    assert context["contextActivities"] == {
        "parent": [{"id": "http://example.com/activities/p"}],
        "category": [{"id": "http://example.com/activities/c"}],
    }
    assert context["contextAgents"] == [
        {
            "objectType": "contextAgent",
            "agent": {"objectType": "Agent", "mbox": "mailto:ca@example.com"},
        }
    ]
    assert context["contextGroups"][0]["group"] == {
        "objectType": "Group",
        "member": [{"objectType": "Agent", "mbox": "mailto:g@example.com"}],
    }
    for key in ("registration", "language", "extensions"):
        assert context[key] == full_context()[key]


def test_ids_statement_ref_unchanged() -> None:
    ref = {"objectType": "StatementRef", "id": "9e13cefd-53d3-4eac-b5ed-2cf6693903bb"}
    assert _ids(statement(object=ref))["object"] == ref


# -- canonical ----------------------------------------------------------------------------------


def _canonical(original: dict[str, Any], *languages: str) -> dict[str, Any]:
    return format_statement(original, "canonical", list(languages))


def test_canonical_like_conformance_xapi_00169() -> None:
    """Accept-Language en-GB: one en-GB entry per map; agents and groups as exact."""
    original = statement(object=substatement())
    formatted = _canonical(original, "en-GB")
    assert formatted["actor"] == original["actor"]
    assert formatted["authority"] == original["authority"]
    assert formatted["verb"] == {"id": VERB, "display": {"en-GB": "attended"}}
    sub = formatted["object"]
    assert sub["actor"] == original["object"]["actor"]
    assert sub["verb"] == {"id": VERB, "display": {"en-GB": "attended"}}
    definition = sub["object"]["definition"]
    assert definition["name"] == {"en-GB": "Name GB"}
    assert definition["description"] == {"en-GB": "Desc GB"}
    for key in ("type", "moreInfo", "extensions"):
        assert definition[key] == original["object"]["object"]["definition"][key]
    parent = sub["context"]["contextActivities"]["parent"][0]
    assert parent["definition"]["name"] == {"en-GB": "Name GB"}


def test_canonical_interaction_components() -> None:
    choices = [
        {"id": "a", "description": lang(en_US="A", fr="A fr")},
        {"id": "b", "description": lang(fr="B fr", en_US="B")},
    ]
    steps = [{"id": "s", "description": lang(de="S de", en="S")}]
    original = statement(object=activity(interactionType="choice", choices=choices, steps=steps))
    definition = _canonical(original, "fr")["object"]["definition"]
    assert definition["choices"] == [
        {"id": "a", "description": {"fr": "A fr"}},
        {"id": "b", "description": {"fr": "B fr"}},
    ]
    assert definition["steps"] == [{"id": "s", "description": {"de": "S de"}}]
    assert definition["interactionType"] == "choice"


def test_canonical_attachments_and_context() -> None:
    attachment = {
        "usageType": "http://example.com/usage",
        "display": lang(en_US="Report", de="Bericht"),
        "description": lang(de="Ein Bericht", en_US="A report"),
        "contentType": "text/plain",
        "length": 1,
        "sha2": "a" * 64,
    }
    original = statement(attachments=[attachment], context=full_context())
    formatted = _canonical(original, "de-AT", "en")
    assert formatted["attachments"][0]["display"] == {"de": "Bericht"}
    assert formatted["attachments"][0]["description"] == {"de": "Ein Bericht"}
    assert formatted["attachments"][0]["sha2"] == "a" * 64
    category = formatted["context"]["contextActivities"]["category"][0]
    assert category["definition"]["name"] == {"en": "Other"}
    assert formatted["context"]["team"] == original["context"]["team"]


def test_canonical_without_definition_or_display() -> None:
    bare = {"objectType": "Activity", "id": "http://example.com/bare"}
    original = statement(object=bare, verb={"id": VERB})
    formatted = _canonical(original, "en")
    assert formatted["object"] == bare
    assert formatted["verb"] == {"id": VERB}


@pytest.mark.parametrize(
    ("languages", "keys", "expected"),
    [
        pytest.param(["en-GB"], ["en", "en-US", "en-GB"], "en-GB", id="exact-over-prefix"),
        pytest.param(["EN-gb"], ["fr", "en-GB"], "en-GB", id="case-insensitive"),
        pytest.param(["en"], ["fr", "en-US"], "en-US", id="range-prefix-of-tag"),
        pytest.param(["en-GB"], ["fr", "en"], "en", id="tag-prefix-of-range"),
        pytest.param(["en-GB"], ["fr", "en-US"], "en-US", id="sibling-as-fallback"),
        pytest.param(["fr", "en"], ["en", "fr-CA"], "fr-CA", id="first-range-wins"),
        pytest.param(
            ["en-GB", "en-US"], ["en-AU", "en-US"], "en-US", id="second-exact-beats-sibling"
        ),
        pytest.param(["en-GB", "fr"], ["fr", "en"], "en", id="truncation-beats-later-range"),
        pytest.param(["en-GB", "fr"], ["fr", "en-US"], "fr", id="later-range-beats-sibling"),
        pytest.param(["de-AT", "en"], ["en-US", "de"], "de", id="lookup-before-next-range"),
        pytest.param(["de"], ["fr", "en"], "fr", id="no-match-first-entry"),
        pytest.param([], ["ja", "en"], "ja", id="no-languages-first-entry"),
        pytest.param(["*"], ["ko", "en"], "ko", id="wildcard-first-entry"),
        pytest.param(["zh-Hant-TW"], ["zh-Hans", "zh-Hant"], "zh-Hant", id="multi-subtag"),
        pytest.param(["e"], ["fr", "en"], "fr", id="no-partial-subtag-match"),
    ],
)
def test_canonical_language_choice(languages: list[str], keys: list[str], expected: str) -> None:
    display = {key: f"text {key}" for key in keys}
    formatted = format_statement(
        statement(verb={"id": VERB, "display": display}), "canonical", languages
    )
    assert formatted["verb"]["display"] == {expected: f"text {expected}"}


def test_canonical_single_language_kept() -> None:
    formatted = _canonical(statement(verb={"id": VERB, "display": {"ja-JP": "x"}}), "en")
    assert formatted["verb"]["display"] == {"ja-JP": "x"}


# -- Accept-Language ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        ("", []),
        ("en-US", ["en-US"]),
        ("en-US,en;q=0.8", ["en-US", "en"]),
        ("fr;q=0.5, de, en;q=0.9", ["de", "en", "fr"]),
        ("*, en;q=0.1", ["en", "*"]),
        ("*;q=1, fr;q=0.2, de;q=0.2", ["fr", "de", "*"]),
        ("en;q=0, fr", ["fr"]),
        ("en;q=abc, fr", ["fr"]),
        ("en;q=1.5, fr", ["fr"]),
        ("en;q=0.1234, fr", ["fr"]),
        ("en;level=1, fr", ["fr"]),
        ("en_US, 12, en--x, fr", ["fr"]),
        ("en-US;Q=0.5 , fr-CA ; q=0.7", ["fr-CA", "en-US"]),
        ("en, EN;q=0.3, fr;q=0.5", ["en", "fr"]),
        (" , ,de,, ", ["de"]),
        ("zh-Hant-TW;q=0.9,x-pirate", ["x-pirate", "zh-Hant-TW"]),
        ("en;q=1.000,fr;q=0.", ["en"]),
    ],
)
def test_parse_accept_language(header: str | None, expected: list[str]) -> None:
    assert parse_accept_language(header) == expected
