"""Secrets: generation, salted hashing (scrypt) and constant-time verification.

Secrets are stored only as ``scrypt$n$r$p$<salt b64>$<hash b64>``. scrypt is deliberately slow
(a few ms); `lrs.services.auth` caches successful verifications in memory so it does not
dominate request cost under load.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets

SCRYPT_N = 2**12
SCRYPT_R = 8
SCRYPT_P = 1
ALL_SCOPES = frozenset(
    {
        "statements/write",
        "statements/read",
        "statements/read/mine",
        "all/read",
        "all",
        "state",
        "define",
        "profile",
    }
)


# Administration of tenants and credentials (the /admin API): never implied by an xAPI scope,
# never granted by a bearer token (docs/decisions/0005).
ADMIN_SCOPE = "admin"
GRANTABLE_SCOPES = ALL_SCOPES | {ADMIN_SCOPE}
# Tenant names: no "/" (stores key documents "<tenant>/<id>"), short, lower case.
TENANT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def new_key() -> str:
    return secrets.token_hex(10)


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def hash_secret(secret: str, *, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(
        secret.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(digest_b64)
        actual = hashlib.scrypt(
            secret.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
