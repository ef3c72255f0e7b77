"""Bearer JWTs (RS256) checked against a JWKS: signature, algorithm, key id, time, issuer,
audience; claims -> Principal (tenant claim, xAPI scopes, authority from the subject)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lrs.bearer import (
    BearerConfig,
    BearerVerifier,
    keys_from_jwks,
    principal_from_claims,
    token_scopes,
    verify_jwt,
)
from lrs.services.auth import Authenticator
from lrs.xapi.errors import Unauthenticated

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
ISSUER = "https://idp.example.com"
CONFIG = BearerConfig(issuer=ISSUER, audience="lrs", tenant_claim="lrs_tenant")
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, str]:
    numbers = key.public_key().public_numbers()
    return {
        "kty": "RSA",
        "kid": kid,
        "use": "sig",
        "alg": "RS256",
        "n": b64url(numbers.n.to_bytes((numbers.n.bit_length() + 7) // 8, "big")),
        "e": b64url(numbers.e.to_bytes(3, "big")),
    }


KEYS = keys_from_jwks({"keys": [jwk(KEY, "k1"), {"kty": "EC", "kid": "ignored"}]})


def claims(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": "lrs",
        "sub": "user-42",
        "exp": NOW.timestamp() + 300,
        "lrs_tenant": "acme",
        "scope": "openid statements/write statements/read/mine",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def token(
    payload: dict[str, Any],
    *,
    key: rsa.RSAPrivateKey = KEY,
    header: dict[str, Any] | None = None,
) -> str:
    head = b64url(json.dumps(header or {"alg": "RS256", "kid": "k1", "typ": "JWT"}).encode())
    body = b64url(json.dumps(payload).encode())
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64url(signature)}"


def test_valid_token_gives_its_claims() -> None:
    assert verify_jwt(token(claims()), KEYS, CONFIG, NOW)["sub"] == "user-42"


def test_token_without_kid_uses_the_only_key() -> None:
    header = {"alg": "RS256"}
    assert verify_jwt(token(claims(), header=header), KEYS, CONFIG, NOW)["sub"] == "user-42"


def test_audience_may_be_a_list() -> None:
    verify_jwt(token(claims(aud=["other", "lrs"])), KEYS, CONFIG, NOW)


def tampered() -> str:
    head, _, sig = token(claims()).split(".")
    body = b64url(json.dumps(claims(lrs_tenant="victim")).encode())
    return f"{head}.{body}.{sig}"


def unsigned() -> str:
    head = b64url(json.dumps({"alg": "none"}).encode())
    return f"{head}.{b64url(json.dumps(claims()).encode())}."


def hs256() -> str:
    head = b64url(json.dumps({"alg": "HS256", "kid": "k1"}).encode())
    return f"{head}.{b64url(json.dumps(claims()).encode())}.c2ln"


@pytest.mark.parametrize(
    ("jwt", "message"),
    [
        (token(claims(), key=OTHER_KEY), "signature"),
        (token(claims(), key=OTHER_KEY, header={"alg": "RS256", "kid": "k2"}), "unknown key"),
        (tampered(), "signature"),
        (unsigned(), "RS256"),
        (hs256(), "RS256"),
        (token(claims(exp=NOW.timestamp() - 31)), "expired"),
        (token(claims(exp=None)), "no expiry"),
        (token(claims(nbf=NOW.timestamp() + 60)), "not valid yet"),
        (token(claims(iss="https://evil.example.com")), "issuer"),
        (token(claims(aud="someone-else")), "audience"),
        (token(claims(aud=None)), "audience"),
        ("not-a-jwt", "compact"),
        ("a.b.c", "base64url"),
        ("YWJj.YWJj.YWJj", "JSON"),
        ("e30.e30.!!!", "base64url|RS256"),
        (b64url(("[" * 3000 + "]" * 3000).encode()) + ".e30.c2ln", "nested more than 64"),
        ("e30." + b64url(('{"a":' * 100 + "1" + "}" * 100).encode()) + ".c2ln", "nested"),
        (b64url(b'{"alg":"RS256","kid":"\\ud800"}') + ".e30.c2ln", "JSON"),
    ],
)
def test_bad_tokens_are_refused(jwt: str, message: str) -> None:
    with pytest.raises(Unauthenticated, match=message):
        verify_jwt(jwt, KEYS, CONFIG, NOW)


def test_expiry_has_a_leeway() -> None:
    verify_jwt(token(claims(exp=NOW.timestamp() - 10)), KEYS, CONFIG, NOW)


def test_claims_become_a_principal() -> None:
    principal = principal_from_claims(claims(), CONFIG)
    assert principal.tenant == "acme"
    assert principal.scopes == {"statements/write", "statements/read/mine"}
    assert principal.authority == {
        "objectType": "Agent",
        "account": {"homePage": ISSUER, "name": "user-42"},
    }


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (None, {"statements/write", "statements/read/mine"}),  # Communication 4.1 default
        ("all", {"all"}),
        ("openid profile email", {"profile"}),
        ("admin all/read", {"all/read"}),  # tokens never grant admin
        ("", set()),
    ],
)
def test_token_scopes(scope: str | None, expected: set[str]) -> None:
    assert token_scopes(claims(scope=scope) if scope is not None else {}) == expected


@pytest.mark.parametrize(
    "changes",
    [{"lrs_tenant": None}, {"lrs_tenant": "Bad/Tenant"}, {"lrs_tenant": 7}, {"sub": None}],
)
def test_claims_without_tenant_or_subject_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(Unauthenticated):
        principal_from_claims(claims(**changes), CONFIG)


class NoCredentials:
    async def find(self, key: str) -> None:
        return None

    async def insert(self, credential: Any) -> None:
        raise AssertionError

    async def count(self) -> int:
        return 0


async def test_authenticator_accepts_bearer_tokens() -> None:
    authn = Authenticator(NoCredentials(), lambda: NOW, bearer=BearerVerifier(KEYS, CONFIG))
    principal = await authn.authenticate("Bearer " + token(claims()))
    assert principal.key == "bearer:user-42"
    with pytest.raises(Unauthenticated):
        await authn.authenticate("Bearer " + token(claims(), key=OTHER_KEY))


async def test_without_a_jwks_bearer_tokens_are_refused() -> None:
    authn = Authenticator(NoCredentials(), lambda: NOW)
    with pytest.raises(Unauthenticated, match="HTTP Basic"):
        await authn.authenticate("Bearer " + token(claims()))
