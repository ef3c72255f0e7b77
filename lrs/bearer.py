"""OAuth 2.0 / OpenID Connect bearer tokens: JWTs signed with RS256, checked against a JWKS.

Pure except `load_jwks_file` / `fetch_jwks_url` (called by the app's lifespan, never at import).
A valid token becomes a Principal: the tenant from a configured claim, xAPI scopes from the
space-separated `scope` claim (Communication 4.1: none given means `statements/write` and
`statements/read/mine`), and an authority Agent whose account is the token's subject at its
issuer (Data 2.4.9). Tokens never grant the `admin` scope.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lrs.ports.credentials import Principal
from lrs.security import ALL_SCOPES, TENANT_NAME
from lrs.xapi.bounded_json import loads_bounded
from lrs.xapi.errors import Unauthenticated

DEFAULT_SCOPES = frozenset({"statements/write", "statements/read/mine"})
JWKS_FETCH_TIMEOUT = 5.0
Keys = dict[str, rsa.RSAPublicKey]


class UnknownSigningKey(Unauthenticated):
    """A token whose `kid` is not in the key set (perhaps a key rotated in since we fetched)."""


@dataclass(frozen=True)
class BearerConfig:
    issuer: str | None
    audience: str | None
    tenant_claim: str
    leeway_seconds: float = 30.0
    # The header and payload are read before the signature is checked: within this depth.
    max_json_depth: int = 64


def _b64url(segment: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise Unauthenticated("malformed bearer token: bad base64url") from None


def _json(segment: str, what: str, max_depth: int) -> dict[str, Any]:
    where = f"malformed bearer token: the {what}"
    doc = loads_bounded(_b64url(segment), max_depth=max_depth, what=where, error=Unauthenticated)
    if not isinstance(doc, dict):
        raise Unauthenticated(f"malformed bearer token: the {what} is not a JSON object")
    return doc


def _int_of(value: str) -> int:
    return int.from_bytes(_b64url(value), "big")


def keys_from_jwks(jwks: Mapping[str, Any]) -> Keys:
    """The RSA signing keys of a JWKS document, by `kid` ("" for a key without one)."""
    keys: Keys = {}
    for jwk in jwks.get("keys") or []:
        if not isinstance(jwk, Mapping) or jwk.get("kty") != "RSA":
            continue
        if jwk.get("use", "sig") != "sig" or jwk.get("alg", "RS256") != "RS256":
            continue
        numbers = rsa.RSAPublicNumbers(_int_of(str(jwk["e"])), _int_of(str(jwk["n"])))
        keys[str(jwk.get("kid", ""))] = numbers.public_key()
    return keys


def load_jwks_file(path: Path) -> Keys:
    return keys_from_jwks(json.loads(path.read_bytes()))


def fetch_jwks_url(url: str) -> Keys:
    """Blocking: run it in a thread."""
    with urllib.request.urlopen(url, timeout=JWKS_FETCH_TIMEOUT) as response:
        return keys_from_jwks(json.loads(response.read()))


def verify_jwt(token: str, keys: Keys, config: BearerConfig, now: datetime) -> dict[str, Any]:
    """The claims of a token signed with RS256 by one of `keys`, current, of the configured
    issuer and audience; Unauthenticated otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise Unauthenticated("malformed bearer token: expected a JWS compact serialization")
    depth = config.max_json_depth
    header, claims = _json(parts[0], "header", depth), _json(parts[1], "payload", depth)
    if header.get("alg") != "RS256":
        raise Unauthenticated("bearer token must be signed with RS256")
    key = _signing_key(header, keys)
    try:
        key.verify(
            _b64url(parts[2]),
            f"{parts[0]}.{parts[1]}".encode(),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
    except InvalidSignature:
        raise Unauthenticated("bearer token signature does not verify") from None
    _check_claims(claims, config, now.timestamp())
    return claims


def _signing_key(header: Mapping[str, Any], keys: Keys) -> rsa.RSAPublicKey:
    kid = header.get("kid")
    if kid is None and len(keys) == 1:
        return next(iter(keys.values()))
    key = keys.get(str(kid)) if kid is not None else None
    if key is None:
        raise UnknownSigningKey("bearer token signed with an unknown key")
    return key


def _check_claims(claims: Mapping[str, Any], config: BearerConfig, now: float) -> None:
    exp, nbf = claims.get("exp"), claims.get("nbf")
    if not isinstance(exp, int | float):
        raise Unauthenticated("bearer token has no expiry (exp)")
    if exp + config.leeway_seconds <= now:
        raise Unauthenticated("bearer token has expired")
    if isinstance(nbf, int | float) and nbf - config.leeway_seconds > now:
        raise Unauthenticated("bearer token is not valid yet (nbf)")
    if config.issuer is not None and claims.get("iss") != config.issuer:
        raise Unauthenticated("bearer token is from another issuer")
    if config.audience is not None and config.audience not in _audiences(claims.get("aud")):
        raise Unauthenticated("bearer token is meant for another audience")


def _audiences(aud: Any) -> list[str]:
    if isinstance(aud, str):
        return [aud]
    return [a for a in aud if isinstance(a, str)] if isinstance(aud, list) else []


def token_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """xAPI scopes of the `scope` claim; unknown ones are ignored (Communication 4.1)."""
    scope = claims.get("scope")
    if scope is None:
        return DEFAULT_SCOPES
    if not isinstance(scope, str):
        raise Unauthenticated("bearer token's scope claim must be a space-separated string")
    return frozenset(scope.split()) & ALL_SCOPES


def principal_from_claims(claims: Mapping[str, Any], config: BearerConfig) -> Principal:
    tenant, subject = claims.get(config.tenant_claim), claims.get("sub")
    if not isinstance(tenant, str) or not TENANT_NAME.match(tenant):
        raise Unauthenticated(f"bearer token has no valid '{config.tenant_claim}' tenant claim")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("bearer token has no subject (sub)")
    home = str(claims.get("iss") or config.issuer or "urn:lrs:bearer")
    return Principal(
        tenant=tenant,
        key=f"bearer:{subject}",
        scopes=token_scopes(claims),
        authority={"objectType": "Agent", "account": {"homePage": home, "name": subject}},
    )


class BearerVerifier:
    """Bearer tokens -> Principal. With a JWKS URL, an unknown `kid` (key rotation) refetches
    the key set, at most once every `refresh_seconds`."""

    def __init__(
        self,
        keys: Keys,
        config: BearerConfig,
        *,
        url: str | None = None,
        refresh_seconds: float = 60.0,
    ) -> None:
        self._keys = keys
        self._config = config
        self._url = url
        self._refresh_seconds = refresh_seconds
        self._fetched_at = time.monotonic()

    async def verify(self, token: str, now: datetime) -> tuple[Principal, float]:
        """The token's Principal and its expiry (epoch seconds)."""
        try:
            claims = verify_jwt(token, self._keys, self._config, now)
        except UnknownSigningKey:
            if not await self._refresh():
                raise
            claims = verify_jwt(token, self._keys, self._config, now)
        return principal_from_claims(claims, self._config), float(claims["exp"])

    async def _refresh(self) -> bool:
        if self._url is None or time.monotonic() - self._fetched_at < self._refresh_seconds:
            return False
        self._fetched_at = time.monotonic()
        self._keys = await asyncio.to_thread(fetch_jwks_url, self._url)
        return True
