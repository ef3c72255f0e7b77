"""Statement comparison (xAPI Data 2.3.1) and signed-statement equivalence (Data 2.6)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from lrs.xapi.equivalence import (
    SIGNATURE_USAGE_TYPE,
    signature_equivalent,
    statements_equivalent,
)

Change = Callable[[dict[str, Any]], None]

STATEMENT_ID = "6f2d4a1c-3b5e-4c7d-8e9f-0a1b2c3d4e5f"
REGISTRATION = "ec531277-b57b-4c15-8d91-d292c5b2b8f7"
REF_ID = "9e13cefd-53d3-4eac-b5ed-2cf6693903bb"


def agent(email: str = "learner@example.com", **extra: Any) -> dict[str, Any]:
    return {"objectType": "Agent", "mbox": f"mailto:{email}", **extra}


def activity(slug: str = "course", **extra: Any) -> dict[str, Any]:
    return {"objectType": "Activity", "id": f"http://example.com/activities/{slug}", **extra}


def attachment(sha2: str = "a" * 64, **extra: Any) -> dict[str, Any]:
    return {
        "usageType": "http://example.com/usage/report",
        "display": {"en-US": "Report"},
        "contentType": "text/plain",
        "length": 12,
        "sha2": sha2,
        **extra,
    }


def statement(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": STATEMENT_ID,
        "actor": agent(name="Ann"),
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en-US": "done"}},
        "object": activity(definition={"name": {"en-US": "Course"}}),
        "result": {"completion": True, "duration": "PT1M30.12S", "score": {"raw": 1}},
        "context": {
            "registration": REGISTRATION,
            "contextActivities": {"parent": [activity("p1"), activity("p2")]},
            "statement": {"objectType": "StatementRef", "id": REF_ID},
            "extensions": {"http://example.com/ext/flag": True},
        },
        "timestamp": "2024-01-02T03:04:05.678Z",
        "stored": "2024-01-02T03:04:06.000Z",
        "authority": agent("lrs@example.com"),
        "version": "1.0.0",
    }
    return {**base, **extra}


def group(*members: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"objectType": "Group", "member": list(members), **extra}


def substatement(**extra: Any) -> dict[str, Any]:
    return {
        "objectType": "SubStatement",
        "actor": agent(),
        "verb": {"id": "http://example.com/verbs/plan", "display": {"en": "planned"}},
        "object": activity("sub"),
        "timestamp": "2024-01-02T03:04:05Z",
        **extra,
    }


def _set(path: str, value: Any) -> Change:
    """A change that sets `value` at a dotted path (list indexes allowed)."""

    def change(target: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = target
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _drop(path: str) -> Change:
    def change(target: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = target
        for part in parents:
            node = node[part]
        del node[last]

    return change


def _changed(change: Change, base: dict[str, Any] | None = None) -> dict[str, Any]:
    result = copy.deepcopy(base if base is not None else statement())
    change(result)
    return result


def _reverse_members(target: dict[str, Any]) -> None:
    items = list(target.items())
    target.clear()
    target.update(reversed(items))


EQUIVALENT: list[Any] = [
    pytest.param(lambda s: None, id="identical"),
    pytest.param(_set("stored", "2030-01-01T00:00:00Z"), id="stored-differs"),
    pytest.param(_drop("stored"), id="stored-absent"),
    pytest.param(_set("authority", agent("other@example.com")), id="authority-differs"),
    pytest.param(_drop("authority"), id="authority-absent"),
    pytest.param(_set("version", "1.0.3"), id="version-differs"),
    pytest.param(_drop("version"), id="version-absent"),
    pytest.param(_set("id", STATEMENT_ID.upper()), id="id-uppercase"),
    pytest.param(_drop("id"), id="id-absent-one-side"),
    pytest.param(_drop("timestamp"), id="timestamp-absent-one-side"),
    pytest.param(_set("timestamp", "2024-01-02T05:04:05.678+02:00"), id="timestamp-offset"),
    pytest.param(_set("timestamp", "2024-01-01T22:04:05.678-05:00"), id="timestamp-neg-offset"),
    pytest.param(_set("timestamp", "2024-01-02T03:04:05.678000Z"), id="timestamp-precision"),
    pytest.param(_set("timestamp", "2024-01-02T03:04:05.6781Z"), id="timestamp-truncated"),
    pytest.param(_set("timestamp", "2024-01-02T03:04:05.6775Z"), id="timestamp-rounded"),
    pytest.param(_set("timestamp", "2024-01-02T03:04:05.678+00:00"), id="timestamp-z-vs-00"),
    pytest.param(_set("verb.display", {"fr": "fini"}), id="verb-display-differs"),
    pytest.param(_drop("verb.display"), id="verb-display-absent"),
    pytest.param(_set("object.definition", {"name": {"en": "X"}}), id="definition-differs"),
    pytest.param(_drop("object.definition"), id="definition-absent"),
    pytest.param(_drop("object.objectType"), id="activity-objecttype-default"),
    pytest.param(_drop("actor.objectType"), id="agent-objecttype-default"),
    pytest.param(_set("actor.mbox", "mailto:learner@EXAMPLE.Com"), id="mbox-domain-case"),
    pytest.param(_set("actor.mbox", "MAILTO:learner@example.com"), id="mailto-scheme-case"),
    pytest.param(_set("context.registration", REGISTRATION.upper()), id="registration-case"),
    pytest.param(_set("context.statement.id", REF_ID.upper()), id="context-ref-case"),
    pytest.param(_set("result.duration", "PT1M30.1299S"), id="duration-sub-centisecond"),
    pytest.param(_set("result.score.raw", 1.0), id="number-1-vs-1.0"),
    pytest.param(
        _set("context.contextActivities.parent.0", activity("p1", definition={"type": "x:y"})),
        id="context-activity-definition-differs",
    ),
    pytest.param(_reverse_members, id="json-member-order"),
]

DIFFERENT: list[Any] = [
    pytest.param(_set("id", "00000000-0000-4000-8000-000000000000"), id="id-differs"),
    pytest.param(_set("actor.name", "Bob"), id="actor-name"),
    pytest.param(_drop("actor.name"), id="actor-name-absent"),
    pytest.param(_set("actor.mbox", "mailto:Learner@example.com"), id="mbox-local-part-case"),
    pytest.param(_set("actor", agent(openid="http://id.example.com/ann")), id="actor-extra-ifi"),
    pytest.param(_set("verb.id", "http://adlnet.gov/expapi/verbs/Completed"), id="verb-id-case"),
    pytest.param(_set("object.id", "http://example.com/activities/Course"), id="activity-id-case"),
    pytest.param(_set("object", agent()), id="object-agent-not-activity"),
    pytest.param(_drop("result"), id="result-absent"),
    pytest.param(_set("result.completion", False), id="result-completion"),
    pytest.param(_set("result.score.raw", True), id="number-vs-true"),
    pytest.param(
        lambda s: s["context"]["extensions"].update({"http://example.com/ext/n": 1}),
        id="extension-added",
    ),
    pytest.param(_set("context.extensions", {"http://example.com/ext/flag": 1}), id="true-vs-1"),
    pytest.param(_set("context.extensions", {}), id="extensions-empty-vs-filled"),
    pytest.param(_set("result.duration", "PT90.12S"), id="duration-other-spelling"),
    pytest.param(_set("result.duration", "PT1M30.13S"), id="duration-centiseconds"),
    pytest.param(_set("timestamp", "2024-01-02T03:04:05.679Z"), id="timestamp-1ms-later"),
    pytest.param(_set("timestamp", "2024-01-02T03:04:05.6769Z"), id="timestamp-not-reducible"),
    pytest.param(_set("timestamp", "2024-01-02T03:04:05.678+01:00"), id="timestamp-other-instant"),
    pytest.param(_set("context.registration", REF_ID), id="registration-differs"),
    pytest.param(_set("context.language", "en-US"), id="context-language-added"),
    pytest.param(
        _set("context.contextActivities.parent", [activity("p2"), activity("p1")]),
        id="context-activities-order",
    ),
    pytest.param(_set("context.contextActivities.parent.1", activity("p3")), id="context-activity"),
    pytest.param(_set("context.statement.id", STATEMENT_ID), id="context-ref-differs"),
]


@pytest.mark.parametrize("change", EQUIVALENT)
def test_equivalent_pairs(change: Change) -> None:
    original, variant = statement(), _changed(change)
    assert statements_equivalent(original, variant)
    assert statements_equivalent(variant, original)
    assert signature_equivalent(variant, original)


@pytest.mark.parametrize("change", DIFFERENT)
def test_different_pairs(change: Change) -> None:
    original, variant = statement(), _changed(change)
    assert not statements_equivalent(original, variant)
    assert not statements_equivalent(variant, original)
    assert not signature_equivalent(variant, original)


def test_lrs_assigned_timestamps_are_not_compared() -> None:
    """Two stored copies of a statement sent without timestamp: each got its own `stored`."""
    first = statement(timestamp="2024-05-01T10:00:00.000Z", stored="2024-05-01T10:00:00.000Z")
    retry = statement(timestamp="2024-05-01T10:05:00.000Z", stored="2024-05-01T10:05:00.000Z")
    assert statements_equivalent(first, retry)
    assert statements_equivalent(retry, first)
    client_set = statement(timestamp="2024-05-01T09:00:00Z", stored="2024-05-01T10:05:00.000Z")
    assert statements_equivalent(first, client_set)
    other = statement(timestamp="2024-05-01T09:00:01Z", stored="2024-05-01T10:07:00.000Z")
    assert not statements_equivalent(client_set, other)
    same_instant = statement(timestamp="2024-05-01T11:00:00+02:00", stored="2024-05-01T09:00Z")
    assert statements_equivalent(same_instant, retry)


def test_context_activity_single_object_equals_list_of_one() -> None:
    single = statement(context={"contextActivities": {"parent": activity("p1")}})
    listed = statement(context={"contextActivities": {"parent": [activity("p1")]}})
    assert statements_equivalent(single, listed)
    other = statement(context={"contextActivities": {"parent": [activity("p1"), activity("p2")]}})
    assert not statements_equivalent(single, other)


def test_context_activity_keys_must_match() -> None:
    parent = statement(context={"contextActivities": {"parent": [activity("p1")]}})
    grouping = statement(context={"contextActivities": {"grouping": [activity("p1")]}})
    assert not statements_equivalent(parent, grouping)


# -- groups -------------------------------------------------------------------------------------

ANN, BOB, CAT = agent("ann@example.com"), agent("bob@example.com"), agent("cat@example.com")


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        pytest.param(group(ANN, BOB), group(BOB, ANN), True, id="members-reordered"),
        pytest.param(group(ANN, BOB, CAT), group(CAT, ANN, BOB), True, id="three-reordered"),
        pytest.param(
            group(ANN, {"mbox": "mailto:bob@EXAMPLE.com"}), group(BOB, ANN), True, id="member-norm"
        ),
        pytest.param(group(ANN, BOB), group(ANN, CAT), False, id="member-differs"),
        pytest.param(group(ANN, BOB), group(ANN), False, id="member-missing"),
        pytest.param(group(ANN, ANN), group(ANN, BOB), False, id="duplicates-count"),
        pytest.param(group(ANN, name="G"), group(ANN, name="H"), False, id="group-name"),
        pytest.param(
            group(ANN, mbox="mailto:g@Example.com"),
            group(ANN, mbox="mailto:g@example.com"),
            True,
            id="identified-group-domain-case",
        ),
        pytest.param(group(ANN), agent("ann@example.com"), False, id="group-vs-agent"),
    ],
)
def test_group_comparison(left: dict[str, Any], right: dict[str, Any], expected: bool) -> None:
    for position in ("actor", "object"):
        a, b = statement(**{position: left}), statement(**{position: right})
        assert statements_equivalent(a, b) is expected
    instructor_a = statement(context={"team": left, "instructor": ANN})
    instructor_b = statement(context={"team": right, "instructor": ANN})
    assert statements_equivalent(instructor_a, instructor_b) is expected


# -- objects -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        pytest.param(
            {"objectType": "StatementRef", "id": REF_ID},
            {"objectType": "StatementRef", "id": REF_ID.upper()},
            True,
            id="statementref-uuid-case",
        ),
        pytest.param(
            {"objectType": "StatementRef", "id": REF_ID},
            {"objectType": "StatementRef", "id": STATEMENT_ID},
            False,
            id="statementref-differs",
        ),
        pytest.param(substatement(), substatement(), True, id="substatement-same"),
        pytest.param(
            substatement(),
            substatement(
                timestamp="2024-01-02T04:04:05+01:00", verb={"id": "http://example.com/verbs/plan"}
            ),
            True,
            id="substatement-timestamp-offset-and-display",
        ),
        pytest.param(
            substatement(), substatement(object=activity("other")), False, id="substatement-object"
        ),
        pytest.param(
            substatement(), substatement(actor=group(ANN, BOB)), False, id="substatement-actor"
        ),
        pytest.param(
            substatement(),
            {k: v for k, v in substatement().items() if k != "timestamp"},
            False,
            id="substatement-timestamp-absent",
        ),
        pytest.param(
            substatement(result={"duration": "PT1.001S"}),
            substatement(result={"duration": "PT1.00S"}),
            True,
            id="substatement-duration",
        ),
        pytest.param(
            substatement(actor=group(ANN, BOB)),
            substatement(actor=group(BOB, ANN)),
            True,
            id="substatement-group-order",
        ),
    ],
)
def test_object_comparison(left: dict[str, Any], right: dict[str, Any], expected: bool) -> None:
    assert statements_equivalent(statement(object=left), statement(object=right)) is expected


# -- attachments --------------------------------------------------------------------------------

SIGNATURE = attachment(
    "b" * 64, usageType=SIGNATURE_USAGE_TYPE, contentType="application/octet-stream"
)


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        pytest.param([attachment()], [attachment()], True, id="same"),
        pytest.param([], None, True, id="empty-vs-absent"),
        pytest.param(
            [attachment("c" * 64), attachment()],
            [attachment(), attachment("c" * 64)],
            True,
            id="reordered",
        ),
        pytest.param(
            [attachment(display={"EN-us": "Report"})], [attachment()], True, id="display-key-case"
        ),
        pytest.param([attachment(display={"en-US": "X"})], [attachment()], False, id="display"),
        pytest.param([attachment("c" * 64)], [attachment()], False, id="sha2"),
        pytest.param([attachment(length=13)], [attachment()], False, id="length"),
        pytest.param([attachment(), attachment()], [attachment()], False, id="count"),
        pytest.param(
            [attachment(fileUrl="http://example.com/f")], [attachment()], False, id="fileurl"
        ),
    ],
)
def test_attachment_comparison(
    left: list[dict[str, Any]], right: list[dict[str, Any]] | None, expected: bool
) -> None:
    a = statement(attachments=left)
    b = statement() if right is None else statement(attachments=right)
    assert statements_equivalent(a, b) is expected
    assert statements_equivalent(b, a) is expected


# -- signed statements (Data 2.6) ----------------------------------------------------------------


def _payload(**extra: Any) -> dict[str, Any]:
    """What a client signs: no LRS-set properties, no signature attachment."""
    lrs_set = ("id", "stored", "authority", "version", "timestamp")
    return {k: v for k, v in statement(**extra).items() if k not in lrs_set}


@pytest.mark.parametrize(
    ("payload", "received", "expected"),
    [
        pytest.param(_payload(), statement(attachments=[SIGNATURE]), True, id="lrs-fields-added"),
        pytest.param(
            _payload(attachments=[attachment()]),
            statement(attachments=[attachment(), SIGNATURE]),
            True,
            id="other-attachment-kept",
        ),
        pytest.param(
            _payload(attachments=[attachment()]),
            statement(attachments=[SIGNATURE, attachment()]),
            True,
            id="signature-first",
        ),
        pytest.param(
            _payload(),
            statement(attachments=[attachment(), SIGNATURE]),
            True,
            id="payload-without-attachments",
        ),
        pytest.param(
            _payload(attachments=[attachment("c" * 64)]),
            statement(attachments=[attachment(), SIGNATURE]),
            False,
            id="other-attachment-differs",
        ),
        pytest.param(
            _payload(result={"duration": "PT1M30.12S"}),
            statement(result={"duration": "PT1M30.1237S"}, attachments=[SIGNATURE]),
            True,
            id="duration-precision",
        ),
        pytest.param(
            _payload(result={"completion": False}),
            statement(attachments=[SIGNATURE]),
            False,
            id="result-differs",
        ),
        pytest.param(
            _payload(actor=agent("eve@example.com")),
            statement(attachments=[SIGNATURE]),
            False,
            id="actor-differs",
        ),
        pytest.param(
            statement(id=STATEMENT_ID.upper(), timestamp="2024-01-02T04:04:05.678+01:00"),
            statement(attachments=[SIGNATURE]),
            True,
            id="id-and-timestamp-reserialized",
        ),
        pytest.param(
            statement(id=REF_ID), statement(attachments=[SIGNATURE]), False, id="id-differs"
        ),
    ],
)
def test_signature_equivalence(
    payload: dict[str, Any], received: dict[str, Any], expected: bool
) -> None:
    assert signature_equivalent(payload, received) is expected
    assert signature_equivalent(received, payload) is expected


def test_signature_attachment_matters_for_plain_comparison() -> None:
    assert not statements_equivalent(statement(), statement(attachments=[SIGNATURE]))


def test_inputs_are_not_mutated() -> None:
    a = statement(actor=group(BOB, ANN), attachments=[attachment(), SIGNATURE])
    b = statement(actor=group(ANN, BOB), attachments=[SIGNATURE, attachment()])
    before = copy.deepcopy((a, b))
    assert statements_equivalent(a, b)
    assert signature_equivalent(a, b)
    assert (a, b) == before
    assert a["actor"]["member"][0] == BOB


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        ("2024-01-02T03:04:05.6781Z", "2024-01-02T03:04:05.6789Z", False),
        ("2024-01-02T03:04:05.6781Z", "2024-01-02T03:04:05.678Z", True),
        ("2024-01-02T03:04:05.6789Z", "2024-01-02T03:04:05.679Z", True),
        ("2024-01-02T03:04:05.6789Z", "2024-01-02T03:04:05.678Z", True),
        ("2024-01-02T03:04:05.6784Z", "2024-01-02T03:04:05.679Z", False),
        ("2024-01-02T03:04:05.999999Z", "2024-01-02T03:04:06Z", True),
        ("2024-01-02T03:04:05", "2024-01-02T03:04:05Z", True),
        ("2024-01-02T03:04:05+00:00", "2024-01-02T03:04:05-01:00", False),
    ],
)
def test_timestamp_precision(left: str, right: str, expected: bool) -> None:
    """Same instant when one is the other truncated or rounded to milliseconds (Data 4.5)."""
    a, b = statement(timestamp=left), statement(timestamp=right)
    assert statements_equivalent(a, b) is expected
    assert statements_equivalent(b, a) is expected


def test_unparseable_timestamps_compare_as_strings() -> None:
    assert statements_equivalent(statement(timestamp="garbage"), statement(timestamp="garbage"))
    assert not statements_equivalent(statement(timestamp="garbage"), statement())
