"""Secret generation, scrypt hashing and verification."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from lrs import security
from lrs.security import hash_secret, new_key, new_secret, verify_secret

SALT = b"0123456789abcdef"


@pytest.fixture(scope="module")
def stored() -> str:
    return hash_secret("correct horse", salt=SALT)


def test_hash_format(stored: str) -> None:
    scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
    assert (scheme, int(n), int(r), int(p)) == (
        "scrypt",
        security.SCRYPT_N,
        security.SCRYPT_R,
        security.SCRYPT_P,
    )
    assert base64.b64decode(salt_b64) == SALT
    assert len(base64.b64decode(digest_b64)) == 32
    assert "correct horse" not in stored


def test_hash_is_deterministic_for_a_salt(stored: str) -> None:
    assert hash_secret("correct horse", salt=SALT) == stored


def test_hash_uses_a_fresh_random_salt() -> None:
    first, second = hash_secret("s"), hash_secret("s")
    assert first != second
    assert verify_secret("s", first)
    assert verify_secret("s", second)


@pytest.mark.parametrize("secret", ["correct horse", "", "päss:wörd", "x" * 200])
def test_verify_accepts_the_right_secret(secret: str) -> None:
    assert verify_secret(secret, hash_secret(secret, salt=SALT))


@pytest.mark.parametrize(
    "wrong", ["correct horsE", "correct horse ", "", "correct", "Correct horse"]
)
def test_verify_rejects_a_wrong_secret(stored: str, wrong: str) -> None:
    assert not verify_secret(wrong, stored)


def _tamper(stored: str, index: int, value: str) -> str:
    parts = stored.split("$")
    parts[index] = value
    return "$".join(parts)


@pytest.mark.parametrize(
    "make",
    [
        lambda s: "",
        lambda s: "plaintext",
        lambda s: s.replace("scrypt", "bcrypt", 1),
        lambda s: s + "$extra",
        lambda s: s.rsplit("$", 1)[0],
        lambda s: _tamper(s, 1, "abc"),
        lambda s: _tamper(s, 1, "1000"),
        lambda s: _tamper(s, 4, "%%%"),
        lambda s: _tamper(s, 5, "%%%"),
        lambda s: _tamper(s, 5, ""),
        lambda s: _tamper(s, 5, base64.b64encode(b"\x00" * 32).decode()),
        lambda s: _tamper(s, 2, "9"),
    ],
)
def test_verify_rejects_malformed_or_tampered_hashes(
    stored: str, make: Callable[[str], str]
) -> None:
    assert verify_secret("correct horse", make(stored)) is False


def test_new_key_and_secret_are_random_and_url_safe() -> None:
    keys = {new_key() for _ in range(20)}
    secrets_ = {new_secret() for _ in range(20)}
    assert len(keys) == len(secrets_) == 20
    for key in keys:
        assert len(key) == 20
        int(key, 16)
    for secret in secrets_:
        assert len(secret) >= 40
        assert set(secret) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


def test_all_scopes_cover_the_xapi_scopes() -> None:
    assert {
        "statements/write",
        "statements/read",
        "statements/read/mine",
        "all/read",
        "all",
        "state",
        "define",
        "profile",
    } == security.ALL_SCOPES
