"""A tiny JWS signer for tests (RFC 7515 compact serialization, RSASSA-PKCS1-v1_5), signing
the way a Learning Record Provider does for xAPI Data 2.6 signed statements."""

from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

HASHES: dict[str, hashes.HashAlgorithm] = {
    "RS256": hashes.SHA256(),
    "RS384": hashes.SHA384(),
    "RS512": hashes.SHA512(),
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign(
    payload: bytes | dict[str, Any],
    key: rsa.RSAPrivateKey,
    alg: str = "RS256",
    header: dict[str, Any] | None = None,
) -> bytes:
    """Sign like a Learning Record Provider; `header` extras are merged into {"alg": alg}."""
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    signing_input = f"{b64url(json.dumps({'alg': alg, **(header or {})}).encode())}.{b64url(raw)}"
    digest = HASHES.get(alg, hashes.SHA256())
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), digest)
    return f"{signing_input}.{b64url(signature)}".encode()
