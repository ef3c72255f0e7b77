"""Authentication: HTTP Basic credentials (xAPI Communication 4.1) -> Principal.

Verified (key, secret) pairs are cached for a short time, keyed by a SHA-256 of the pair, so
the slow hash runs once per credential per minute, not once per request. Revocation and expiry
are re-checked when the cache entry expires.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from lrs.ports import Credential, CredentialStore, Principal
from lrs.security import ALL_SCOPES, hash_secret, new_key, new_secret, verify_secret
from lrs.xapi.errors import Forbidden, Unauthenticated

CACHE_SECONDS = 60.0
CACHE_SIZE = 10_000


def parse_basic(header: str | None) -> tuple[str, str]:
    """Split an `Authorization: Basic ...` header into (key, secret)."""
    if not header:
        raise Unauthenticated("authentication required: send HTTP Basic credentials")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "basic" or not token.strip():
        raise Unauthenticated("unsupported Authorization scheme: use HTTP Basic")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("malformed Basic credentials") from None
    key, sep, secret = decoded.partition(":")
    if not sep or not key:
        raise Unauthenticated("malformed Basic credentials: expected key:secret")
    return key, secret


class Authenticator:
    """Turns an Authorization header into a Principal, or raises Unauthenticated."""

    def __init__(self, store: CredentialStore, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._clock = clock
        self._cache: OrderedDict[bytes, tuple[float, Principal]] = OrderedDict()

    async def authenticate(self, header: str | None) -> Principal:
        key, secret = parse_basic(header)
        fingerprint = hashlib.sha256(f"{key}\x00{secret}".encode()).digest()
        cached = self._cache.get(fingerprint)
        if cached and cached[0] > time.monotonic():
            return cached[1]
        credential = await self._store.find(key)
        if credential is None or not await asyncio.to_thread(
            verify_secret, secret, credential.secret_hash
        ):
            raise Unauthenticated("unknown key or wrong secret")
        principal = self._usable(credential)
        self._remember(fingerprint, principal)
        return principal

    def _usable(self, credential: Credential) -> Principal:
        if credential.revoked:
            raise Unauthenticated("this credential has been revoked")
        if credential.expires_at is not None and credential.expires_at <= self._clock():
            raise Unauthenticated("this credential has expired")
        return Principal(
            tenant=credential.tenant,
            key=credential.key,
            scopes=credential.scopes,
            authority=credential.authority,
        )

    def _remember(self, fingerprint: bytes, principal: Principal) -> None:
        self._cache[fingerprint] = (time.monotonic() + CACHE_SECONDS, principal)
        self._cache.move_to_end(fingerprint)
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)


def credential_authority(key: str, base_url: str) -> dict[str, object]:
    """The authority Agent of a Basic-auth credential (Data 2.4.9): an account on this LRS."""
    return {"objectType": "Agent", "name": key, "account": {"homePage": base_url, "name": key}}


async def ensure_bootstrap_credential(
    store: CredentialStore,
    *,
    tenant: str,
    base_url: str,
    now: datetime,
    key: str | None = None,
    secret: str | None = None,
    only_if_empty: bool = True,
) -> tuple[str, str] | None:
    """Create a credential with every scope and return (key, secret), once.

    By default only on an empty store (the first start); with `only_if_empty=False` (a key and
    secret fixed by the operator) whenever that key does not exist yet.
    """
    if only_if_empty and await store.count() > 0:
        return None
    if key and await store.find(key) is not None:
        return None
    key = key or new_key()
    secret = secret or new_secret()
    await store.insert(
        Credential(
            key=key,
            secret_hash=await asyncio.to_thread(hash_secret, secret),
            tenant=tenant,
            scopes=ALL_SCOPES,
            authority=credential_authority(key, base_url),
            created_at=now,
            label="bootstrap",
        )
    )
    return key, secret


# Scopes that each scope implies (xAPI Communication 4.1 "OAuth Authorization Scope").
IMPLIED_BY: dict[str, frozenset[str]] = {
    "statements/write": frozenset({"all"}),
    "statements/read": frozenset({"all", "all/read"}),
    "all/read": frozenset({"all"}),
    "statements/read/mine": frozenset({"all", "all/read", "statements/read"}),
    "state": frozenset({"all"}),
    "state/read": frozenset({"all", "all/read", "state"}),
    "profile": frozenset({"all"}),
    "profile/read": frozenset({"all", "all/read", "profile"}),
    "define": frozenset({"all"}),
}


def authorize(principal: Principal, scope: str) -> None:
    """Raise Forbidden unless the principal holds `scope` or a scope that implies it."""
    if scope in principal.scopes or principal.scopes & IMPLIED_BY.get(scope, frozenset()):
        return
    raise Forbidden(f"this credential lacks the '{scope}' scope needed for this request")
