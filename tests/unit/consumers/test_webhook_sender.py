"""One attempt of a delivery (consumers.webhooks.Sender) against a fake HTTP transport: the
signed webhook request, redirects, the SSRF check at send time, and forwarding's 409 rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import orjson

from consumers.webhooks import DeliveryConfig, Sender
from lrs.services.webhooks import Resolver
from lrs.webhooks.filters import Filter
from lrs.webhooks.model import Attempt, Delivery, Subscription
from lrs.webhooks.signing import HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, verify

NOW = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
Handler = Callable[[httpx.Request], httpx.Response]


def sub(kind: str = "webhook") -> Subscription:
    return Subscription(
        id="sub1",
        tenant="acme",
        kind=kind,
        url="https://hooks.example.org/lrs",
        secret="a-secret-of-sixteen",
        filter=Filter(),
        created_at=NOW,
        username="key" if kind == "forward" else None,
    )


def delivery(*ids: str) -> Delivery:
    payloads = [
        {"type": "statement", "statement": {"id": i, "stored": "2026-11-30T10:00:00Z"}} for i in ids
    ]
    return Delivery("d1", "sub1", "acme", [f"k{i}" for i in ids], payloads, NOW)


async def public(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


async def internal(host: str, port: int) -> list[str]:
    return ["169.254.169.254"]


async def attempt(
    handler: Handler, subscription: Subscription, d: Delivery, resolver: Resolver = public
) -> tuple[Attempt, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as client:
        result = await Sender(client, DeliveryConfig(), resolver).send(subscription, d, NOW)
    return result, seen


async def test_a_webhook_is_signed_and_carries_the_delivery_id() -> None:
    result, seen = await attempt(lambda r: httpx.Response(204), sub(), delivery("s1", "s2"))
    assert result.ok
    request = seen[0]
    assert request.url.host == "93.184.216.34"  # the address checked, not a new DNS answer
    assert request.headers["Host"] == "hooks.example.org"
    assert request.extensions["sni_hostname"] == "hooks.example.org"
    assert request.headers[HEADER_ID] == "d1"
    stamp = int(request.headers[HEADER_TIMESTAMP])
    assert stamp == int(NOW.timestamp())
    assert verify("a-secret-of-sixteen", stamp, request.content, request.headers[HEADER_SIGNATURE])
    body = orjson.loads(request.content)
    assert [s["id"] for s in body["statements"]] == ["s1", "s2"]
    assert body["progress"] == []


async def test_a_redirect_is_a_failure_not_followed() -> None:
    redirect = httpx.Response(302, headers={"Location": "http://169.254.169.254/"})
    result, seen = await attempt(lambda r: redirect, sub(), delivery("s1"))
    assert not result.ok
    assert len(seen) == 1


async def test_a_target_now_resolving_inside_is_not_called() -> None:
    result, seen = await attempt(lambda r: httpx.Response(200), sub(), delivery("s1"), internal)
    assert not result.ok
    assert "link-local" in (result.error or "")
    assert seen == []


async def test_forwarding_posts_the_ids_without_stored() -> None:
    result, seen = await attempt(lambda r: httpx.Response(200), sub("forward"), delivery("s1"))
    assert result.ok
    request = seen[0]
    assert request.url.path == "/lrs/statements"
    assert request.url.host == "93.184.216.34"
    assert request.headers["X-Experience-API-Version"] == "1.0.3"
    assert request.headers["Authorization"].startswith("Basic ")
    assert orjson.loads(request.content) == [{"id": "s1"}]


async def test_a_409_is_narrowed_down_and_the_conflicts_recorded() -> None:
    def lrs(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(409)
        return httpx.Response(409 if request.url.params["statementId"] == "s2" else 204)

    result, seen = await attempt(lrs, sub("forward"), delivery("s1", "s2", "s3"))
    assert result.ok
    assert result.conflicts == ("s2",)
    assert [r.method for r in seen] == ["POST", "PUT", "PUT", "PUT"]


async def test_a_400_is_narrowed_down_and_the_refused_ids_recorded() -> None:
    def lrs(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(400)
        return httpx.Response(400 if request.url.params["statementId"] == "s1" else 204)

    result, seen = await attempt(lrs, sub("forward"), delivery("s1", "s2"))
    assert result.ok
    assert result.rejected == ("s1",)
    assert result.conflicts == ()
    assert [r.method for r in seen] == ["POST", "PUT", "PUT"]


async def test_a_failing_put_fails_the_attempt_for_a_retry() -> None:
    def lrs(request: httpx.Request) -> httpx.Response:
        return httpx.Response(409 if request.method == "POST" else 503)

    result, _ = await attempt(lrs, sub("forward"), delivery("s1", "s2"))
    assert not result.ok
    assert result.status == 503
