"""The edge refuses what the pipeline cannot hold (lrs.xapi.limits via ingest.check_request)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from lrs.progress.registry import parse_members
from lrs.services.ingest import check_request
from lrs.xapi.agents import validate_agent
from lrs.xapi.documents import Resource, parse_params
from lrs.xapi.errors import BadRequest, InvalidStatement, PayloadTooLarge, XapiError
from lrs.xapi.limits import DEFAULT_LIMITS, StatementLimits, check_statement_limits
from lrs.xapi.params import parse_agent_json, parse_agent_query
from lrs.xapi.query import parse_query
from lrs.xapi.versions import V2
from tests.support.factories import account_agent, statement

SMALL = StatementLimits(
    max_statements=10, max_statement_bytes=4096, max_json_depth=16, max_identifier_chars=100
)


def nested(levels: int) -> Any:
    value: Any = "leaf"
    for n in range(levels):
        value = {"k": value} if n % 2 else [value]
    return value


def with_extension(value: Any, key: str = "https://example.org/ext") -> dict[str, Any]:
    doc = statement()
    doc["context"]["extensions"] = {key: value}
    return doc


def with_team(team: dict[str, Any]) -> dict[str, Any]:
    doc = statement()
    doc["context"]["team"] = team
    return doc


def refused(raws: list[Any], limits: StatementLimits = SMALL, version: str = "1.0.3") -> XapiError:
    with pytest.raises(XapiError) as caught:
        check_request(raws, {}, version, limits)
    return caught.value


def test_ordinary_statements_pass_the_default_limits() -> None:
    check_request([statement(n) for n in range(100)], {}, "2.0.0")


def test_more_statements_than_allowed_is_413() -> None:
    error = refused([statement(n) for n in range(11)])
    assert isinstance(error, PayloadTooLarge)
    assert "LRS_MAX_STATEMENTS_PER_REQUEST" in error.message
    assert error.details[0].rule == "statements-per-request"


def test_the_default_statement_count_limit_is_read() -> None:
    check_request([statement(n) for n in range(1000)], {}, "1.0.3")
    error = refused([statement(n) for n in range(1001)], StatementLimits())
    assert isinstance(error, PayloadTooLarge)


def test_too_large_statement_is_413() -> None:
    doc = with_extension("x" * 5000)
    error = refused([statement(), doc])
    assert isinstance(error, PayloadTooLarge)
    assert error.details[0].path == "$[1]"
    assert "LRS_MAX_STATEMENT_BYTES" in error.message


def test_statement_size_is_its_compact_json() -> None:
    doc = statement()
    size = len(orjson.dumps(doc))
    check_statement_limits([doc], StatementLimits(max_statement_bytes=size))
    with pytest.raises(PayloadTooLarge):
        check_statement_limits([doc], StatementLimits(max_statement_bytes=size - 1))


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_extension_nested_300_levels_is_400_naming_the_limit(version: str) -> None:
    """Accepted before, then refused by the JSON encoder (255 levels) after acceptance."""
    error = refused([with_extension(nested(300))], StatementLimits(), version)
    assert isinstance(error, InvalidStatement)
    assert error.details[0].rule == "json-depth"
    assert error.details[0].path.startswith("$[0].context.extensions")
    assert "LRS_MAX_JSON_DEPTH" in error.message


def test_depth_counts_the_statement_as_level_one() -> None:
    # statement (1) > context (2) > extensions (3) > value: 13 more levels reach 16
    check_statement_limits([with_extension(nested(13))], SMALL)
    with pytest.raises(InvalidStatement):
        check_statement_limits([with_extension(nested(14))], SMALL)


@pytest.mark.parametrize(
    "doc",
    [
        statement(actor=account_agent("n" * 101)),
        statement(actor={"objectType": "Agent", "name": "n" * 101, "mbox": "mailto:a@b.c"}),
        statement(verb="http://example.org/" + "v" * 90),
        with_extension(1, key="https://example.org/" + "k" * 90),
        with_team({"objectType": "Group", "name": "t" * 101, "mbox": "mailto:t@b.c"}),
    ],
    ids=["account-name", "agent-name", "verb-id", "extension-key", "team-name"],
)
def test_long_identifiers_and_names_are_400(doc: dict[str, Any]) -> None:
    error = refused([doc])
    assert isinstance(error, InvalidStatement)
    assert error.details[0].rule == "identifier-length"
    assert "LRS_MAX_IDENTIFIER_CHARS" in error.message


def test_a_megabyte_account_name_is_refused_by_default() -> None:
    error = refused([statement(actor=account_agent("n" * 1_000_000))], StatementLimits())
    assert error.details[0].rule == "identifier-length"
    assert error.details[0].path == "$[0].actor.account.name"


def test_long_text_and_extension_values_are_not_identifiers() -> None:
    doc = with_extension({"note": "x" * 500})
    doc["result"]["response"] = "an essay " * 50
    doc["verb"]["display"] = {"en-US": "d" * 500}
    doc["object"]["definition"]["description"] = {"en-US": "d" * 500}
    check_statement_limits([doc], StatementLimits(max_identifier_chars=100))


def test_nul_in_an_extension_key_is_400_naming_the_rule() -> None:
    doc = {
        "actor": {"mbox": "mailto:a@b.c"},
        "verb": {"id": "http://x.y/v"},
        "object": {"id": "https://e.x/a", "definition": {"extensions": {"https://e.x/\x00k": 1}}},
    }
    for version in ("1.0.3", "2.0.0"):
        error = refused([doc], StatementLimits(), version)
        assert isinstance(error, InvalidStatement)
        assert error.details[0].rule == "extension-keys-iri"


def test_dollar_and_dotted_keys_in_extension_values_are_accepted() -> None:
    check_request([with_extension({"$set": {"a.b": 1}, "$": None})], {}, "2.0.0")


@pytest.mark.parametrize("version", ["1.0.3", "2.0.0"])
def test_a_lone_agent_with_a_megabyte_name_is_refused(version: str) -> None:
    """Team registry members and `agent` parameters become learner ids like actors do."""
    with pytest.raises(BadRequest) as caught:
        validate_agent(account_agent("n" * 1_000_000), version)
    assert caught.value.details[0].rule == "identifier-length"
    validate_agent(account_agent("n" * 4096), version)


def test_a_value_json_cannot_encode_is_400() -> None:
    with pytest.raises(InvalidStatement, match="not a JSON document"):
        check_statement_limits([with_extension(2**70)], StatementLimits())


RAISED = StatementLimits(max_identifier_chars=10_000)


def agent_parses() -> dict[str, Callable[[str, StatementLimits], object]]:
    """Every parse of an `agent` parameter: statements, agents, documents, progress, teams."""
    return {
        "statements": lambda text, limits: parse_query(
            {"agent": text}, max_limit=10, limits=limits
        ),
        "agents": lambda text, limits: parse_agent_query([("agent", text)], V2, limits=limits),
        "documents": lambda text, limits: parse_params(
            Resource.AGENT_PROFILE, "GET", [("agent", text)], limits=limits
        ),
        "progress and teams": lambda text, limits: parse_agent_json(text, V2, limits=limits),
        "team members": lambda text, limits: parse_members(orjson.loads(text), V2, limits),
    }


@pytest.mark.parametrize("route", sorted(agent_parses()))
def test_an_agent_parameter_keeps_the_configured_identifier_limit(route: str) -> None:
    """An Agent a statement may hold under a raised LRS_MAX_IDENTIFIER_CHARS can be queried."""
    parse = agent_parses()[route]
    text = orjson.dumps(account_agent("n" * 5000)).decode()
    parse(text, RAISED)
    with pytest.raises(XapiError) as caught:  # InvalidDocument for documents: 400 all the same
        parse(text, DEFAULT_LIMITS)
    assert caught.value.details[0].rule == "identifier-length"
