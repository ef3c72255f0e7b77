"""Short-lived signed tokens for the progress stream.

A browser's EventSource cannot send an Authorization header, so a client first trades its
credentials for a token (`POST /progress/stream-token`) and opens the stream with
`?token=...`. The token is `<payload>.<signature>`, both base64url: the payload names the
tenant, the credential key, its scopes and an expiry; the signature is HMAC-SHA256 with the
process's stream-token secret (`LRS_STREAM_TOKEN_SECRET`; generated at start when unset, which
is only right for a single API process). It is checked when a stream opens, and it opens only
progress streams (the token is useless on any other endpoint).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from lrs.ports.credentials import Principal
from lrs.xapi.errors import Unauthenticated

PURPOSE = "progress-stream"


@dataclass(frozen=True, slots=True)
class StreamToken:
    token: str
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode(), hashlib.sha256).digest())


def issue(secret: bytes, who: Principal, now: datetime, ttl: timedelta) -> StreamToken:
    expires = now + ttl
    claims = {
        "p": PURPOSE,
        "t": who.tenant,
        "k": who.key,
        "s": sorted(who.scopes),
        "e": int(expires.timestamp()),
    }
    payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return StreamToken(f"{payload}.{_sign(secret, payload)}", expires)


def verify(secret: bytes, token: str, now: datetime) -> Principal:
    """The principal a valid, unexpired token stands for; Unauthenticated otherwise."""
    payload, sep, signature = token.partition(".")
    if not sep or not hmac.compare_digest(signature, _sign(secret, payload)):
        raise Unauthenticated("invalid stream token")
    try:
        claims = json.loads(_unb64(payload))
    except (ValueError, binascii.Error):
        raise Unauthenticated("invalid stream token") from None
    if claims.get("p") != PURPOSE:
        raise Unauthenticated("not a stream token")
    if int(claims.get("e", 0)) <= now.timestamp():
        raise Unauthenticated("the stream token has expired; request a new one")
    return Principal(
        tenant=str(claims["t"]),
        key=str(claims["k"]),
        scopes=frozenset(claims.get("s") or ()),
        authority={},
    )
