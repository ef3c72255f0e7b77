"""Hostile HTTP requests for the LRS, drawn from a `random.Random` (so a seed replays a run).

Shared by the fuzz test (tests/integration/test_hostile_requests.py, in-process) and
bench/fuzz.py (over HTTP against a running `lrs serve`). A request targets one route of the
app's OpenAPI description, the alternate request syntax, or no route at all, and is hostile in
one or more of its parts: path parameters, query string (repeated, unknown, huge, deep JSON,
non-UTF-8, bad UUIDs, IRIs, timestamps, cursors, numbers), headers (credentials, version,
Content-Type, If-Match, Accept-Language, Last-Event-ID) and body (deep, invalid or non-UTF-8
JSON, keys MongoDB refuses, statements with odd values, bad multipart and form bodies).

Any such request deserves a 4xx (or, when it happens to be valid, a 2xx); never a 5xx.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

Route = tuple[str, str]  # (METHOD, path template such as /teams/{team}/members)
Header = tuple[bytes, bytes]

DEEP = 3000  # far beyond any configured depth, and beyond what Python's json can recurse
XAPI_PARAMS = (
    "agent",
    "activityId",
    "stateId",
    "profileId",
    "registration",
    "since",
    "until",
    "limit",
    "verb",
    "activity",
    "statementId",
    "voidedStatementId",
    "format",
    "attachments",
    "ascending",
    "related_activities",
    "related_agents",
    "cursor",
    "team",
    "token",
    "lastEventId",
    "tenant",
)
UUID = "6f2d4a1c-3b5e-4c7d-8e9f-0a1b2c3d4e5f"


@dataclass(frozen=True)
class HostileRequest:
    method: str
    path: str  # percent-encoded, as on the wire
    query: bytes  # raw query string, possibly not UTF-8
    headers: tuple[Header, ...]
    body: bytes
    route: str  # "METHOD template" this request aims at (for coverage counts)

    def summary(self, limit: int = 240) -> str:
        """One line describing the request, long parts cut to `limit` characters."""

        def cut(data: bytes | str) -> str:
            text = data if isinstance(data, str) else data.decode("latin-1")
            return text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"

        headers = ", ".join(f"{k.decode()}: {cut(v)}" for k, v in self.headers)
        query = f"?{cut(self.query)}" if self.query else ""
        return f"{self.method} {cut(self.path)}{query} [{headers}] body={cut(self.body)!r}"


def routes_from_openapi(doc: Mapping[str, Any]) -> list[Route]:
    """Every (METHOD, path) the app's OpenAPI description lists."""
    methods = ("get", "put", "post", "delete")
    return sorted(
        (method.upper(), path)
        for path, operations in doc["paths"].items()
        for method in operations
        if method in methods
    )


# --- values -----------------------------------------------------------------------------------


def nested(levels: int, leaf: str = "1") -> str:
    return '{"a":' * levels + leaf + "}" * levels


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


AGENTS: tuple[Any, ...] = (
    {"mbox": "mailto:a@example.com"},
    {"objectType": "Group", "mbox": "mailto:g@example.com"},
    {"mbox": "a@example.com"},
    {"mbox": "mailto:\u0000@example.com"},
    {"mbox_sha1sum": "z" * 40},
    {"openid": "not an iri"},
    {"account": {"homePage": "http://example.com", "name": "\u0000$.x"}},
    {"account": {"homePage": "http://example.com", "name": "n" * 100_000}},
    {"account": {"homePage": 7, "name": []}},
    {"mbox": "mailto:a@example.com", "openid": "http://example.com/o"},
    {"$where": "1", "mbox": "mailto:a@example.com"},
    {"mbox": ["mailto:a@example.com"]},
    [],
    "mailto:a@example.com",
    None,
    1e308,
)
BROKEN_AGENTS = (
    '{"mbox":"mailto:a@example.com"',
    '{"mbox":"mailto:\\ud800@example.com"}',
    "[" * 1200 + "]" * 1200,
)


def _agent_value(rng: random.Random) -> Any:
    """An Agent-ish JSON value: mostly wrong in one way or another, sometimes valid."""
    return rng.choice(AGENTS)


def _agent(rng: random.Random) -> str:
    """Agent JSON text, including text that is no JSON or nests far too deep."""
    roll = rng.random()
    if roll < 0.6:
        return json.dumps(_agent_value(rng))
    if roll < 0.8:
        return nested(rng.choice([65, 300, 1200, DEEP]))
    return rng.choice(BROKEN_AGENTS)


def _timestamp(rng: random.Random) -> str:
    return rng.choice(
        [
            "0001-01-01T00:00:00+01:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59-01:00",
            "9999-12-31T23:59:59.999999Z",
            "2026-12-31T23:59:60Z",
            "2024-02-30T00:00:00Z",
            "2024-01-01T25:00:00Z",
            "2024-01-01T00:00:00+99:99",
            "2024-01-01",
            "-2024-01-01T00:00:00Z",
            "+12024-01-01T00:00:00Z",
            "2024-01-01T00:00:00." + "9" * 5000 + "Z",
            "yesterday",
            "",
        ]
    )


def _cursor(rng: random.Random) -> str:
    payloads = [
        b"[" * DEEP + b"]" * DEEP,
        json.dumps(["0001-01-01T00:00:00+01:00", UUID]).encode(),
        json.dumps(["9999-12-31T23:59:59-01:00", UUID]).encode(),
        json.dumps(["2024-01-01T00:00:00", UUID]).encode(),
        json.dumps(["2024-01-01T00:00:00+00:00", {"$gt": ""}]).encode(),
        json.dumps([1, 2]).encode(),
        b"\xff\xfe\x00",
        b"",
    ]
    return rng.choice([b64(rng.choice(payloads)), "!!!", "=" * 50, "A" * 100_001, "\u00e9"])


def _number(rng: random.Random) -> str:
    return rng.choice(
        ["9" * 5000, "0" * 5000 + "1", "-1", "1.5", "1e9", "0x10", "\u0662", "\u00b2", " 1", ""]
    )


def _text(rng: random.Random) -> str:
    """Strings that are odd for any parameter: NUL, control, RTL, astral, huge, operators."""
    return rng.choice(
        [
            "\u0000",
            "a\u0000b",
            "\u202e\u0301",
            "\U0001f600" * 50,
            "$gt",
            "a.b",
            "../../etc/passwd",
            "x" * 200_000,
            " ",
            "",
            "%",
            "\r\n",
            "not-a-uuid",
            UUID.upper(),
            "http://example.com/\u0000",
            "urn:",
            ":no-scheme",
            "http://" + "a" * 10_000,
            "true",
            "TRUE",
            "null",
        ]
    )


VALUE_MAKERS: tuple[Callable[[random.Random], str], ...] = (
    _agent,
    _timestamp,
    _cursor,
    _number,
    _text,
)


def _value(rng: random.Random) -> str:
    return rng.choice(VALUE_MAKERS)(rng)


# --- query strings and paths ----------------------------------------------------------------


def _param_name(rng: random.Random) -> str:
    name = rng.choice(XAPI_PARAMS)
    roll = rng.random()
    if roll < 0.08:
        return name.upper()
    if roll < 0.12:
        return rng.choice(["", "\u0000", "a" * 10_000, "method", "skip", "$where"])
    return name


VALID: dict[str, str] = {
    "agent": '{"mbox":"mailto:fuzz@example.com"}',
    "activityId": "http://example.com/activities/a",
    "stateId": "s1",
    "profileId": "p1",
    "registration": UUID,
    "statementId": UUID,
    "team": "fuzz-team",
    "limit": "3",
}
# The parameters a valid request to a route carries (by path), so that a request can be valid
# but for one hostile part, and reach the parsing of that part.
ROUTE_PARAMS: dict[str, tuple[str, ...]] = {
    "/xapi/activities/state": ("activityId", "agent", "stateId"),
    "/xapi/activities/profile": ("activityId", "profileId"),
    "/xapi/agents/profile": ("agent", "profileId"),
    "/xapi/agents": ("agent",),
    "/xapi/activities": ("activityId",),
    "/progress/learners": ("agent",),
    "/progress/stream": ("agent",),
    "/teams/{team}/members": ("agent",),
}


def _base_params(method: str, template: str) -> list[tuple[str, str]]:
    names = ROUTE_PARAMS.get(template, ())
    if template == "/xapi/statements":
        names = ("statementId",) if method == "PUT" else ("limit",)
    if template == "/teams/{team}/members" and method != "DELETE":
        names = ()
    return [(name, VALID[name]) for name in names]


def _encode(pairs: Sequence[tuple[str, str]]) -> bytes:
    return "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in pairs).encode()


def _raw_query(rng: random.Random) -> bytes:
    return rng.choice(
        [
            b"agent=%ff%fe",
            b"limit=\xff\xfe",
            b"%",
            b"&&&==&",
            b"a=" + b"%00" * 10_000,
            b"agent=" + b"%7B%22a%22%3A" * 1200,
            b"since=0001-01-01T00:00:00%2B01:00",
            b"until=9999-12-31T23:59:59-01:00",
        ]
    )


def _query(rng: random.Random, method: str = "GET", template: str = "") -> bytes:
    """Mostly: the route's valid parameters with one or two made hostile (replaced, repeated,
    or joined by an odd one); otherwise random parameters, or raw bytes."""
    roll = rng.random()
    if roll < 0.06:
        return _raw_query(rng)
    if roll < 0.35:
        return _encode([(_param_name(rng), _value(rng)) for _ in range(rng.randrange(0, 5))])
    pairs = _base_params(method, template)
    for _ in range(rng.choice([1, 1, 1, 2])):
        change = rng.random()
        if pairs and change < 0.5:
            index = rng.randrange(len(pairs))
            pairs[index] = (pairs[index][0], _value(rng))
        elif pairs and change < 0.6:
            pairs.append(rng.choice(pairs))  # a repeated parameter
        else:
            pairs.append((_param_name(rng), _value(rng)))
    return _encode(pairs)


def _segment(rng: random.Random) -> str:
    """A path parameter (team id, tenant name, credential key), percent-encoded."""
    return rng.choice(
        [
            quote("mbox:mailto:team@example.com", safe=""),
            "%00",
            "%FF%FE",
            "..%2F..",
            "a" * 5000,
            quote("\U0001f600\u202e", safe=""),
            "$where",
            "a.b",
            "%2F",
            "members",
            "x%20y",
        ]
    )


def _path(rng: random.Random, template: str) -> str:
    parts = []
    for part in template.split("/"):
        parts.append(_segment(rng) if part.startswith("{") else part)
    return "/".join(parts)


# --- headers --------------------------------------------------------------------------------


def _basic(key: str, secret: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{key}:{secret}".encode())


def _authorization(rng: random.Random, key: str, secret: str) -> bytes | None:
    if rng.random() < 0.85:
        return _basic(key, secret)
    return rng.choice(
        [
            None,
            b"Basic",
            b"Basic !!!",
            b"Basic " + base64.b64encode(b"\xff\xfe:\x00"),
            b"Basic " + base64.b64encode(b"no-colon"),
            b"Basic " + b"A" * 100_000,
            b"Bearer a.b.c",
            b"Bearer " + b64(b'{"alg":"none"}').encode() + b"..",
            b"Digest x",
        ]
    )


def _version(rng: random.Random) -> bytes | None:
    if rng.random() < 0.85:
        return rng.choice([b"1.0.3", b"2.0.0"])
    return rng.choice([None, b"", b"0.95", b"1.0", b"2.0.9", b"3.0.0", b"1.0.3\xff", b"9" * 5000])


CONTENT_TYPES = (
    b"application/json",
    b"application/json; charset=utf-8",
    b"application/json; charset=latin-1",
    b"multipart/mixed",
    b"multipart/mixed; boundary=",
    b'multipart/mixed; boundary="unterminated',
    b"multipart/mixed; boundary=" + b"b" * 5000,
    b"application/x-www-form-urlencoded",
    b"text/plain",
    b"application/octet-stream",
    b"*/*",
    b";;;",
    b"application/json\xff",
)


def _extra_headers(rng: random.Random) -> list[Header]:
    pool: list[Header] = [
        (b"if-match", b'"' + b"a" * 40 + b'"'),
        (b"if-match", b"*"),
        (b"if-match", b"W/" + b'"x",' * 20_000),
        (b"if-none-match", b"*"),
        (b"if-none-match", b'"\xff"'),
        (b"accept-language", b"en;q=abc, *;q=-1, \xff, " + b"x-" * 5000),
        (b"accept-language", b";q=0.5,,,"),
        (b"last-event-id", b"9" * 5000),
        (b"last-event-id", b"\xb2"),
        (b"origin", b"http://evil.example"),
        (b"x-request-id", b"\xff" * 100),
        (b"content-encoding", b"gzip"),
        (b"content-length", b"9" * 30),
        (b"content-length", b"\xb2"),
        (b"accept", b"application/xml"),
    ]
    return rng.sample(pool, rng.randrange(0, 3))


# --- bodies ---------------------------------------------------------------------------------


def _statement(rng: random.Random) -> dict[str, Any]:
    """A statement with one odd part (most would be rejected; some are valid and stored)."""
    doc: dict[str, Any] = {
        "actor": {"mbox": "mailto:fuzz@example.com"},
        "verb": {"id": "http://example.com/verbs/v"},
        "object": {"id": "http://example.com/activities/a"},
    }
    odd: list[tuple[str, Any]] = [
        ("id", rng.choice(["not-a-uuid", UUID.upper(), "", 7])),
        ("timestamp", _timestamp(rng)),
        ("actor", _agent_value(rng) if rng.random() < 0.5 else {"mbox": _text(rng)}),
        ("verb", {"id": _text(rng), "display": {"\u0000": "x", "$x": "y", "a.b": "z"}}),
        ("result", {"extensions": {"http://example.com/\u0000k": 1}}),
        ("result", {"extensions": {"http://example.com/k": json.loads(nested(40))}}),
        ("result", {"score": {"scaled": 1e308}, "duration": "P" + "9" * 5000 + "D"}),
        ("context", {"registration": _text(rng), "extensions": {"$set": 1}}),
        ("attachments", [{"usageType": "http://x.y/u", "sha2": "z", "length": -1}]),
        ("object", {"id": "http://example.com/a", "definition": {"name": {"x" * 5000: "y"}}}),
        (
            "object",
            {
                "id": "https://example.com/a",
                "definition": {"extensions": {"https://e.x/\u0000k": 1}},
            },
        ),
        ("context", {"extensions": {"https://e.x/k": {"\u0000": 1, "$x": {"a.b": 2}}}}),
    ]
    key, value = rng.choice(odd)
    doc[key] = value
    return doc


def _json_body(rng: random.Random) -> bytes:
    roll = rng.randrange(12)
    if roll == 0:
        return nested(DEEP).encode()
    if roll == 1:
        return nested(rng.choice([64, 65, 300])).encode()
    if roll == 2:
        return b'{"a":' + b"9" * 5000 + b"}"
    if roll == 3:
        return rng.choice([b'{"a":NaN}', b'{"a":1e999}', b'{"a":"\\ud800"}', b"{'a':1}", b"{"])
    if roll == 4:
        return rng.choice([b"\xff\xfe{}", b'{"a":"\xff"}', "{}".encode("utf-16")])
    if roll == 5:
        return json.dumps({"\u0000": 1, "$set": {"a.b": 2}, "": 3, "a.b": {"$x": 4}}).encode()
    if roll == 6:
        return json.dumps([_statement(rng) for _ in range(rng.choice([1, 2, 50]))]).encode()
    if roll == 7:
        return json.dumps(rng.choice([[], {}, None, 0, "", [[]], [None]])).encode()
    if roll == 8:
        return json.dumps({"members": [_agent_value(rng) for _ in range(3)]}).encode()
    if roll == 9:
        return json.dumps({"name": _text(rng), "team": _text(rng), "scopes": ["\u0000"]}).encode()
    if roll == 10:
        return b""
    return json.dumps(_statement(rng)).encode()


def _multipart_body(rng: random.Random) -> bytes:
    statement = json.dumps(_statement(rng)).encode()
    return rng.choice(
        [
            b"--b\r\nContent-Type: application/json\r\n\r\n" + statement + b"\r\n--b--",
            b"--b\r\n\r\n" + statement,
            b"no boundary at all",
            b"--b\r\nContent-Type: application/json\r\n\r\n" + statement + b"\r\n--b\r\n"
            b"Content-Type: text/plain\r\nX-Experience-API-Hash: zz\r\n\r\nx\r\n--b--\r\n",
            b"--" + b"b" * 5000 + b"\r\n\r\n--",
        ]
    )


def _form_body(rng: random.Random) -> bytes:
    fields = [(_param_name(rng), _value(rng)) for _ in range(rng.randrange(0, 4))]
    if rng.random() < 0.5:
        fields.append(("content", _json_body(rng).decode("utf-8", "replace")))
    if rng.random() < 0.3:
        fields.append(("X-Experience-API-Version", rng.choice(["2.0.0", "1.0.3", "\u0000"])))
    text = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in fields)
    return text.encode() if rng.random() < 0.9 else text.encode() + b"&\xff\xfe=%ZZ"


def _body(rng: random.Random, method: str) -> tuple[bytes, bytes | None]:
    """(body, Content-Type) for a request of `method`."""
    if method in ("GET", "DELETE", "HEAD") and rng.random() < 0.8:
        return b"", None
    roll = rng.random()
    if roll < 0.65:
        content_type: bytes | None = rng.choice(CONTENT_TYPES[:3])
        body = _json_body(rng)
    elif roll < 0.75:
        content_type = b'multipart/mixed; boundary="b"'
        body = _multipart_body(rng)
    elif roll < 0.82:
        content_type = b"application/x-www-form-urlencoded"
        body = _form_body(rng)
    else:
        content_type = rng.choice([*CONTENT_TYPES, None])
        body = rng.choice([_json_body(rng), bytes(rng.randrange(256) for _ in range(64))])
    return body, content_type


# --- requests ---------------------------------------------------------------------------------


def _alternate(rng: random.Random) -> tuple[str, str, bytes]:
    """(path, route label, query) of an alternate-syntax POST (xAPI 1.0.3 Communication 1.3)."""
    path = rng.choice(
        ["/xapi/statements", "/xapi/activities/state", "/xapi/agents/profile", "/xapi/agents"]
    )
    method = rng.choice(["GET", "HEAD", "PUT", "POST", "DELETE", "get", "OPTIONS", "", "\u0000"])
    query = f"method={quote(method, safe='')}"
    if rng.random() < 0.2:
        query += "&" + _query(rng, "GET", path).decode("latin-1")
    return path, "POST alternate-syntax", query.encode("latin-1")


def hostile_request(
    rng: random.Random, routes: Sequence[Route], key: str, secret: str
) -> HostileRequest:
    """One hostile request; `key`/`secret` are valid Basic credentials, used most of the time
    (so that requests get past authentication and reach the parsing they are meant to try)."""
    roll = rng.random()
    if roll < 0.08:
        path, route, query = _alternate(rng)
        method = "POST"
    elif roll < 0.11:
        method = rng.choice(["OPTIONS", "PATCH", "HEAD", "TRACE"])
        template = rng.choice(routes)[1]
        path, route = _path(rng, template), f"{method} {template}"
        query = _query(rng, "GET", template)
    elif roll < 0.12:
        method, path, route, query = "GET", "/" + _segment(rng), "GET unrouted", _query(rng)
    else:
        method, template = rng.choice(routes)
        path, route = _path(rng, template), f"{method} {template}"
        query = _query(rng, method, template)
    body, content_type = _body(rng, method)
    if route == "POST alternate-syntax" and rng.random() < 0.8:
        body, content_type = _form_body(rng), b"application/x-www-form-urlencoded"
    headers: list[Header] = []
    for name, value in (
        (b"authorization", _authorization(rng, key, secret)),
        (b"x-experience-api-version", _version(rng)),
        (b"content-type", content_type),
    ):
        if value is not None:
            headers.append((name, value))
    if method == "PUT" and rng.random() < 0.4:
        headers.append((b"if-none-match", b"*"))  # so that profile PUTs can succeed
    headers += _extra_headers(rng)
    return HostileRequest(method, path, query, tuple(headers), body, route)
