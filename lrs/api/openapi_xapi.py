"""What the OpenAPI document says of each resource that FastAPI cannot see: the handlers read
their query parameters, headers and bodies themselves (xAPI's rules are stricter than a
pydantic model: unknown or repeated parameters are 400, Communication 3.2). The parameter names
come from the parsers (lrs.xapi.query, lrs.xapi.documents), so the document lists exactly what
the handlers accept; lrs.api.openapi applies this to the generated document."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from lrs.xapi import query
from lrs.xapi.documents import CONTEXT_PARAMS, ID_PARAM, Resource, allowed_params, id_required

JSON = "application/json"
MULTIPART = "multipart/mixed"
STRING: dict[str, Any] = {"type": "string"}
UUID: dict[str, Any] = {"type": "string", "format": "uuid"}
IRI: dict[str, Any] = {"type": "string", "format": "iri"}
TIME: dict[str, Any] = {"type": "string", "format": "date-time"}
# Query parameters carry no `default`: Swagger UI would send it, and GET statements refuses
# filters next to statementId (Communication 2.1.3); descriptions say what absence means.
BOOLEAN: dict[str, Any] = {"type": "boolean"}
BINARY: dict[str, Any] = {"type": "string", "format": "binary"}
AGENT_EXAMPLE = '{"objectType": "Agent", "mbox": "mailto:learner@example.org"}'


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


# --- components ---------------------------------------------------------------------------

SECURITY_SCHEMES: dict[str, Any] = {
    "basicAuth": {
        "type": "http",
        "scheme": "basic",
        "description": "An LRS credential: its key as user name, its secret as password.",
    },
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT signed by a key of the configured JWKS (LRS_JWKS_FILE/URL).",
    },
}
LANGUAGE_MAP: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}
SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message", "request_id", "details"],
                "properties": {
                    "code": {"type": "string", "examples": ["invalid_statement"]},
                    "message": {"type": "string", "description": "names the rule broken"},
                    "request_id": {"type": "string"},
                    "details": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "path": {"type": "string", "examples": ["$.actor.mbox"]},
                                "rule": {"type": "string"},
                                "message": {"type": "string"},
                            },
                        },
                    },
                },
            }
        },
    },
    "Agent": {
        "type": "object",
        "description": "An Agent or Group with exactly one identifier: mbox, mbox_sha1sum, "
        "openid or account (Data 2.4.2)",
        "properties": {
            "objectType": {"type": "string", "enum": ["Agent", "Group"]},
            "name": STRING,
            "mbox": {"type": "string", "examples": ["mailto:learner@example.org"]},
            "mbox_sha1sum": STRING,
            "openid": IRI,
            "account": {
                "type": "object",
                "properties": {"homePage": IRI, "name": STRING},
            },
            "member": {"type": "array", "items": ref("Agent")},
        },
    },
    "Statement": {
        "type": "object",
        "description": "An xAPI Statement (Data 2.4); the LRS sets `stored` and `authority` "
        "and, when missing, `id`, `timestamp` and `version`.",
        "required": ["actor", "verb", "object"],
        "properties": {
            "id": UUID,
            "actor": ref("Agent"),
            "verb": {
                "type": "object",
                "required": ["id"],
                "properties": {"id": IRI, "display": LANGUAGE_MAP},
            },
            "object": {
                "type": "object",
                "description": "An Activity, Agent, Group, StatementRef or SubStatement",
            },
            "result": {"type": "object"},
            "context": {"type": "object"},
            "timestamp": TIME,
            "stored": TIME,
            "authority": ref("Agent"),
            "version": STRING,
            "attachments": {"type": "array", "items": {"type": "object"}},
        },
        "example": {
            "actor": {"objectType": "Agent", "mbox": "mailto:learner@example.org"},
            "verb": {"id": "http://adlnet.gov/expapi/verbs/completed", "display": {"en": "did"}},
            "object": {"objectType": "Activity", "id": "http://example.org/course/1"},
        },
    },
    "StatementResult": {
        "type": "object",
        "properties": {
            "statements": {"type": "array", "items": ref("Statement")},
            "more": {
                "type": "string",
                "description": "the URL of the next page (relative), or empty on the last page",
            },
        },
    },
    "Person": {
        "type": "object",
        "description": "Everything known of an Agent (Communication 2.4)",
        "properties": {
            "objectType": {"type": "string", "enum": ["Person"]},
            **{
                name: {"type": "array", "items": STRING}
                for name in ("name", "mbox", "mbox_sha1sum", "openid")
            },
            "account": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Activity": {
        "type": "object",
        "properties": {
            "objectType": {"type": "string", "enum": ["Activity"]},
            "id": IRI,
            "definition": {"type": "object"},
        },
    },
    "About": {
        "type": "object",
        "properties": {
            "version": {"type": "array", "items": STRING},
            "extensions": {"type": "object"},
        },
    },
    "Team": {
        "type": "object",
        "required": ["team"],
        "properties": {"team": STRING, "name": STRING},
    },
}
TAGS = [
    {"name": "xAPI statements", "description": "Statement Resource (Communication 2.1)"},
    {
        "name": "xAPI documents",
        "description": "State, Activity Profile and Agent Profile (Communication 2.3, 2.6, 2.7)",
    },
    {"name": "xAPI agents and activities", "description": "Communication 2.4, 2.5"},
    {"name": "xAPI about", "description": "Communication 2.8; needs no credential"},
    {"name": "teams"},
    {"name": "progress"},
    {"name": "admin", "description": "needs the `admin` scope"},
    {"name": "operations", "description": "health, readiness and Prometheus metrics"},
]
PUBLIC_PATHS = frozenset({"/xapi/about", "/healthz", "/readyz", "/metrics", "/dashboard"})

# --- headers ------------------------------------------------------------------------------

VERSION_RESPONSE_HEADER: dict[str, Any] = {
    "X-Experience-API-Version": {
        "schema": STRING,
        "description": "the xAPI version the LRS answers in (on every response)",
    }
}
CONSISTENT_THROUGH: dict[str, Any] = {
    "X-Experience-API-Consistent-Through": {
        "schema": TIME,
        "description": "every statement stored up to this time is in the answers",
    }
}
LAST_MODIFIED: dict[str, Any] = {"Last-Modified": {"schema": STRING, "description": "HTTP date"}}
ETAG: dict[str, Any] = {"ETag": {"schema": STRING, "description": "SHA-1 of the content"}}


def header(name: str, description: str, *, required: bool = False, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "description": description,
        "schema": {"type": "string", **schema},
    }


VERSION_HEADER = header(
    "X-Experience-API-Version",
    "the xAPI version of the request: 1.0.x or 2.0.x (Communication 3.3)",
    required=True,
    default="2.0.0",
)
PRECONDITION_HEADERS = (
    header(
        "If-Match",
        "the document's current ETag (or `*`): the request applies only when it matches "
        "(Communication 3.1)",
    ),
    header(
        "If-None-Match",
        "`*`: the request applies only when the document does not exist yet (Communication 3.1)",
    ),
)
ACCEPT_LANGUAGE = header(
    "Accept-Language", "languages to keep in language maps with format=canonical"
)


def query_param(
    name: str, schema: dict[str, Any], description: str, *, required: bool = False
) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": schema,
    }


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


AGENT_JSON: dict[str, Any] = {**STRING, "examples": [AGENT_EXAMPLE]}
AGENT_QUERY = query_param("agent", AGENT_JSON, "an Agent as JSON", required=True)

# --- the Statement Resource (Communication 2.1) --------------------------------------------

STATEMENT_QUERY: dict[str, tuple[dict[str, Any], str]] = {
    "statementId": (UUID, "one statement by id; only `format` and `attachments` may go with it"),
    "voidedStatementId": (UUID, "one voided statement by id (same rule)"),
    "agent": (
        AGENT_JSON,
        "an Agent or identified Group as JSON: statements whose actor or object it is",
    ),
    "verb": (IRI, "the verb's id"),
    "activity": (IRI, "the object Activity's id"),
    "registration": (UUID, "the context registration"),
    "related_activities": (BOOLEAN, "match `activity` anywhere in the statement (default false)"),
    "related_agents": (BOOLEAN, "match `agent` anywhere in the statement (default false)"),
    "since": (TIME, "stored after this time"),
    "until": (TIME, "stored at or before this time"),
    "limit": (
        {"type": "integer", "minimum": 0},
        "statements per page; absent, 0 or more than LRS_STATEMENT_PAGE_LIMIT: that limit",
    ),
    "format": (
        {"type": "string", "enum": list(query.FORMATS)},
        "exact (the default): as stored; ids: Agents, Activities and verbs by identifier "
        "only; canonical: language maps reduced to Accept-Language",
    ),
    "attachments": (
        BOOLEAN,
        "answer multipart/mixed with the attachments' content (default false)",
    ),
    "ascending": (BOOLEAN, "oldest first (default false: newest first)"),
    "cursor": (STRING, "the position of a next page: follow the `more` URL as given"),
}


def statement_query() -> list[dict[str, Any]]:
    """GET statements' parameters: every name lrs.xapi.query accepts (KeyError for one that is
    not described here)."""
    order = list(STATEMENT_QUERY)
    names = sorted(query.ALLOWED_PARAMS, key=lambda n: order.index(n) if n in order else -1)
    return [query_param(name, *STATEMENT_QUERY[name]) for name in names]


STATEMENTS_BODY = {
    "required": True,
    "description": "Statements as JSON, or multipart/mixed: that JSON as the first part, then "
    "one part per attachment with its X-Experience-API-Hash header (Communication 1.5.2)",
}
STATEMENTS_MULTIPART = {"schema": BINARY}

# --- the Document Resources (Communication 2.3, 2.6, 2.7) ---------------------------------

DOCUMENT_QUERY: dict[str, tuple[dict[str, Any], str]] = {
    "activityId": (IRI, "the Activity the document belongs to"),
    "agent": (
        AGENT_JSON,
        "the Agent the document belongs to, as JSON (an Agent, not a Group)",
    ),
    "registration": (UUID, "the registration the State belongs to"),
    "stateId": (
        STRING,
        "the document's id; without it GET lists the ids and DELETE deletes every State "
        "document of the context",
    ),
    "profileId": (STRING, "the document's id; without it GET lists the ids"),
    "since": (TIME, "with GET without an id: only documents stored after this time"),
}
DOCUMENT_BODY = {
    "required": True,
    "description": "The document, of any content type. POST merges a JSON object into the "
    "stored JSON object (Communication 2.2).",
    "content": {
        JSON: {"schema": {"type": "object"}},
        "application/octet-stream": {"schema": BINARY},
    },
}


def document_query(resource: Resource, method: str) -> list[dict[str, Any]]:
    """The parameters lrs.xapi.documents allows for this resource and method, required as
    its tables say."""
    order = list(DOCUMENT_QUERY)
    names = sorted(allowed_params(resource, method), key=order.index)
    return [
        query_param(name, *DOCUMENT_QUERY[name], required=is_required(resource, method, name))
        for name in names
    ]


def is_required(resource: Resource, method: str, name: str) -> bool:
    if name in CONTEXT_PARAMS[resource]:
        return True
    return name == ID_PARAM[resource] and id_required(resource, method)


# --- operations ---------------------------------------------------------------------------


def response(
    description: str, headers: dict[str, Any] | None = None, content: dict[str, Any] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "headers": {**VERSION_RESPONSE_HEADER, **(headers or {})},
    }
    if content:
        answer["content"] = content
    return answer


NO_CONTENT = {"204": response("Done")}


@dataclass(frozen=True)
class Operation:
    """What one operation accepts and answers, beyond what FastAPI generated."""

    tag: str
    parameters: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] | None = None
    responses: dict[str, Any] = field(default_factory=dict)

    def apply(self, operation: dict[str, Any]) -> None:
        path_params = [p for p in operation.get("parameters", []) if p.get("in") == "path"]
        operation["parameters"] = path_params + self.parameters
        if not operation["parameters"]:
            del operation["parameters"]
        if self.body is not None:
            operation["requestBody"] = self.body
        if self.responses:
            for status in ("200", "201", "204"):
                operation["responses"].pop(status, None)
            operation["responses"].update(self.responses)
        operation["tags"] = [self.tag]


def statements_operations() -> dict[tuple[str, str], Operation]:
    one_or_many = {"oneOf": [ref("Statement"), {"type": "array", "items": ref("Statement")}]}
    tag = "xAPI statements"
    path = "/xapi/statements"
    return {
        ("get", path): Operation(
            tag,
            [VERSION_HEADER, ACCEPT_LANGUAGE, *statement_query()],
            responses={
                "200": response(
                    "A StatementResult, or the one statement asked for by id",
                    {**CONSISTENT_THROUGH, **LAST_MODIFIED},
                    {
                        JSON: {"schema": {"oneOf": [ref("StatementResult"), ref("Statement")]}},
                        MULTIPART: STATEMENTS_MULTIPART,
                    },
                )
            },
        ),
        ("post", path): Operation(
            tag,
            [VERSION_HEADER],
            {
                **STATEMENTS_BODY,
                "content": {JSON: {"schema": one_or_many}, MULTIPART: STATEMENTS_MULTIPART},
            },
            {
                "200": response(
                    "The ids of the statements, in the order sent",
                    content={JSON: {"schema": {"type": "array", "items": UUID}}},
                )
            },
        ),
        ("put", path): Operation(
            tag,
            [
                VERSION_HEADER,
                query_param("statementId", UUID, "the statement's id", required=True),
            ],
            {
                **STATEMENTS_BODY,
                "content": {JSON: {"schema": ref("Statement")}, MULTIPART: STATEMENTS_MULTIPART},
            },
            NO_CONTENT,
        ),
    }


DOCUMENT_PATHS = {
    "/xapi/activities/state": Resource.STATE,
    "/xapi/activities/profile": Resource.ACTIVITY_PROFILE,
    "/xapi/agents/profile": Resource.AGENT_PROFILE,
}


def document_operations() -> dict[tuple[str, str], Operation]:
    found = response(
        "The document with its own Content-Type; without an id, a JSON array of ids",
        {**ETAG, **LAST_MODIFIED},
        {"*/*": {"schema": BINARY}, **json_content({})},
    )
    tag = "xAPI documents"
    operations: dict[tuple[str, str], Operation] = {}
    for path, resource in DOCUMENT_PATHS.items():
        for method in ("get", "put", "post", "delete"):
            headers = [VERSION_HEADER] + ([] if method == "get" else list(PRECONDITION_HEADERS))
            operations[(method, path)] = Operation(
                tag,
                headers + document_query(resource, method.upper()),
                DOCUMENT_BODY if method in ("put", "post") else None,
                {"200": found} if method == "get" else NO_CONTENT,
            )
    return operations


def other_xapi_operations() -> dict[tuple[str, str], Operation]:
    tag = "xAPI agents and activities"
    return {
        ("get", "/xapi/agents"): Operation(
            tag,
            [VERSION_HEADER, AGENT_QUERY],
            responses={"200": response("The Person Object", ETAG, json_content(ref("Person")))},
        ),
        ("get", "/xapi/activities"): Operation(
            tag,
            [VERSION_HEADER, query_param("activityId", IRI, "the Activity's id", required=True)],
            responses={"200": response("The Activity Object", ETAG, json_content(ref("Activity")))},
        ),
        ("get", "/xapi/about"): Operation(
            "xAPI about",
            responses={
                "200": response("Versions and extensions", content=json_content(ref("About")))
            },
        ),
    }


def registry_operations() -> dict[tuple[str, str], Operation]:
    """The team registry and progress: bodies and parameters their handlers read."""
    members = {
        "required": True,
        "content": {JSON: {"schema": {"type": "array", "items": ref("Agent")}}},
    }
    stream = [
        query_param("team", STRING, "a team's id (or give `agent`)"),
        query_param("agent", STRING, "a learner as Agent JSON (or give `team`)"),
        query_param("token", STRING, "a token from POST /progress/stream-token, for EventSource"),
        query_param("lastEventId", STRING, "where to resume, as the Last-Event-ID header"),
    ]
    team_body = {"required": True, "content": {JSON: {"schema": ref("Team")}}}
    return {
        ("post", "/teams"): Operation("teams", body=team_body),
        ("put", "/teams/{team}/members"): Operation("teams", body=members),
        ("post", "/teams/{team}/members"): Operation("teams", body=members),
        ("delete", "/teams/{team}/members"): Operation("teams", [AGENT_QUERY]),
        ("get", "/progress/learners"): Operation("progress", [AGENT_QUERY]),
        ("get", "/progress/stream"): Operation("progress", stream),
        ("get", "/progress/organisation/stream"): Operation("progress", stream[2:]),
    }


def build_operations() -> dict[tuple[str, str], Operation]:
    return {
        **statements_operations(),
        **document_operations(),
        **other_xapi_operations(),
        **registry_operations(),
        **{("get", path): Operation("operations") for path in ("/healthz", "/readyz", "/metrics")},
    }


@lru_cache(maxsize=1)
def operations() -> dict[tuple[str, str], Operation]:
    """Built when the document is first asked for (a parameter a parser accepts and this
    module does not describe is a KeyError there, which the OpenAPI tests catch)."""
    return build_operations()


def operation(path: str, method: str) -> Operation | None:
    return operations().get((method, path))


# Error statuses beyond 400/401/403/413/503, where the resource raises them.
EXTRA_ERRORS: dict[tuple[str, str], tuple[int, ...]] = {
    ("get", "/xapi/statements"): (404,),
    ("put", "/xapi/statements"): (409,),
    ("post", "/xapi/statements"): (409,),
    **{("get", path): (404,) for path in DOCUMENT_PATHS},
    **{("put", path): (409, 412) for path in DOCUMENT_PATHS},
    **{("post", path): (412,) for path in DOCUMENT_PATHS},
    **{("delete", path): (412,) for path in DOCUMENT_PATHS},
    ("post", "/teams"): (409,),
    **{(m, "/teams/{team}/members"): (404, 409) for m in ("put", "post", "delete")},
    ("get", "/teams/{team}"): (404,),
    ("delete", "/teams/{team}"): (404,),
    ("get", "/progress/learners"): (404,),
    ("get", "/progress/teams/{team}"): (404,),
    ("get", "/progress/organisation"): (404,),
    ("post", "/admin/tenants"): (409,),
    ("post", "/admin/credentials"): (404,),
}
