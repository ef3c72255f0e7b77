"""Authentication: HTTP Basic credentials (xAPI Communication 4.1), and optionally OAuth 2.0 /
OIDC bearer JWTs (`lrs.bearer`), -> Principal.

Costs and freshness (docs/decisions/0005):
- Records: a credential's record (by key) and a tenant's record (by name) are read from the
  store at most once per `AuthLimits.revalidate_seconds` (LRS_AUTH_REVALIDATE_SECONDS, 1 s) per
  API process, every request asking meanwhile sharing that read. So a credential revoked or a
  tenant disabled by any means (another process's admin API, `lrs credentials revoke`, a
  direct store write) is refused by every API process within that time, at the cost of one
  cheap read per key and per tenant per second whatever the request rate.
- Secrets: scrypt is slow, so whether a secret matches a stored hash is remembered, keyed by a
  SHA-256 of (key, secret) together with the hash it was checked against (a changed hash is
  checked again): right secrets for VERIFIED_SECONDS, wrong ones for NEGATIVE_SECONDS.
- Throttling: wrong secrets cost a scrypt each, so each (client address, key) pair may fail
  `failure_budget` times per `failure_window_seconds`; beyond that the pair's wrong secrets,
  and its secrets not verified before, get 429 with Retry-After, without hashing. A secret
  already verified is accepted from any address, and other addresses are not throttled, so an
  attacker who learnt a key (statements' `authority` shows it) cannot lock its owner out.
Every map here is a bounded LRU (`AuthLimits.entries`), so no flood of keys, secrets or
addresses makes memory grow without bound.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from lrs.bearer import BearerVerifier
from lrs.ports.credentials import Credential, CredentialStore, Principal
from lrs.ports.tenants import Tenant, TenantStore
from lrs.security import (
    ADMIN_SCOPE,
    ALL_SCOPES,
    hash_secret,
    new_key,
    new_secret,
    verify_secret,
)
from lrs.settings import LrsSettings
from lrs.xapi.errors import Forbidden, TooManyRequests, Unauthenticated, XapiError

CACHE_SECONDS = 60.0  # longest a verified bearer token is reused
VERIFIED_SECONDS = 3600.0  # a right secret, remembered against the hash it matched
NEGATIVE_SECONDS = 5.0  # a wrong secret or a refused bearer token
Outcome = Principal | XapiError
BOOTSTRAP_SCOPES = ALL_SCOPES | {ADMIN_SCOPE}
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class AuthLimits:
    """Freshness and throttling of authentication (LRS_AUTH_* settings)."""

    revalidate_seconds: float = 1.0
    failure_budget: int = 10
    failure_window_seconds: float = 10.0
    entries: int = 10_000  # per map: records, secrets, throttled pairs, bearer tokens


def auth_limits(settings: LrsSettings) -> AuthLimits:
    return AuthLimits(
        revalidate_seconds=settings.auth_revalidate_seconds,
        failure_budget=settings.auth_failure_budget,
        failure_window_seconds=settings.auth_failure_window_seconds,
    )


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


class ExpiringMap(Generic[K, V]):
    """A bounded LRU map whose entries each expire at their own deadline (`ticker` time)."""

    def __init__(self, size: int, ticker: Callable[[], float]) -> None:
        self._entries: OrderedDict[K, tuple[float, V]] = OrderedDict()
        self._size = size
        self._ticker = ticker

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= self._ticker():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return entry[1]

    def put(self, key: K, value: V, seconds: float) -> None:
        self._entries[key] = (self._ticker() + seconds, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def discard(self, key: K, value: V) -> None:
        """Drop the entry of `key` if it still holds `value`."""
        entry = self._entries.get(key)
        if entry is not None and entry[1] is value:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _observed(answer: asyncio.Future[Any]) -> None:
    """Mark a shared read's failure as seen (its waiters may all have gone)."""
    if not answer.cancelled():
        answer.exception()


class SharedReads(Generic[K, V]):
    """Reads by key, each answer reused for `seconds` from the read's start: the requests
    asking while it runs or within that time share it. A failed read is not kept."""

    def __init__(
        self,
        read: Callable[[K], Awaitable[V]],
        seconds: float,
        size: int,
        ticker: Callable[[], float],
    ) -> None:
        self._read = read
        self._seconds = seconds
        self._answers: ExpiringMap[K, asyncio.Future[V]] = ExpiringMap(size, ticker)

    async def get(self, key: K) -> V:
        answer = self._answers.get(key)
        if answer is None:
            answer = asyncio.ensure_future(self._read(key))
            answer.add_done_callback(_observed)
            self._answers.put(key, answer, self._seconds)
        try:
            return await asyncio.shield(answer)
        except Exception:
            self._answers.discard(key, answer)
            raise

    def clear(self) -> None:
        self._answers.clear()

    def __len__(self) -> int:
        return len(self._answers)


class FailureThrottle:
    """Wrong secrets per (client address, key) within a fixed window; past the budget the pair
    is throttled until the window ends."""

    def __init__(self, limits: AuthLimits, ticker: Callable[[], float]) -> None:
        self._limits = limits
        self._ticker = ticker
        self._failures: ExpiringMap[tuple[str, str], tuple[float, int]] = ExpiringMap(
            limits.entries, ticker
        )

    def check(self, client: str, key: str) -> None:
        """Raise TooManyRequests while the pair is over its budget."""
        since, count = self._failures.get((client, key)) or (0.0, 0)
        if count >= self._limits.failure_budget:
            window_end = since + self._limits.failure_window_seconds
            raise TooManyRequests(
                "too many wrong secrets for this key from this address; retry later",
                retry_after=max(1, math.ceil(window_end - self._ticker())),
            )

    def fail(self, client: str, key: str) -> None:
        """Count a wrong secret; raise TooManyRequests once the pair is past its budget."""
        self.check(client, key)
        now = self._ticker()
        since, count = self._failures.get((client, key)) or (now, 0)
        left = since + self._limits.failure_window_seconds - now
        self._failures.put((client, key), (since, count + 1), left)

    def __len__(self) -> int:
        return len(self._failures)


class SecretVerdicts:
    """Whether a (key, secret) matches a stored hash, so that scrypt runs once per pair and
    hash: verdicts are remembered, and requests asking while one is computed share it."""

    def __init__(self, size: int, ticker: Callable[[], float]) -> None:
        self._right: ExpiringMap[bytes, str] = ExpiringMap(size, ticker)
        self._wrong: ExpiringMap[bytes, str] = ExpiringMap(size, ticker)
        self._pending: ExpiringMap[bytes, tuple[str, asyncio.Future[bool]]] = ExpiringMap(
            size, ticker
        )

    def known(self, fingerprint: bytes, secret_hash: str) -> bool | None:
        if self._right.get(fingerprint) == secret_hash:
            return True
        if self._wrong.get(fingerprint) == secret_hash:
            return False
        return None

    async def verify(
        self, fingerprint: bytes, secret: str, secret_hash: str, before_hashing: Callable[[], None]
    ) -> bool:
        """The verdict; `before_hashing` runs (and may raise) before a new scrypt starts."""
        known = self.known(fingerprint, secret_hash)
        if known is not None:
            return known
        pending = self._pending.get(fingerprint)
        if pending is None or pending[0] != secret_hash:
            before_hashing()
            pending = self._start(fingerprint, secret, secret_hash)
        return await asyncio.shield(pending[1])

    def _start(
        self, fingerprint: bytes, secret: str, secret_hash: str
    ) -> tuple[str, asyncio.Future[bool]]:
        """One scrypt in a worker thread; its verdict is remembered even if no one waits."""
        future = asyncio.ensure_future(asyncio.to_thread(verify_secret, secret, secret_hash))
        pending = (secret_hash, future)

        def settle(done: asyncio.Future[bool]) -> None:
            self._pending.discard(fingerprint, pending)
            if not done.cancelled() and done.exception() is None:
                self._remember(fingerprint, secret_hash, done.result())

        future.add_done_callback(settle)
        self._pending.put(fingerprint, pending, NEGATIVE_SECONDS)
        return pending

    def _remember(self, fingerprint: bytes, secret_hash: str, right: bool) -> None:
        if right:
            self._right.put(fingerprint, secret_hash, VERIFIED_SECONDS)
        else:
            self._wrong.put(fingerprint, secret_hash, NEGATIVE_SECONDS)

    def clear(self) -> None:
        self._right.clear()
        self._wrong.clear()
        self._pending.clear()

    def sizes(self) -> dict[str, int]:
        return {
            "right secrets": len(self._right),
            "wrong secrets": len(self._wrong),
            "secrets being checked": len(self._pending),
        }


def _fresh(outcome: Outcome) -> Principal:
    """A cached Principal, or a new copy of a cached error raised (no shared tracebacks)."""
    if isinstance(outcome, XapiError):
        raise type(outcome)(outcome.message)
    return outcome


def fingerprint_of(key: str, secret: str) -> bytes:
    return hashlib.sha256(f"{key}\x00{secret}".encode()).digest()


class Authenticator:
    """Turns an Authorization header into a Principal, or raises Unauthenticated (401),
    TooManyRequests (429: a throttled address and key) or Forbidden (403: a valid credential of
    a disabled tenant)."""

    def __init__(
        self,
        store: CredentialStore,
        clock: Callable[[], datetime],
        tenants: TenantStore | None = None,
        bearer: BearerVerifier | None = None,
        *,
        limits: AuthLimits | None = None,
        ticker: Callable[[], float] = time.monotonic,
    ) -> None:
        limits = limits or AuthLimits()
        fresh = limits.revalidate_seconds
        self._clock = clock
        self._tenants = tenants
        self._bearer = bearer
        self._credentials = SharedReads(store.find, fresh, limits.entries, ticker)
        self._tenant_records = SharedReads(self._tenant, fresh, limits.entries, ticker)
        self._verdicts = SecretVerdicts(limits.entries, ticker)
        self._throttle = FailureThrottle(limits, ticker)
        self._tokens: ExpiringMap[bytes, Outcome] = ExpiringMap(limits.entries, ticker)

    def forget(self) -> None:
        """Drop every cached record and verdict (after an administrative change here)."""
        self._credentials.clear()
        self._tenant_records.clear()
        self._verdicts.clear()
        self._tokens.clear()

    def sizes(self) -> dict[str, int]:
        """Entries held by each map (each bounded by AuthLimits.entries)."""
        return {
            "credentials": len(self._credentials),
            "tenants": len(self._tenant_records),
            **self._verdicts.sizes(),
            "throttled": len(self._throttle),
            "tokens": len(self._tokens),
        }

    async def authenticate(self, header: str | None, client: str = "") -> Principal:
        """The caller's Principal; `client` is its network address (for throttling)."""
        token = bearer_token(header) if self._bearer is not None else None
        if token is not None:
            principal = await self._from_bearer(token)
        else:
            principal = await self._from_basic(header, client)
        await self._check_tenant(principal.tenant)
        return principal

    async def still_valid(self, who: Principal) -> None:
        """Raises as `authenticate` would if `who`'s credential has since been revoked or has
        expired, or its tenant disabled: for what outlives one request (a stream token, an
        open progress stream). A principal without a credential record (a bearer token's)
        keeps its token's own expiry. Reads go through the same caches, so a change is seen
        within LRS_AUTH_REVALIDATE_SECONDS."""
        credential = await self._credentials.get(who.key)
        if credential is not None and credential.tenant == who.tenant:
            self._usable(credential)
        await self._check_tenant(who.tenant)

    async def _from_basic(self, header: str | None, client: str) -> Principal:
        key, secret = parse_basic(header)
        credential = await self._credentials.get(key)
        if credential is None:
            raise Unauthenticated("unknown key or wrong secret")
        if not await self._secret_matches(credential, secret, client):
            raise Unauthenticated("unknown key or wrong secret")
        return self._usable(credential)

    async def _secret_matches(self, credential: Credential, secret: str, client: str) -> bool:
        """Whether `secret` is the credential's; a wrong one counts against (client, key), and
        a throttled pair gets no new scrypt."""
        key = credential.key
        right = await self._verdicts.verify(
            fingerprint_of(key, secret),
            secret,
            credential.secret_hash,
            lambda: self._throttle.check(client, key),
        )
        if not right:
            self._throttle.fail(client, key)
        return right

    async def _from_bearer(self, token: str) -> Principal:
        assert self._bearer is not None
        fingerprint = hashlib.sha256(b"bearer\x00" + token.encode()).digest()
        cached = self._tokens.get(fingerprint)
        if cached is not None:
            return _fresh(cached)
        now = self._clock()
        try:
            principal, expires = await self._bearer.verify(token, now)
        except Unauthenticated as exc:
            self._tokens.put(fingerprint, exc, NEGATIVE_SECONDS)
            raise
        self._tokens.put(fingerprint, principal, min(CACHE_SECONDS, expires - now.timestamp()))
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

    async def _tenant(self, name: str) -> Tenant | None:
        return await self._tenants.get(name) if self._tenants is not None else None

    async def _check_tenant(self, name: str) -> None:
        if self._tenants is None:
            return
        tenant = await self._tenant_records.get(name)
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
