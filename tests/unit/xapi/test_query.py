"""GET statements parameters (xAPI Communication 2.1.3)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from lrs.xapi.errors import BadRequest
from lrs.xapi.limits import DEFAULT_LIMITS
from lrs.xapi.query import Cursor, StatementQuery, parse_query

MAX = 100
DEPTH = DEFAULT_LIMITS.max_json_depth
STATEMENT_ID = "6f2d4a1c-3b5e-4c7d-8e9f-0a1b2c3d4e5f"
REGISTRATION = "ec531277-b57b-4c15-8d91-d292c5b2b8f7"
AGENT = {"mbox": "mailto:a@example.com"}


def parse(**params: str) -> StatementQuery:
    return parse_query(params, max_limit=MAX, limits=DEFAULT_LIMITS)


def rejected(param: str, **params: str) -> BadRequest:
    with pytest.raises(BadRequest) as caught:
        parse(**params)
    assert param in caught.value.message
    return caught.value


def cursor_token(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


# --- defaults -------------------------------------------------------------------------------------


def test_no_parameters_gives_defaults() -> None:
    query = parse()
    assert query == StatementQuery(limit=MAX)
    assert not query.is_single
    assert query.format == "exact"
    assert query.ascending is False
    assert query.attachments is False


# --- single lookups -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["statementId", "voidedStatementId"])
@pytest.mark.parametrize("given", [STATEMENT_ID, STATEMENT_ID.upper()])
def test_single_lookup(name: str, given: str) -> None:
    query = parse(**{name: given})
    assert query.is_single
    found = query.statement_id if name == "statementId" else query.voided_statement_id
    assert found == STATEMENT_ID


@pytest.mark.parametrize("name", ["statementId", "voidedStatementId"])
def test_single_lookup_allows_format_and_attachments(name: str) -> None:
    query = parse(**{name: STATEMENT_ID, "format": "ids", "attachments": "true"})
    assert query.format == "ids"
    assert query.attachments is True


@pytest.mark.parametrize("name", ["statementId", "voidedStatementId"])
@pytest.mark.parametrize("value", ["not-a-uuid", "", "6f2d4a1c-3b5e-4c7d-8e9f"])
def test_single_lookup_rejects_bad_uuid(name: str, value: str) -> None:
    error = rejected(name, **{name: value})
    assert error.details[0].path == name


def test_statement_id_and_voided_statement_id_together_rejected() -> None:
    rejected("voidedStatementId", statementId=STATEMENT_ID, voidedStatementId=STATEMENT_ID)


@pytest.mark.parametrize("name", ["statementId", "voidedStatementId"])
@pytest.mark.parametrize(
    ("other", "value"),
    [
        ("agent", json.dumps(AGENT)),
        ("verb", "http://adlnet.gov/expapi/verbs/completed"),
        ("activity", "http://example.com/a"),
        ("registration", REGISTRATION),
        ("related_activities", "false"),
        ("related_agents", "false"),
        ("since", "2024-01-01T00:00:00Z"),
        ("until", "2024-01-01T00:00:00Z"),
        ("limit", "10"),
        ("ascending", "true"),
        ("cursor", "abc"),
    ],
)
def test_single_lookup_combined_with_a_filter_rejected(name: str, other: str, value: str) -> None:
    rejected(other, **{name: STATEMENT_ID, other: value})


# --- unknown parameters ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["skip", "Agent", "statementID", "foo", "related_agent"])
def test_unknown_parameter_rejected(name: str) -> None:
    rejected(name, **{name: "1"})


def test_unknown_parameter_rejected_even_with_statement_id() -> None:
    rejected("skip", statementId=STATEMENT_ID, skip="1")


# --- agent ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (AGENT, "Agent|mbox:mailto:a@example.com"),
        ({"objectType": "Agent", "name": "A", **AGENT}, "Agent|mbox:mailto:a@example.com"),
        (
            {"objectType": "Group", "mbox": "mailto:team@example.com"},
            "Group|mbox:mailto:team@example.com",
        ),
        (
            {"account": {"homePage": "http://example.com", "name": "u1"}},
            "Agent|account:http://example.com|u1",
        ),
        ({"openid": "http://openid.example.com/u"}, "Agent|openid:http://openid.example.com/u"),
    ],
)
def test_agent_parsed_to_key(agent: dict[str, Any], expected: str) -> None:
    assert parse(agent=json.dumps(agent)).agent == expected


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("mailto:a@example.com", "json"),
        ("{not json", "json"),
        ("", "json"),
        ('["mailto:a@example.com"]', "agent-object"),
        ('"mailto:a@example.com"', "agent-object"),
        ("null", "agent-object"),
        ('{"name": "no ifi"}', "agent-ifi"),
        ('{"objectType": "Group", "member": [{"mbox": "mailto:a@example.com"}]}', "agent-ifi"),
    ],
)
def test_agent_invalid(value: str, rule: str) -> None:
    error = rejected("agent", agent=value)
    assert [(issue.path, issue.rule) for issue in error.details] == [("agent", rule)]


# --- IRIs -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["verb", "activity"])
@pytest.mark.parametrize(
    "value", ["http://adlnet.gov/expapi/verbs/completed", "urn:x:y", "tag:example.com,2024:a"]
)
def test_iri_valid(name: str, value: str) -> None:
    assert getattr(parse(**{name: value}), name) == value


@pytest.mark.parametrize("name", ["verb", "activity"])
@pytest.mark.parametrize("value", ["completed", "", "http:", ":foo", "1http://x.com", "/rel/path"])
def test_iri_invalid(name: str, value: str) -> None:
    error = rejected(name, **{name: value})
    assert error.details[0].rule == "iri"


# --- registration ---------------------------------------------------------------------------------


def test_registration_normalized_to_lower_case() -> None:
    assert parse(registration=REGISTRATION.upper()).registration == REGISTRATION


@pytest.mark.parametrize("value", ["abc", "", "ec531277-b57b-4c15-8d91"])
def test_registration_invalid(value: str) -> None:
    rejected("registration", registration=value)


# --- booleans -------------------------------------------------------------------------------------

BOOLEANS = ["related_activities", "related_agents", "ascending", "attachments"]


@pytest.mark.parametrize("name", BOOLEANS)
@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False)])
def test_boolean_valid(name: str, value: str, expected: bool) -> None:
    assert getattr(parse(**{name: value}), name) is expected


@pytest.mark.parametrize("name", BOOLEANS)
@pytest.mark.parametrize("value", ["1", "0", "yes", "", "t"])
def test_boolean_invalid(name: str, value: str) -> None:
    error = rejected(name, **{name: value})
    assert error.details[0].rule == "boolean"


# --- since / until --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01T00:00:00.250Z", datetime(2024, 1, 1, 0, 0, 0, 250000, tzinfo=UTC)),
        (
            "2024-01-01T02:00:00+02:00",
            datetime(2024, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))),
        ),
        ("2024-01-01T00:00:00", datetime(2024, 1, 1, tzinfo=UTC)),
    ],
)
def test_time_valid(name: str, value: str, expected: datetime) -> None:
    parsed = getattr(parse(**{name: value}), name)
    assert parsed == expected
    assert parsed.tzinfo is not None


@pytest.mark.parametrize("name", ["since", "until"])
@pytest.mark.parametrize("value", ["yesterday", "", "2024-13-01T00:00:00Z", "1700000000"])
def test_time_invalid(name: str, value: str) -> None:
    error = rejected(name, **{name: value})
    assert error.details[0].rule == "timestamp"


# --- limit ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", MAX), ("1", 1), ("50", 50), (str(MAX), MAX), (str(MAX + 1), MAX), ("100000", MAX)],
)
def test_limit(value: str, expected: int) -> None:
    assert parse(limit=value).limit == expected


@pytest.mark.parametrize("value", ["-1", "1.5", "", "ten", " 5", "+5", "1e3"])
def test_limit_invalid(value: str) -> None:
    error = rejected("limit", limit=value)
    assert error.details[0].rule == "non-negative-integer"


@pytest.mark.parametrize("value", ["²", "1²"])
def test_limit_with_non_decimal_digit_characters_is_bad_request(value: str) -> None:
    rejected("limit", limit=value)


# --- format ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["exact", "ids", "canonical"])
def test_format_valid(value: str) -> None:
    assert parse(format=value).format == value


@pytest.mark.parametrize("value", ["", "EXACT", "full", "id"])
def test_format_invalid(value: str) -> None:
    rejected("format", format=value)


# --- cursor ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stored",
    [
        datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(2024, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=-3))),
    ],
)
def test_cursor_round_trip(stored: datetime) -> None:
    cursor = Cursor(stored, STATEMENT_ID)
    token = cursor.encode()
    assert "=" not in token
    assert Cursor.decode(token) == cursor
    assert parse(cursor=token).cursor == cursor


def test_cursor_kept_with_filters_and_after() -> None:
    cursor = Cursor(datetime(2024, 1, 1, tzinfo=UTC), STATEMENT_ID)
    query = parse(verb="http://example.com/v", limit="5")
    paged = query.after(cursor)
    assert paged.cursor == cursor
    assert (paged.verb, paged.limit) == ("http://example.com/v", 5)
    assert query.cursor is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "!!!",
        "é",
        cursor_token({"a": 1}),
        cursor_token([1, 2, 3]),
        cursor_token(["not a date", STATEMENT_ID]),
        cursor_token([123, STATEMENT_ID]),
        cursor_token(5),
        cursor_token("ab"),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        cursor_token(["2024-01-01T00:00:00", STATEMENT_ID]),
        cursor_token(["0001-01-01T00:00:00+01:00", STATEMENT_ID]),
        cursor_token(["2024-01-01T00:00:00+00:00", "not-a-uuid"]),
        cursor_token(["2024-01-01T00:00:00+00:00", 7]),
        cursor_token([[[["2024-01-01T00:00:00+00:00"]]], STATEMENT_ID]),
        "W" * 3000,
        base64.urlsafe_b64encode(("[" * 3000 + "]" * 3000).encode()).decode(),
    ],
)
def test_cursor_invalid(token: str) -> None:
    rejected("cursor", cursor=token)


def test_limit_with_more_digits_than_the_rule_allows_is_rejected_by_name() -> None:
    error = rejected("limit", limit="9" * 5000)
    assert error.details[0].rule == "integer-size"
    assert parse(limit="0" * 40 + "7").limit == 7


@pytest.mark.parametrize("levels", [DEPTH + 1, 1200, 5000])
def test_agent_nested_deeper_than_the_limit_is_rejected_by_rule(levels: int) -> None:
    deep = '{"a":' * levels + "1" + "}" * levels
    error = rejected("agent", agent=deep)
    assert error.details[0].rule == "json-depth"


@pytest.mark.parametrize(
    ("agent", "rule"),
    [
        ({"mbox": "learner@example.com"}, "mbox-mailto"),
        ({"mbox_sha1sum": "not-hex"}, "mbox-sha1sum-hex"),
        ({"account": {"homePage": "no-scheme", "name": "u1"}}, "irl-format"),
    ],
)
def test_agent_is_validated_like_an_agent_in_a_statement(agent: dict[str, Any], rule: str) -> None:
    """Data 2.2: an LRS validates parameter values to the standards of statement values."""
    error = rejected("agent", agent=json.dumps(agent))
    assert rule in {issue.rule for issue in error.details}
