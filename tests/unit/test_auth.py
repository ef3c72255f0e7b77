"""HTTP Basic authentication (xAPI Communication 4.1), the credential cache, and scopes."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lrs.adapters.memory import InMemoryCredentialStore
from lrs.adapters.memory_tenants import InMemoryTenantStore
from lrs.ports.credentials import Credential, Principal
from lrs.ports.tenants import Tenant
from lrs.security import ALL_SCOPES, hash_secret, verify_secret
from lrs.services import auth
from lrs.services.auth import (
    Authenticator,
    authorize,
    credential_authority,
    ensure_bootstrap_credential,
    parse_basic,
)
from lrs.xapi.errors import Forbidden, TooManyRequests, Unauthenticated

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
KEY = "key1"
SECRET = "s3cret:with:colons"
SECRET_HASH = hash_secret(SECRET, salt=b"fixed-test-salt!")
BASE_URL = "https://lrs.example.com/xapi"


def basic(key: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()


def credential(**changes: Any) -> Credential:
    base = Credential(
        key=KEY,
        secret_hash=SECRET_HASH,
        tenant="acme",
        scopes=frozenset({"statements/write", "statements/read"}),
        authority=credential_authority(KEY, BASE_URL),
        created_at=NOW - timedelta(days=1),
    )
    return dataclasses.replace(base, **changes)


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def authenticator(*credentials: Credential) -> tuple[Authenticator, InMemoryCredentialStore, Clock]:
    store = InMemoryCredentialStore(*credentials)
    clock = Clock()
    return Authenticator(store, clock), store, clock


# --- parse_basic ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (basic("k", "s"), ("k", "s")),
        (basic("k", "a:b:c"), ("k", "a:b:c")),
        (basic("k", ""), ("k", "")),
        (basic("ключ", "пароль"), ("ключ", "пароль")),
        ("basic " + base64.b64encode(b"k:s").decode(), ("k", "s")),
        ("BASIC   " + base64.b64encode(b"k:s").decode() + "  ", ("k", "s")),
    ],
)
def test_parse_basic(header: str, expected: tuple[str, str]) -> None:
    assert parse_basic(header) == expected


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "Basic",
        "Basic ",
        "Bearer abc.def",
        "Digest " + base64.b64encode(b"k:s").decode(),
        base64.b64encode(b"k:s").decode(),
        "Basic not-base64!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b":secret-without-key").decode(),
        "Basic " + base64.b64encode(b"\xff\xfe:\xfd").decode(),
    ],
)
def test_parse_basic_rejects(header: str | None) -> None:
    with pytest.raises(Unauthenticated):
        parse_basic(header)


# --- Authenticator --------------------------------------------------------------------------------


async def test_valid_credentials_give_the_principal() -> None:
    found = credential()
    authn, store, _ = authenticator(found)
    principal = await authn.authenticate(basic(KEY, SECRET))
    assert principal == Principal(
        tenant="acme", key=KEY, scopes=found.scopes, authority=found.authority
    )
    assert store.finds == [KEY]


@pytest.mark.parametrize(
    "header",
    [
        basic(KEY, "wrong"),
        basic(KEY, ""),
        basic(KEY, SECRET + "x"),
        basic("unknown", SECRET),
        None,
        "Basic %%%",
        "Bearer token",
    ],
)
async def test_bad_credentials_are_unauthenticated(header: str | None) -> None:
    authn, _, _ = authenticator(credential())
    with pytest.raises(Unauthenticated):
        await authn.authenticate(header)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"revoked": True}, "revoked"),
        ({"expires_at": NOW}, "expired"),
        ({"expires_at": NOW - timedelta(seconds=1)}, "expired"),
    ],
)
async def test_unusable_credentials_are_unauthenticated(
    changes: dict[str, Any], message: str
) -> None:
    authn, _, _ = authenticator(credential(**changes))
    with pytest.raises(Unauthenticated, match=message):
        await authn.authenticate(basic(KEY, SECRET))


async def test_credential_expiring_later_is_accepted() -> None:
    authn, _, _ = authenticator(credential(expires_at=NOW + timedelta(seconds=1)))
    assert (await authn.authenticate(basic(KEY, SECRET))).key == KEY


async def test_expiry_is_judged_by_the_injected_clock() -> None:
    authn, _, clock = authenticator(credential(expires_at=NOW + timedelta(hours=1)))
    clock.now = NOW + timedelta(hours=2)
    with pytest.raises(Unauthenticated, match="expired"):
        await authn.authenticate(basic(KEY, SECRET))


async def test_cache_hit_does_not_query_the_store_again() -> None:
    authn, store, _ = authenticator(credential())
    first = await authn.authenticate(basic(KEY, SECRET))
    second = await authn.authenticate(basic(KEY, SECRET))
    assert first == second
    assert store.finds == [KEY]


async def test_cache_is_keyed_by_the_secret_too() -> None:
    authn, store, _ = authenticator(credential())
    await authn.authenticate(basic(KEY, SECRET))
    with pytest.raises(Unauthenticated):
        await authn.authenticate(basic(KEY, "wrong"))
    assert store.finds == [KEY]  # one read of the record serves both


async def test_failures_are_cached_briefly() -> None:
    authn, store, _ = authenticator(credential(revoked=True))
    for _ in range(3):
        with pytest.raises(Unauthenticated, match="revoked"):
            await authn.authenticate(basic(KEY, SECRET))
    assert store.finds == [KEY]


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


LIMITS = auth.AuthLimits(revalidate_seconds=1.0, failure_budget=3, failure_window_seconds=10.0)


class EditedCredentialStore(InMemoryCredentialStore):
    """A store whose records an operator changes in place (MongoDB's `_id` refuses a second
    insert of a key, as the memory store does, so a change is not an insert)."""

    def edit(self, credential: Credential) -> None:
        self._credentials[credential.key] = credential


def ticking(
    *credentials: Credential,
    tenants: InMemoryTenantStore | None = None,
    clock: Clock | None = None,
    **limits: Any,
) -> tuple[Authenticator, EditedCredentialStore, Ticker]:
    store, ticker = EditedCredentialStore(*credentials), Ticker()
    chosen = dataclasses.replace(LIMITS, **limits)
    authn = Authenticator(store, clock or Clock(), tenants, limits=chosen, ticker=ticker)
    return authn, store, ticker


class CountingVerify:
    """verify_secret, counting the scrypt runs."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.secrets: list[str] = []
        monkeypatch.setattr(auth, "verify_secret", self)

    def __call__(self, secret: str, stored: str) -> bool:
        self.secrets.append(secret)
        return verify_secret(secret, stored)


async def test_revocation_is_seen_once_the_record_is_revalidated() -> None:
    authn, store, ticker = ticking(credential())
    await authn.authenticate(basic(KEY, SECRET))
    await store.revoke(KEY)
    ticker.now += 0.5
    await authn.authenticate(basic(KEY, SECRET))  # the record read 0.5 s ago still serves
    ticker.now += 0.5
    with pytest.raises(Unauthenticated, match="revoked"):
        await authn.authenticate(basic(KEY, SECRET))
    assert store.finds == [KEY, KEY]


async def test_a_disabled_tenant_is_seen_once_its_record_is_revalidated() -> None:
    tenants = InMemoryTenantStore()
    await tenants.insert(Tenant(name="acme", created_at=NOW))
    authn, _, ticker = ticking(credential(), tenants=tenants)
    await authn.authenticate(basic(KEY, SECRET))
    await tenants.set_disabled("acme", True)
    ticker.now += 1.0
    with pytest.raises(Forbidden, match="disabled"):
        await authn.authenticate(basic(KEY, SECRET))
    await tenants.set_disabled("acme", False)
    ticker.now += 1.0
    assert (await authn.authenticate(basic(KEY, SECRET))).tenant == "acme"


async def test_a_principal_that_outlives_its_request_is_checked_again() -> None:
    """`still_valid` (stream tokens, open streams): revoked, expired, or its tenant disabled
    raise as authenticate would; a principal with no credential record (a bearer token's)
    only has its tenant checked."""
    tenants = InMemoryTenantStore()
    await tenants.insert(Tenant(name="acme", created_at=NOW))
    clock = Clock()
    later = credential(key="later", expires_at=clock.now + timedelta(hours=1))
    authn, store, ticker = ticking(credential(), later, tenants=tenants, clock=clock)
    who = await authn.authenticate(basic(KEY, SECRET))
    await authn.still_valid(who)
    await store.revoke(KEY)
    ticker.now += 1.0
    with pytest.raises(Unauthenticated, match="revoked"):
        await authn.still_valid(who)
    expiring = await authn.authenticate(basic("later", SECRET))
    clock.now += timedelta(hours=1)
    with pytest.raises(Unauthenticated, match="expired"):
        await authn.still_valid(expiring)
    bearer = dataclasses.replace(who, key="no-such-record")
    await authn.still_valid(bearer)
    await tenants.set_disabled("acme", True)
    ticker.now += 1.0
    with pytest.raises(Forbidden, match="disabled"):
        await authn.still_valid(bearer)


async def test_revalidation_costs_one_read_per_key_per_period(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hashed = CountingVerify(monkeypatch)
    authn, store, ticker = ticking(credential())
    for _ in range(5):
        await asyncio.gather(*(authn.authenticate(basic(KEY, SECRET)) for _ in range(100)))
        ticker.now += 1.0
    assert store.finds == [KEY] * 5
    assert len(hashed.secrets) == 1  # the verified secret is not hashed again


async def test_a_changed_secret_hash_is_checked_again(monkeypatch: pytest.MonkeyPatch) -> None:
    hashed = CountingVerify(monkeypatch)
    authn, store, ticker = ticking(credential())
    await authn.authenticate(basic(KEY, SECRET))
    store.edit(credential(secret_hash=hash_secret("new secret")))
    ticker.now += 1.0
    with pytest.raises(Unauthenticated):
        await authn.authenticate(basic(KEY, SECRET))
    assert len(hashed.secrets) == 2


class FlakyCredentialStore(InMemoryCredentialStore):
    def __init__(self, *credentials: Credential) -> None:
        super().__init__(*credentials)
        self.fail_next = True

    async def find(self, key: str) -> Credential | None:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("store down (test)")
        return await super().find(key)


async def test_a_failed_read_is_not_kept() -> None:
    store = FlakyCredentialStore(credential())
    authn = Authenticator(store, Clock())
    with pytest.raises(ConnectionError):
        await authn.authenticate(basic(KEY, SECRET))
    assert (await authn.authenticate(basic(KEY, SECRET))).key == KEY


# --- throttling wrong secrets by (client address, key) ----------------------------------------


ATTACKER, OWNER = "127.0.0.2", "127.0.0.3"


async def fail(authn: Authenticator, client: str, attempts: int, prefix: str = "guess") -> None:
    for attempt in range(attempts):
        with pytest.raises(Unauthenticated):
            await authn.authenticate(basic(KEY, f"{prefix}{attempt}"), client)


async def test_wrong_secrets_cannot_lock_the_owner_out() -> None:
    """Issue 10 defect 5: an attacker who knows the key (every statement's authority shows
    it) sends wrong secrets; the owner's right secret, never verified here before, works."""
    authn, _, _ = ticking(credential())
    await fail(authn, ATTACKER, LIMITS.failure_budget)
    for _ in range(5):
        with pytest.raises(TooManyRequests):
            await authn.authenticate(basic(KEY, "guess-more"), ATTACKER)
    assert (await authn.authenticate(basic(KEY, SECRET), OWNER)).key == KEY


async def test_throttled_pair_gets_429_without_hashing_and_other_addresses_do_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hashed = CountingVerify(monkeypatch)
    authn, _, ticker = ticking(credential())
    await authn.authenticate(basic(KEY, SECRET), OWNER)
    await fail(authn, ATTACKER, LIMITS.failure_budget)
    ticker.now += 2.4
    for attempt in range(20):
        with pytest.raises(TooManyRequests) as caught:
            await authn.authenticate(basic(KEY, f"more{attempt}"), ATTACKER)
        assert caught.value.retry_after == 8  # ceil(10 - 2.4)
    assert len(hashed.secrets) == 1 + LIMITS.failure_budget
    # the right secret, verified before, still works from the throttled address and elsewhere
    assert (await authn.authenticate(basic(KEY, SECRET), ATTACKER)).key == KEY
    assert (await authn.authenticate(basic(KEY, SECRET), OWNER)).key == KEY
    await fail(authn, OWNER, 1, prefix="typo")  # another address: its own budget, 401


async def test_a_repeated_wrong_secret_is_throttled_too() -> None:
    authn, _, _ = ticking(credential())
    for _ in range(LIMITS.failure_budget):
        with pytest.raises(Unauthenticated):
            await authn.authenticate(basic(KEY, "same"), ATTACKER)
    with pytest.raises(TooManyRequests):
        await authn.authenticate(basic(KEY, "same"), ATTACKER)


async def test_the_throttle_ends_with_its_window() -> None:
    authn, _, ticker = ticking(credential())
    await fail(authn, ATTACKER, LIMITS.failure_budget)
    ticker.now += LIMITS.failure_window_seconds - 0.01
    with pytest.raises(TooManyRequests) as caught:
        await authn.authenticate(basic(KEY, "late"), ATTACKER)
    assert caught.value.retry_after == 1
    ticker.now += 0.01
    await fail(authn, ATTACKER, LIMITS.failure_budget, prefix="next-window")
    with pytest.raises(TooManyRequests):
        await authn.authenticate(basic(KEY, "again"), ATTACKER)


async def test_unknown_keys_are_never_throttled() -> None:
    authn, _, _ = ticking(credential())
    for attempt in range(3 * LIMITS.failure_budget):
        with pytest.raises(Unauthenticated):
            await authn.authenticate(basic("unknown", f"s{attempt}"), ATTACKER)


def test_throttle_memory_is_bounded_under_a_flood_of_addresses() -> None:
    ticker = Ticker()
    throttle = auth.FailureThrottle(dataclasses.replace(LIMITS, entries=100), ticker)
    for address in range(10_000):
        throttle.fail(f"addr-{address}", KEY)
    assert len(throttle) == 100


async def test_every_map_stays_bounded_under_a_flood(monkeypatch: pytest.MonkeyPatch) -> None:
    """Distinct addresses, keys and secrets: no map of the Authenticator outgrows `entries`;
    the oldest throttled pair is forgotten first (its budget starts again)."""
    CountingVerify(monkeypatch)
    authn, store, _ = ticking(credential(), entries=20)
    await fail(authn, ATTACKER, LIMITS.failure_budget)
    for n in range(200):
        with pytest.raises(Unauthenticated):
            await authn.authenticate(basic(KEY, f"x{n}"), f"127.1.{n}.1")
        with pytest.raises(Unauthenticated):
            await authn.authenticate(basic(f"unknown-{n}", "s"), ATTACKER)
    sizes = authn.sizes()
    assert max(sizes.values()) <= 20, sizes
    await fail(authn, ATTACKER, 1, prefix="forgotten")  # 401 again, not 429
    assert len(store.finds) == 201


async def test_disabled_tenant_is_forbidden() -> None:
    tenants = InMemoryTenantStore()
    await tenants.insert(Tenant(name="acme", created_at=NOW, disabled=True))
    authn = Authenticator(InMemoryCredentialStore(credential()), Clock(), tenants)
    with pytest.raises(Forbidden, match="tenant 'acme' is disabled"):
        await authn.authenticate(basic(KEY, SECRET))


async def test_forget_drops_cached_records() -> None:
    tenants = InMemoryTenantStore()
    await tenants.insert(Tenant(name="acme", created_at=NOW))
    authn, _, _ = ticking(credential(), tenants=tenants)
    await authn.authenticate(basic(KEY, SECRET))
    await tenants.set_disabled("acme", True)
    await authn.authenticate(basic(KEY, SECRET))  # the tenant record read just now serves
    authn.forget()
    with pytest.raises(Forbidden):
        await authn.authenticate(basic(KEY, SECRET))


async def test_expiry_is_judged_on_every_request() -> None:
    clock = Clock()
    authn, store, _ = ticking(credential(expires_at=NOW + timedelta(seconds=1)), clock=clock)
    await authn.authenticate(basic(KEY, SECRET))
    clock.now = NOW + timedelta(seconds=1)
    with pytest.raises(Unauthenticated, match="expired"):
        await authn.authenticate(basic(KEY, SECRET))
    assert store.finds == [KEY]


async def test_cache_is_bounded() -> None:
    other = credential(key="key2")
    authn, store, _ = ticking(credential(), other, entries=1)
    await authn.authenticate(basic(KEY, SECRET))
    await authn.authenticate(basic("key2", SECRET))
    await authn.authenticate(basic(KEY, SECRET))
    assert store.finds == [KEY, "key2", KEY]


# --- authorize / scopes (Communication 4.1) -------------------------------------------------------


def principal(*scopes: str) -> Principal:
    return Principal(tenant="acme", key=KEY, scopes=frozenset(scopes), authority={})


@pytest.mark.parametrize(
    ("held", "needed"),
    [
        ({"statements/write"}, "statements/write"),
        ({"statements/read"}, "statements/read"),
        ({"all"}, "statements/write"),
        ({"all"}, "statements/read"),
        ({"all"}, "statements/read/mine"),
        ({"all"}, "state"),
        ({"all"}, "profile"),
        ({"all"}, "define"),
        ({"all/read"}, "statements/read"),
        ({"all/read"}, "statements/read/mine"),
        ({"statements/read"}, "statements/read/mine"),
        ({"state", "statements/write"}, "statements/write"),
    ],
)
def test_authorize_allows(held: set[str], needed: str) -> None:
    authorize(principal(*held), needed)


@pytest.mark.parametrize(
    ("held", "needed"),
    [
        (set(), "statements/read"),
        ({"statements/write"}, "statements/read"),
        ({"statements/read"}, "statements/write"),
        ({"statements/read/mine"}, "statements/read"),
        ({"all/read"}, "statements/write"),
        ({"all/read"}, "state"),
        ({"all/read"}, "define"),
        ({"state"}, "profile"),
        ({"profile"}, "statements/write"),
    ],
)
def test_authorize_forbids(held: set[str], needed: str) -> None:
    with pytest.raises(Forbidden, match=needed):
        authorize(principal(*held), needed)


# --- credential_authority / bootstrap -------------------------------------------------------------


def test_credential_authority_is_an_account_agent() -> None:
    assert credential_authority("k", BASE_URL) == {
        "objectType": "Agent",
        "name": "k",
        "account": {"homePage": BASE_URL, "name": "k"},
    }


async def test_bootstrap_on_empty_store_creates_an_all_scopes_credential() -> None:
    store = InMemoryCredentialStore()
    created = await ensure_bootstrap_credential(store, tenant="acme", base_url=BASE_URL, now=NOW)
    assert created is not None
    key, secret = created
    [stored] = store.inserted
    assert stored.key == key
    assert stored.tenant == "acme"
    assert stored.scopes == ALL_SCOPES | {"admin"}
    assert stored.authority == credential_authority(key, BASE_URL)
    assert stored.created_at == NOW
    assert not stored.revoked
    assert stored.expires_at is None
    assert secret not in stored.secret_hash
    assert verify_secret(secret, stored.secret_hash)


async def test_bootstrap_credential_authenticates() -> None:
    store = InMemoryCredentialStore()
    created = await ensure_bootstrap_credential(store, tenant="acme", base_url=BASE_URL, now=NOW)
    assert created is not None
    principal_ = await Authenticator(store, Clock()).authenticate(basic(*created))
    assert principal_.scopes == ALL_SCOPES | {"admin"}


async def test_bootstrap_uses_the_given_key_and_secret() -> None:
    store = InMemoryCredentialStore()
    created = await ensure_bootstrap_credential(
        store, tenant="acme", base_url=BASE_URL, now=NOW, key="admin", secret="pw"
    )
    assert created == ("admin", "pw")
    [stored] = store.inserted
    assert stored.key == "admin"
    assert verify_secret("pw", stored.secret_hash)


async def test_bootstrap_does_nothing_on_a_non_empty_store() -> None:
    store = InMemoryCredentialStore(credential())
    created = await ensure_bootstrap_credential(store, tenant="acme", base_url=BASE_URL, now=NOW)
    assert created is None
    assert store.inserted == []


async def test_bootstrap_with_fixed_key_creates_it_on_a_non_empty_store() -> None:
    store = InMemoryCredentialStore(credential())
    created = await ensure_bootstrap_credential(
        store,
        tenant="acme",
        base_url=BASE_URL,
        now=NOW,
        key="admin",
        secret="pw",
        only_if_empty=False,
    )
    assert created == ("admin", "pw")
    assert [c.key for c in store.inserted] == ["admin"]


async def test_bootstrap_generates_distinct_credentials() -> None:
    first = await ensure_bootstrap_credential(
        InMemoryCredentialStore(), tenant="t", base_url=BASE_URL, now=NOW
    )
    second = await ensure_bootstrap_credential(
        InMemoryCredentialStore(), tenant="t", base_url=BASE_URL, now=NOW
    )
    assert first is not None
    assert second is not None
    assert first[0] != second[0]
    assert first[1] != second[1]


def test_all_implies_all_read() -> None:
    authorize(principal("all"), "all/read")


def test_admin_is_never_implied() -> None:
    with pytest.raises(Forbidden, match="admin"):
        authorize(principal(*ALL_SCOPES), "admin")
    authorize(principal("admin"), "admin")


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        ({"statements/read/mine"}, "statements/read/mine", True),
        ({"statements/read/mine"}, "statements/read", False),
        ({"all/read"}, "state/read", True),
        ({"all/read"}, "profile/read", True),
        ({"state"}, "state/read", True),
        ({"profile"}, "profile/read", True),
        ({"define"}, "statements/read", False),
    ],
)
def test_has_scope(held: set[str], needed: str, allowed: bool) -> None:
    assert auth.has_scope(principal(*held), needed) is allowed
