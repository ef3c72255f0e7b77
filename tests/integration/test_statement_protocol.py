"""Statement Resource protocol details over HTTP on the real stack: attachments (multipart/mixed),
signed statements, content types, the alternate request syntax, versions and Last-Modified."""

from __future__ import annotations

import copy
import hashlib
import uuid
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from lrs.settings import LrsSettings
from lrs.xapi.multipart import build_multipart_mixed, parse_multipart_mixed
from lrs.xapi.timefmt import parse_timestamp
from tests.conftest import Infra
from tests.support.factories import activity, statement
from tests.support.jws import sign
from tests.support.stack import (
    api_client,
    make_settings,
    prepare_infra,
    running_persister,
    xapi_headers,
)

pytestmark = pytest.mark.integration
H = xapi_headers()
SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"


@pytest.fixture(scope="module")
async def client(infra: Infra, module_namespace: str) -> AsyncIterator[httpx.AsyncClient]:
    settings: LrsSettings = make_settings(
        infra.kafka_bootstrap, infra.mongodb_uri, module_namespace
    )
    await prepare_infra(settings)
    async with running_persister(settings), api_client(settings) as client:
        yield client


def attachment_meta(
    data: bytes,
    usage: str = "https://example.org/usage/certificate",
    content_type: str = "text/plain",
) -> dict[str, Any]:
    return {
        "usageType": usage,
        "display": {"en-US": "certificate"},
        "contentType": content_type,
        "length": len(data),
        "sha2": hashlib.sha256(data).hexdigest(),
    }


def multipart(statements: Any, *files: tuple[bytes, str]) -> tuple[str, bytes]:
    parts: list[tuple[dict[str, str], bytes]] = [
        ({"Content-Type": "application/json"}, orjson.dumps(statements))
    ]
    for data, content_type in files:
        parts.append(
            (
                {
                    "Content-Type": content_type,
                    "Content-Transfer-Encoding": "binary",
                    "X-Experience-API-Hash": hashlib.sha256(data).hexdigest(),
                },
                data,
            )
        )
    return build_multipart_mixed(parts)


async def post_multipart(
    client: httpx.AsyncClient, statements: Any, *files: tuple[bytes, str]
) -> httpx.Response:
    content_type, body = multipart(statements, *files)
    headers = {**H, "Content-Type": content_type}
    return await client.post("/xapi/statements", content=body, headers=headers)


async def test_attachment_round_trip(client: httpx.AsyncClient) -> None:
    data = b"certificate of completion\n"
    sent = statement(attachments=[attachment_meta(data)])
    response = await post_multipart(client, sent, (data, "text/plain"))
    assert response.status_code == 200, response.text
    fetched = await client.get(
        "/xapi/statements", params={"statementId": sent["id"], "attachments": "true"}, headers=H
    )
    assert fetched.status_code == 200
    assert fetched.headers["content-type"].startswith("multipart/mixed")
    parts = parse_multipart_mixed(fetched.headers["content-type"], fetched.content)
    assert orjson.loads(parts[0].body)["id"] == sent["id"]
    assert parts[1].body == data
    assert parts[1].headers["x-experience-api-hash"] == hashlib.sha256(data).hexdigest()
    plain = await client.get("/xapi/statements", params={"statementId": sent["id"]}, headers=H)
    assert plain.headers["content-type"] == "application/json"


@pytest.mark.parametrize(
    ("problem", "fragment"),
    [
        ("missing part", "sha2"),
        ("wrong hash", "SHA-2 is different"),
        ("extra part", "not the data of any Attachment"),
    ],
)
async def test_attachment_rules_reject_the_request(
    client: httpx.AsyncClient, problem: str, fragment: str
) -> None:
    data = b"some bytes"
    sent = statement(attachments=[attachment_meta(data)])
    files: list[tuple[bytes, str]] = [(data, "text/plain")]
    if problem == "missing part":
        files = []
    elif problem == "extra part":
        files.append((b"unreferenced", "text/plain"))
    content_type, body = multipart(sent, *files)
    if problem == "wrong hash":
        body = body.replace(data, b"other byte")
    response = await client.post(
        "/xapi/statements", content=body, headers={**H, "Content-Type": content_type}
    )
    assert response.status_code == 400
    assert fragment in response.text
    check = await client.get("/xapi/statements", params={"statementId": sent["id"]}, headers=H)
    assert check.status_code == 404


async def test_attachment_without_file_url_needs_multipart(client: httpx.AsyncClient) -> None:
    sent = statement(attachments=[attachment_meta(b"x")])
    response = await client.post("/xapi/statements", json=sent, headers=H)
    assert response.status_code == 400
    with_url = statement(attachments=[{**attachment_meta(b"x"), "fileUrl": "https://f.example/x"}])
    assert (await client.post("/xapi/statements", json=with_url, headers=H)).status_code == 200


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data; boundary=abc"])
async def test_other_content_types_are_rejected(
    client: httpx.AsyncClient, content_type: str
) -> None:
    response = await client.post(
        "/xapi/statements",
        content=orjson.dumps(statement()),
        headers={**H, "Content-Type": content_type},
    )
    assert response.status_code == 400
    assert "Content-Type" in response.json()["error"]["message"]


def signed(key: rsa.RSAPrivateKey, alg: str = "RS256", tamper: bool = False) -> tuple[Any, bytes]:
    sent = statement(result=False, context=False)
    payload = copy.deepcopy(sent)
    if tamper:
        payload["verb"] = {"id": "http://adlnet.gov/expapi/verbs/failed"}
    jws = sign(payload, key, alg)
    sent["attachments"] = [attachment_meta(jws, SIGNATURE, "application/octet-stream")]
    return sent, jws


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
async def test_signed_statement_is_accepted(
    client: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey, alg: str
) -> None:
    sent, jws = signed(rsa_key, alg)
    response = await post_multipart(client, sent, (jws, "application/octet-stream"))
    assert response.status_code == 200, response.text


async def test_signature_of_another_statement_is_rejected(
    client: httpx.AsyncClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    sent, jws = signed(rsa_key, tamper=True)
    response = await post_multipart(client, sent, (jws, "application/octet-stream"))
    assert response.status_code == 400
    assert "Data 2.6" in response.text


def alternate(method: str, fields: dict[str, str]) -> tuple[str, dict[str, str], bytes]:
    url = f"/xapi/statements?method={method}"
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return url, headers, urlencode(fields).encode()


async def test_alternate_request_syntax_put_and_get_in_1_0_3(client: httpx.AsyncClient) -> None:
    sent = statement()
    url, headers, body = alternate(
        "PUT",
        {
            "statementId": sent["id"],
            "content": orjson.dumps(sent).decode(),
            "Content-Type": "application/json",
            **H,
        },
    )
    put = await client.post(url, content=body, headers=headers)
    assert put.status_code == 204, put.text
    url, headers, body = alternate("GET", {"statementId": sent["id"], **H})
    got = await client.post(url, content=body, headers=headers)
    assert got.status_code == 200
    assert got.json()["id"] == sent["id"]


async def test_alternate_request_syntax_is_rejected_in_2_0(client: httpx.AsyncClient) -> None:
    url, headers, body = alternate("GET", {**xapi_headers("2.0.0")})
    response = await client.post(url, content=body, headers=headers)
    assert response.status_code == 400
    assert "2.0" in response.json()["error"]["message"]


async def test_alternate_request_syntax_allows_only_method_in_query(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/xapi/statements?method=GET&limit=1",
        content=urlencode(H).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("sent", "answered"),
    [("1.0.1", "1.0.3"), ("1.0", "1.0.3"), ("2.0.0", "2.0.0"), ("2.0.1", "2.0.0")],
)
async def test_versions_are_answered_in_their_latest_patch(
    client: httpx.AsyncClient, sent: str, answered: str
) -> None:
    response = await client.get(
        "/xapi/statements", params={"limit": "1"}, headers=xapi_headers(sent)
    )
    assert response.status_code == 200
    assert response.headers["X-Experience-API-Version"] == answered


async def test_unsupported_version_is_rejected(client: httpx.AsyncClient) -> None:
    response = await client.get("/xapi/statements", headers=xapi_headers("0.95"))
    assert response.status_code == 400


async def test_2_0_timestamp_is_stored_in_utc_and_last_modified_matches_stored(
    client: httpx.AsyncClient,
) -> None:
    h2 = xapi_headers("2.0.0")
    sent = statement(timestamp="2026-11-20T10:15:30.250+01:00")
    assert (await client.post("/xapi/statements", json=sent, headers=h2)).status_code == 200
    got = await client.get("/xapi/statements", params={"statementId": sent["id"]}, headers=h2)
    body = got.json()
    assert body["timestamp"] == "2026-11-20T09:15:30.250000Z"
    stored = parse_timestamp(body["stored"])
    modified = parsedate_to_datetime(got.headers["Last-Modified"])
    assert modified == stored.replace(microsecond=0)


async def test_head_answers_like_get_without_a_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/xapi/statements", params={"limit": "1"}, headers=H)
    assert response.status_code == 200
    assert response.content == b""
    assert "X-Experience-API-Consistent-Through" in response.headers


async def test_statement_ref_meets_its_targets_filter_over_http(client: httpx.AsyncClient) -> None:
    course = activity(f"course/{uuid.uuid4()}")
    target = statement(obj=course)
    referring = statement(
        learner="reviewer",
        verb="https://verbs.example.org/confirmed",
        obj={"objectType": "StatementRef", "id": target["id"]},
        context=False,
    )
    for item in (referring, target):
        assert (await client.post("/xapi/statements", json=item, headers=H)).status_code == 200
    listing = await client.get("/xapi/statements", params={"activity": course["id"]}, headers=H)
    assert {s["id"] for s in listing.json()["statements"]} == {target["id"], referring["id"]}
