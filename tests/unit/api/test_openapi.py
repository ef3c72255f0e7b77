"""The OpenAPI document builds (warnings are errors under pytest), documents every resource (the
admin API included), and says what the handlers really accept and answer: the parameters the
xAPI parsers allow, the headers, bodies and security schemes, and the error statuses of
lrs.api.errors' table with the error envelope, never FastAPI's 422."""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from lrs.api.app import create_app
from lrs.api.errors import STATUS_BY_ERROR
from lrs.settings import LrsSettings
from lrs.xapi import query
from lrs.xapi.documents import Resource, allowed_params

DOCUMENT_PATHS = {
    "/xapi/activities/state": Resource.STATE,
    "/xapi/activities/profile": Resource.ACTIVITY_PROFILE,
    "/xapi/agents/profile": Resource.AGENT_PROFILE,
}
# Named here rather than taken from lrs.xapi.query, so that losing one fails (Comm. 2.1.3).
STATEMENT_QUERY = {
    "statementId",
    "voidedStatementId",
    "agent",
    "verb",
    "activity",
    "registration",
    "related_activities",
    "related_agents",
    "since",
    "until",
    "limit",
    "format",
    "attachments",
    "ascending",
}


@cache
def schema() -> dict[str, Any]:
    return create_app(LrsSettings()).openapi()


def operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in schema()["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def names(operation: dict[str, Any], where: str) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == where}


def param(operation: dict[str, Any], name: str) -> dict[str, Any]:
    (found,) = [p for p in operation["parameters"] if p["name"] == name]
    return found


def test_openapi_lists_every_resource() -> None:
    paths = set(schema()["paths"])
    expected = {
        "/xapi/statements",
        "/xapi/activities/state",
        "/xapi/activities/profile",
        "/xapi/agents/profile",
        "/xapi/agents",
        "/xapi/activities",
        "/xapi/about",
        "/progress/stream",
    }
    assert expected <= paths
    assert any(p.startswith("/admin/") for p in paths)
    assert {"get", "post", "put"} <= set(schema()["paths"]["/xapi/statements"])


def test_no_422_anywhere() -> None:
    with_422 = [f"{m} {p}" for p, m, op in operations() if "422" in op["responses"]]
    assert with_422 == []
    assert not {"HTTPValidationError", "ValidationError"} & set(schema()["components"]["schemas"])


def test_basic_and_bearer_security_schemes_apply_to_the_api() -> None:
    schemes = schema()["components"]["securitySchemes"]
    assert {(s["type"], s["scheme"]) for s in schemes.values()} == {
        ("http", "basic"),
        ("http", "bearer"),
    }
    assert schema()["security"] == [{name: []} for name in schemes]
    assert schema()["paths"]["/xapi/about"]["get"]["security"] == []
    assert "security" not in schema()["paths"]["/xapi/statements"]["get"]


def test_get_statements_lists_the_query_parameters_the_parser_accepts() -> None:
    operation = schema()["paths"]["/xapi/statements"]["get"]
    assert names(operation, "query") >= STATEMENT_QUERY
    assert names(operation, "query") == query.ALLOWED_PARAMS
    assert param(operation, "format")["schema"]["enum"] == ["exact", "ids", "canonical"]
    assert param(operation, "limit")["schema"]["type"] == "integer"
    assert param(operation, "since")["schema"]["format"] == "date-time"
    version = param(operation, "X-Experience-API-Version")
    assert (version["in"], version["required"]) == ("header", True)


def test_get_statements_answers_carry_the_consistency_headers() -> None:
    answer = schema()["paths"]["/xapi/statements"]["get"]["responses"]["200"]
    assert {
        "X-Experience-API-Version",
        "X-Experience-API-Consistent-Through",
        "Last-Modified",
    } <= set(answer["headers"])
    assert {"application/json", "multipart/mixed"} <= set(answer["content"])


def test_statements_bodies_are_statements_or_multipart() -> None:
    post = schema()["paths"]["/xapi/statements"]["post"]["requestBody"]
    assert post["required"] is True
    one_or_many = post["content"]["application/json"]["schema"]["oneOf"]
    assert {"$ref": "#/components/schemas/Statement"} in one_or_many
    assert {"type": "array", "items": {"$ref": "#/components/schemas/Statement"}} in one_or_many
    assert "multipart/mixed" in post["content"]
    put = schema()["paths"]["/xapi/statements"]["put"]
    assert param(put, "statementId")["required"] is True
    assert "multipart/mixed" in put["requestBody"]["content"]
    statement = schema()["components"]["schemas"]["Statement"]
    assert {"actor", "verb", "object"} <= set(statement["required"])


def test_put_state_has_a_body_preconditions_and_its_required_parameters() -> None:
    operation = schema()["paths"]["/xapi/activities/state"]["put"]
    assert operation["requestBody"]["required"] is True
    assert {"If-Match", "If-None-Match", "X-Experience-API-Version"} <= names(operation, "header")
    required = {p["name"] for p in operation["parameters"] if p["required"]}
    assert {"activityId", "agent", "stateId"} <= required
    assert "registration" not in required
    assert {"409", "412", "413"} <= set(operation["responses"])


@pytest.mark.parametrize("method", ["get", "put", "post", "delete"])
@pytest.mark.parametrize("path", sorted(DOCUMENT_PATHS))
def test_document_parameters_are_those_the_parser_allows(path: str, method: str) -> None:
    operation = schema()["paths"][path][method]
    assert names(operation, "query") == allowed_params(DOCUMENT_PATHS[path], method.upper())
    preconditions = {"If-Match", "If-None-Match"} <= names(operation, "header")
    assert preconditions == (method != "get")


def test_document_get_answers_with_etag_and_last_modified() -> None:
    answer = schema()["paths"]["/xapi/agents/profile"]["get"]["responses"]["200"]
    assert {"ETag", "Last-Modified", "X-Experience-API-Version"} <= set(answer["headers"])


def test_error_responses_are_the_error_tables_with_the_envelope() -> None:
    responses = schema()["components"]["responses"]
    assert {"400", "401", "403", "404", "409", "412", "413", "429", "503"} <= set(responses)
    assert {int(s) for s in responses} <= set(STATUS_BY_ERROR.values())
    for answer in responses.values():
        content = answer["content"]["application/json"]["schema"]
        assert content == {"$ref": "#/components/schemas/Error"}
    envelope = schema()["components"]["schemas"]["Error"]["properties"]["error"]
    assert set(envelope["required"]) == {"code", "message", "request_id", "details"}
    assert "invalid_statement" in responses["400"]["description"]
    assert "Retry-After" in responses["503"]["headers"]
    assert "Retry-After" in responses["429"]["headers"]


def test_every_authenticated_operation_documents_its_errors() -> None:
    lacking = [
        f"{method} {path}"
        for path, method, operation in operations()
        if operation.get("security") != []
        and not {"400", "401", "403", "429", "503"} <= set(operation["responses"])
    ]
    assert lacking == []


def test_xapi_operations_need_the_version_header_except_about() -> None:
    without = {
        f"{method} {path}"
        for path, method, operation in operations()
        if path.startswith("/xapi/")
        and "X-Experience-API-Version" not in names(operation, "header")
    }
    assert without == {"get /xapi/about"}


def test_query_parameters_have_no_default_for_swagger_ui_to_send() -> None:
    """Swagger UI's "Try it out" sends every default; GET statements refuses filters next to
    statementId (Communication 2.1.3), so a default there would break a single-statement GET."""
    with_default = [
        f"{method} {path} {p['name']}"
        for path, method, operation in operations()
        for p in operation.get("parameters", [])
        if path.startswith("/xapi/") and p["in"] == "query" and "default" in p["schema"]
    ]
    assert with_default == []
