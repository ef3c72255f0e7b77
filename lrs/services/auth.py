"""Authentication: HTTP Basic credentials (xAPI Communication 4.1), and optionally OAuth 2.0 /
OIDC bearer JWTs (`lrs.bearer`), -> Principal.

Costs (docs/decisions/0005): verified (key, secret) pairs are cached for CACHE_SECONDS, keyed by
a SHA-256 of the pair, so the slow scrypt runs once per credential per minute, not once per
request; revocation, expiry and a disabled tenant are seen when the entry expires (at once in
the process whose admin API made the change). Failures are cached too, for NEGATIVE_SECONDS, so
a client repeating a wrong pair costs a dictionary lookup. Wrong secrets for an existing key
cost a scrypt each, so each key has a budget of FAILURE_BUDGET failures per FAILURE_WINDOW
seconds; past it, that key's uncached attempts are refused without hashing (cached valid pairs
keep working).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import datetime

from lrs.bearer import BearerVerifier
from lrs.ports import Credential, CredentialStore, Principal, TenantStore
from lrs.security import (
    ADMIN_SCOPE,
    ALL_SCOPES,
    hash_secret,
    new_key,
    new_secret,
    verify_secret,
)
from lrs.xapi.errors import Forbidden, Unauthenticated, XapiError

CACHE_SECONDS = 60.0
NEGATIVE_SECONDS = 5.0
CACHE_SIZE = 10_000
FAILURE_BUDGET = 10
FAILURE_WINDOW = 10.0
Outcome = Principal | XapiError
BOOTSTRAP_SCOPES = ALL_SCOPES | {ADMIN_SCOPE}


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


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer ...` header; None for any other header."""
    scheme, _, token = (header or "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class TimedCache:
    """A bounded LRU of outcomes, each with its own deadline (time.monotonic)."""

    def __init__(self) -> None:
        self._entries: OrderedDict[bytes, tuple[float, Outcome]] = OrderedDict()

    def get(self, fingerprint: bytes) -> Outcome | None:
        entry = self._entries.get(fingerprint)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, fingerprint: bytes, outcome: Outcome, seconds: float) -> None:
        self._entries[fingerprint] = (time.monotonic() + seconds, outcome)
        self._entries.move_to_end(fingerprint)
        while len(self._entries) > CACHE_SIZE:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


class FailureBudget:
    """Wrong secrets per key within a window: past the budget, no more scrypt for that key."""

    def __init__(self) -> None:
        self._failures: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def exhausted(self, key: str) -> bool:
        since, count = self._failures.get(key, (0.0, 0))
        return count >= FAILURE_BUDGET and time.monotonic() - since < FAILURE_WINDOW

    def spend(self, key: str) -> None:
        now = time.monotonic()
        since, count = self._failures.get(key, (now, 0))
        if now - since >= FAILURE_WINDOW:
            since, count = now, 0
        self._failures[key] = (since, count + 1)
        self._failures.move_to_end(key)
        while len(self._failures) > CACHE_SIZE:
            self._failures.popitem(last=False)


def _fresh(outcome: Outcome) -> Principal:
    """A cached Principal, or a new copy of a cached error raised (no shared tracebacks)."""
    if isinstance(outcome, XapiError):
        raise type(outcome)(outcome.message)
    return outcome


class Authenticator:
    """Turns an Authorization header into a Principal, or raises Unauthenticated (401) or
    Forbidden (403: a valid credential of a disabled tenant)."""

    def __init__(
        self,
        store: CredentialStore,
        clock: Callable[[], datetime],
        tenants: TenantStore | None = None,
        bearer: BearerVerifier | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._tenants = tenants
        self._bearer = bearer
        self._cache = TimedCache()
        self._budget = FailureBudget()

    def forget(self) -> None:
        """Drop every cached outcome (after an administrative change in this process)."""
        self._cache.clear()

    async def authenticate(self, header: str | None) -> Principal:
        token = bearer_token(header) if self._bearer is not None else None
        if token is not None:
            fingerprint = hashlib.sha256(b"bearer\x00" + token.encode()).digest()
            return await self._through_cache(fingerprint, lambda: self._from_bearer(token))
        key, secret = parse_basic(header)
        fingerprint = hashlib.sha256(f"{key}\x00{secret}".encode()).digest()
        return await self._through_cache(fingerprint, lambda: self._from_basic(key, secret))

    async def _through_cache(
        self, fingerprint: bytes, resolve: Callable[[], Awaitable[tuple[Principal, float]]]
    ) -> Principal:
        cached = self._cache.get(fingerprint)
        if cached is not None:
            return _fresh(cached)
        try:
            principal, seconds = await resolve()
            await self._check_tenant(principal.tenant)
        except (Unauthenticated, Forbidden) as exc:
            self._cache.put(fingerprint, exc, NEGATIVE_SECONDS)
            raise
        self._cache.put(fingerprint, principal, seconds)
        return principal

    async def _from_basic(self, key: str, secret: str) -> tuple[Principal, float]:
        """The credential's Principal and how long it may be cached."""
        if self._budget.exhausted(key):
            raise Unauthenticated("too many failed attempts with this key; retry later")
        credential = await self._store.find(key)
        if credential is None:
            raise Unauthenticated("unknown key or wrong secret")
        if not await asyncio.to_thread(verify_secret, secret, credential.secret_hash):
            self._budget.spend(key)
            raise Unauthenticated("unknown key or wrong secret")
        return self._usable(credential)

    async def _from_bearer(self, token: str) -> tuple[Principal, float]:
        assert self._bearer is not None
        now = self._clock()
        principal, expires = await self._bearer.verify(token, now)
        return principal, min(CACHE_SECONDS, expires - now.timestamp())

    def _usable(self, credential: Credential) -> tuple[Principal, float]:
        if credential.revoked:
            raise Unauthenticated("this credential has been revoked")
        now = self._clock()
        if credential.expires_at is not None and credential.expires_at <= now:
            raise Unauthenticated("this credential has expired")
        seconds = CACHE_SECONDS
        if credential.expires_at is not None:
            seconds = min(seconds, (credential.expires_at - now).total_seconds())
        principal = Principal(
            tenant=credential.tenant,
            key=credential.key,
            scopes=credential.scopes,
            authority=credential.authority,
        )
        return principal, seconds

    async def _check_tenant(self, name: str) -> None:
        tenant = await self._tenants.get(name) if self._tenants is not None else None
        if tenant is not None and tenant.disabled:
            raise Forbidden(f"tenant '{name}' is disabled; its credentials are refused")


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
    """Create a credential with every scope, `admin` included, and return (key, secret), once.

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
            scopes=BOOTSTRAP_SCOPES,
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


def has_scope(principal: Principal, scope: str) -> bool:
    """Whether the principal holds `scope` or a scope that implies it."""
    return scope in principal.scopes or bool(principal.scopes & IMPLIED_BY.get(scope, frozenset()))


def authorize(principal: Principal, scope: str) -> None:
    """Raise Forbidden unless the principal holds `scope` or a scope that implies it."""
    if has_scope(principal, scope):
        return
    raise Forbidden(f"this credential lacks the '{scope}' scope needed for this request")
