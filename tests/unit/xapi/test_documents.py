"""The pure Document Resource rules (xAPI Communication 2.2, 2.3, 2.6, 2.7, 3.1)."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from lrs.xapi.documents import (
    Preconditions,
    Resource,
    check_preconditions,
    check_put,
    check_put_body,
    check_size,
    etag_of,
    http_date,
    merge_json,
    parse_params,
    parse_preconditions,
)
from lrs.xapi.errors import (
    BadRequest,
    Conflict,
    InvalidDocument,
    PayloadTooLarge,
    PreconditionFailed,
)
from lrs.xapi.limits import DEFAULT_LIMITS
from lrs.xapi.versions import V1, V2

ACTIVITY = "http://example.com/activities/a"
AGENT = json.dumps({"objectType": "Agent", "name": "Ann", "mbox": "mailto:ann@example.com"})
REGISTRATION = "6E2B1A3C-4D5E-4F60-8A7B-9C0D1E2F3A4B"
JSON = "application/json"
DEPTH = DEFAULT_LIMITS.max_json_depth

STATE = {"activityId": ACTIVITY, "agent": AGENT, "stateId": "s1"}
ACTIVITY_PROFILE = {"activityId": ACTIVITY, "profileId": "p1"}
AGENT_PROFILE = {"agent": AGENT, "profileId": "p1"}
BASE = {
    Resource.STATE: STATE,
    Resource.ACTIVITY_PROFILE: ACTIVITY_PROFILE,
    Resource.AGENT_PROFILE: AGENT_PROFILE,
}


def parse(resource: Resource, method: str, params: dict[str, str]):  # type: ignore[no-untyped-def]
    return parse_params(resource, method, list(params.items()), limits=DEFAULT_LIMITS)


def test_state_params_are_parsed_and_agent_canonicalised() -> None:
    params = parse(Resource.STATE, "PUT", {**STATE, "registration": REGISTRATION})
    assert params.activity_id == ACTIVITY
    assert params.agent == {"objectType": "Agent", "mbox": "mailto:ann@example.com"}
    assert params.agent_ifi == "mbox:mailto:ann@example.com"
    assert params.registration == REGISTRATION.lower()
    assert params.document_id == "s1"


def test_since_is_parsed_on_list_get() -> None:
    query = {"activityId": ACTIVITY, "since": "2024-05-01T10:00:00.000Z"}
    params = parse(Resource.ACTIVITY_PROFILE, "GET", query)
    assert params.since == datetime(2024, 5, 1, 10, tzinfo=UTC)
    assert params.document_id is None


@pytest.mark.parametrize("resource", list(Resource))
@pytest.mark.parametrize("method", ["PUT", "POST", "GET", "DELETE"])
def test_context_parameters_are_required(resource: Resource, method: str) -> None:
    for name in BASE[resource]:
        if name in ("stateId", "profileId"):
            continue
        params = {k: v for k, v in BASE[resource].items() if k != name}
        with pytest.raises(BadRequest, match=f"^{name}: is required"):
            parse(resource, method, params)


@pytest.mark.parametrize(
    ("resource", "method", "required"),
    [
        (Resource.STATE, "PUT", True),
        (Resource.STATE, "POST", True),
        (Resource.STATE, "GET", False),
        (Resource.STATE, "DELETE", False),
        (Resource.ACTIVITY_PROFILE, "PUT", True),
        (Resource.ACTIVITY_PROFILE, "DELETE", True),
        (Resource.ACTIVITY_PROFILE, "GET", False),
        (Resource.AGENT_PROFILE, "POST", True),
        (Resource.AGENT_PROFILE, "DELETE", True),
        (Resource.AGENT_PROFILE, "HEAD", False),
    ],
)
def test_document_id_requirement(resource: Resource, method: str, required: bool) -> None:
    id_name = "stateId" if resource is Resource.STATE else "profileId"
    params = {k: v for k, v in BASE[resource].items() if k != id_name}
    if required:
        with pytest.raises(BadRequest, match=id_name):
            parse(resource, method, params)
    else:
        assert parse(resource, method, params).document_id is None


@pytest.mark.parametrize(
    ("resource", "method", "extra"),
    [
        (Resource.STATE, "PUT", {"since": "2024-01-01T00:00:00Z"}),
        (Resource.STATE, "GET", {"StateId": "x"}),
        (Resource.STATE, "GET", {"foo": "bar"}),
        (Resource.ACTIVITY_PROFILE, "PUT", {"registration": REGISTRATION}),
        (Resource.ACTIVITY_PROFILE, "GET", {"agent": AGENT}),
        (Resource.AGENT_PROFILE, "GET", {"activityId": ACTIVITY}),
        (Resource.AGENT_PROFILE, "DELETE", {"since": "2024-01-01T00:00:00Z"}),
    ],
)
def test_unknown_parameters_are_rejected(
    resource: Resource, method: str, extra: dict[str, str]
) -> None:
    with pytest.raises(BadRequest, match=r"Communication 3\.2"):
        parse(resource, method, {**BASE[resource], **extra})


def test_repeated_parameter_is_rejected() -> None:
    items = [*STATE.items(), ("stateId", "s2")]
    with pytest.raises(BadRequest, match="more than once"):
        parse_params(Resource.STATE, "PUT", items, limits=DEFAULT_LIMITS)


@pytest.mark.parametrize(
    "agent",
    [
        "not JSON",
        "true",
        "[]",
        json.dumps({"objectType": "Agent", "name": "no ifi"}),
        json.dumps({"mbox": "mailto:a@example.com", "openid": "http://example.com/a"}),
        json.dumps({"objectType": "Group", "mbox": "mailto:g@example.com"}),
        json.dumps({"mbox": "a@example.com"}),
        json.dumps({"mbox_sha1sum": "abc"}),
        json.dumps({"openid": "not an iri"}),
        json.dumps({"account": {"homePage": "http://example.com"}}),
        json.dumps({"account": {"homePage": "nope", "name": "a"}}),
        json.dumps({"account": {"homePage": "http://example.com", "name": 1}}),
    ],
)
def test_invalid_agents_are_rejected(agent: str) -> None:
    with pytest.raises(BadRequest, match=r"^agent"):
        parse(Resource.AGENT_PROFILE, "GET", {"agent": agent})


@pytest.mark.parametrize(
    ("agent", "ifi"),
    [
        ({"mbox_sha1sum": "a" * 40}, "mbox_sha1sum:" + "a" * 40),
        ({"openid": "http://openid.example.com/ann"}, "openid:http://openid.example.com/ann"),
        (
            {"name": "x", "account": {"homePage": "http://example.com", "name": "ann"}},
            "account:http://example.com|ann",
        ),
    ],
)
def test_each_ifi_kind_is_accepted(agent: dict[str, object], ifi: str) -> None:
    params = parse(Resource.AGENT_PROFILE, "GET", {"agent": json.dumps(agent)})
    assert params.agent_ifi == ifi
    assert "name" not in (params.agent or {})


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("activityId", "not an iri"),
        ("activityId", "1"),
        ("activityId", "true"),
        ("activityId", '{"key":"value"}'),
        ("activityId", "http://example.com/a b"),
        ("registration", "true"),
        ("stateId", ""),
    ],
)
def test_invalid_parameter_values_are_rejected(name: str, value: str) -> None:
    with pytest.raises(BadRequest, match=f"^{name}"):
        parse(Resource.STATE, "PUT", {**STATE, name: value})


def test_invalid_since_is_rejected() -> None:
    query = {"activityId": ACTIVITY, "agent": AGENT, "since": "not a timestamp"}
    with pytest.raises(BadRequest, match=r"^since"):
        parse(Resource.STATE, "GET", query)


# --- merge -------------------------------------------------------------------------------------


def test_merge_sets_top_level_properties_only() -> None:
    existing = json.dumps({"x": "foo", "y": "bar", "car": {"make": "Ford", "model": "Escape"}})
    posted = json.dumps({"x": "bash", "z": "faz", "car": {"make": "Dodge"}})
    merged = json.loads(merge_json(existing.encode(), JSON, posted.encode(), JSON, DEPTH))
    assert merged == {"x": "bash", "y": "bar", "z": "faz", "car": {"make": "Dodge"}}


def test_merge_accepts_json_with_parameters() -> None:
    merged = merge_json(
        b'{"a":1}', "application/json; charset=utf-8", b'{"b":2}', "Application/JSON", DEPTH
    )
    assert json.loads(merged) == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("existing", "existing_type", "posted", "posted_type", "rule"),
    [
        (b'{"a":1}', JSON, b"abc", "text/plain", "content-type"),
        (b'{"a":1}', JSON, b'{"b":2}', None, "untyped"),
        (b"abc", "application/octet-stream", b'{"b":2}', JSON, "content-type"),
        (b'{"a":1}', JSON, b'{"b":2}{', JSON, "not valid JSON"),
        (b'{"a":1}', JSON, b"[1,2]", JSON, "not a JSON Object"),
        (b"[1]", JSON, b'{"b":2}', JSON, "not a JSON Object"),
    ],
)
def test_merge_rejects_what_is_not_two_json_objects(
    existing: bytes, existing_type: str, posted: bytes, posted_type: str | None, rule: str
) -> None:
    with pytest.raises(InvalidDocument, match=rule):
        merge_json(existing, existing_type, posted, posted_type, DEPTH)


def test_put_body_declared_json_must_parse() -> None:
    check_put_body(b"[1, 2]", JSON, DEPTH)
    check_put_body(b"not json", "text/plain", DEPTH)
    with pytest.raises(InvalidDocument, match="not valid JSON"):
        check_put_body(b'{"a":', JSON, DEPTH)


def nested(levels: int) -> bytes:
    return b'{"a":' * levels + b"1" + b"}" * levels


@pytest.mark.parametrize("levels", [DEPTH + 1, 3000])
def test_put_body_nested_beyond_the_limit_is_rejected_by_rule(levels: int) -> None:
    check_put_body(nested(DEPTH), JSON, DEPTH)
    with pytest.raises(InvalidDocument) as caught:
        check_put_body(nested(levels), JSON, DEPTH)
    assert caught.value.details[0].rule == "json-depth"


@pytest.mark.parametrize(
    ("existing", "posted"), [(nested(3000), b'{"b":1}'), (b'{"b":1}', nested(3000))]
)
def test_merge_of_a_document_nested_beyond_the_limit_is_rejected(
    existing: bytes, posted: bytes
) -> None:
    with pytest.raises(InvalidDocument, match="JSON nested more than 64 levels"):
        merge_json(existing, JSON, posted, JSON, DEPTH)


@pytest.mark.parametrize("text", [b'{"a":NaN}', b'{"a":"\\ud800"}', b'{"a":1e999}', b"\xff"])
def test_json_documents_hold_only_what_json_carries_portably(text: bytes) -> None:
    with pytest.raises(InvalidDocument, match="not valid JSON"):
        check_put_body(text, JSON, DEPTH)


def test_merge_keeps_big_integers_exact() -> None:
    merged = merge_json(b'{"a":123456789012345678901234567890}', JSON, b'{"b":2}', JSON, DEPTH)
    assert merged == b'{"a":123456789012345678901234567890,"b":2}'


def test_document_size_limit_names_the_setting() -> None:
    check_size(b"x" * 10, 10, "document")
    with pytest.raises(PayloadTooLarge, match="LRS_MAX_DOCUMENT_BYTES"):
        check_size(b"x" * 11, 10, "document")


# --- ETags and preconditions ------------------------------------------------------------------


def test_etag_is_quoted_lowercase_sha1_of_bytes() -> None:
    content = b'{"a": 1}'
    assert etag_of(content) == f'"{hashlib.sha1(content).hexdigest()}"'
    assert etag_of(content) != etag_of(b'{"a":1}')


def test_http_date() -> None:
    assert http_date(datetime(2024, 5, 1, 10, 0, 7, 999000, tzinfo=UTC)) == (
        "Wed, 01 May 2024 10:00:07 GMT"
    )


def test_parse_preconditions() -> None:
    pre = parse_preconditions('"abc", W/"weak", "def"', "*")
    assert pre.if_match == frozenset({"abc", "def"})
    assert pre.if_none_match == frozenset({"*"})
    assert not parse_preconditions(None, None).given


CURRENT = '"0123"'


@pytest.mark.parametrize(
    ("if_match", "if_none_match", "current", "holds"),
    [
        ('"0123"', None, CURRENT, True),
        ("0123", None, CURRENT, True),
        ('"9999", "0123"', None, CURRENT, True),
        ('"9999"', None, CURRENT, False),
        ('"0123"', None, None, False),
        ("*", None, CURRENT, True),
        ("*", None, None, False),
        ('W/"0123"', None, CURRENT, False),
        (None, "*", None, True),
        (None, "*", CURRENT, False),
        (None, '"0123"', CURRENT, False),
        (None, '"9999"', CURRENT, True),
        (None, None, CURRENT, True),
        (None, None, None, True),
    ],
)
def test_preconditions(
    if_match: str | None, if_none_match: str | None, current: str | None, holds: bool
) -> None:
    pre = parse_preconditions(if_match, if_none_match)
    if holds:
        check_preconditions(pre, current)
    else:
        with pytest.raises(PreconditionFailed):
            check_preconditions(pre, current)


@pytest.mark.parametrize(
    ("resource", "version", "conflict"),
    [
        (Resource.ACTIVITY_PROFILE, V1, True),
        (Resource.AGENT_PROFILE, V1, True),
        (Resource.ACTIVITY_PROFILE, V2, True),
        (Resource.STATE, V1, False),
        (Resource.STATE, V2, True),
    ],
)
def test_put_without_precondition_to_existing_document(
    resource: Resource, version: str, conflict: bool
) -> None:
    check_put(parse_preconditions(CURRENT, None), CURRENT, resource=resource, version=version)
    if conflict:
        with pytest.raises(Conflict, match="If-Match"):
            check_put(Preconditions(), CURRENT, resource=resource, version=version)
    else:
        check_put(Preconditions(), CURRENT, resource=resource, version=version)


@pytest.mark.parametrize("version", [V1, V2])
@pytest.mark.parametrize("resource", list(Resource))
def test_put_without_precondition_to_new_document(resource: Resource, version: str) -> None:
    check_put(parse_preconditions(None, "*"), None, resource=resource, version=version)
    if resource is Resource.STATE:
        check_put(Preconditions(), None, resource=resource, version=version)
    else:
        with pytest.raises(InvalidDocument, match="If-None-Match"):
            check_put(Preconditions(), None, resource=resource, version=version)


@pytest.mark.parametrize("version", [V1, V2])
@pytest.mark.parametrize("resource", [Resource.ACTIVITY_PROFILE, Resource.AGENT_PROFILE])
def test_unconditional_create_lets_a_put_create_but_never_overwrite(
    resource: Resource, version: str
) -> None:
    def put(pre: Preconditions, current: str | None) -> None:
        check_put(pre, current, resource=resource, version=version, unconditional_create=True)

    put(Preconditions(), None)
    with pytest.raises(Conflict, match="If-Match"):
        put(Preconditions(), CURRENT)
    with pytest.raises(PreconditionFailed):
        put(parse_preconditions(None, "*"), CURRENT)


@pytest.mark.parametrize("resource", [Resource.STATE, Resource.AGENT_PROFILE])
def test_agent_parameter_nested_beyond_the_limit_is_rejected_by_rule(resource: Resource) -> None:
    params = {**BASE[resource], "agent": nested(1200).decode()}
    with pytest.raises(BadRequest) as caught:
        parse(resource, "GET", params)
    assert caught.value.details[0].rule == "json-depth"
