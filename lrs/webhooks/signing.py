"""Signing and naming deliveries (docs/webhooks.md documents the headers).

The signature is HMAC-SHA256, keyed with the subscription's secret, over the ASCII timestamp
(Unix seconds), a dot and the exact body bytes; it is sent as `v1=<hex>`. The delivery id is a
function of the subscription and of the items a delivery carries, so a delivery resent after a
crash carries the same id and a receiver can drop the duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence

HEADER_ID = "X-LRS-Webhook-Id"
HEADER_TIMESTAMP = "X-LRS-Webhook-Timestamp"
HEADER_SIGNATURE = "X-LRS-Webhook-Signature"
HEADER_SUBSCRIPTION = "X-LRS-Webhook-Subscription"
SIGNATURE_VERSION = "v1"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=` + hex HMAC-SHA256(secret, "<timestamp>." + body)."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SIGNATURE_VERSION}={mac.hexdigest()}"


def verify(secret: str, timestamp: int, body: bytes, header: str) -> bool:
    """Whether `header` is the signature of `body` at `timestamp` (constant-time compare)."""
    return hmac.compare_digest(signature(secret, timestamp, body), header)


def delivery_id(subscription: str, item_keys: Sequence[str]) -> str:
    """Stable id of the delivery of these items (in this order) to this subscription."""
    digest = hashlib.sha256(subscription.encode())
    for key in item_keys:
        digest.update(b"\n" + key.encode())
    return digest.hexdigest()[:32]


def item_key(topic: str, partition: int, offset: int) -> str:
    """The position of the record an item came from (topic without the settings' prefix)."""
    return f"{topic}/{partition}/{offset}"
