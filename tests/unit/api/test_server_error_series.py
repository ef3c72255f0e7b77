"""A route's 500 and 503 counters exist, at zero, from its first request on: an alert on the
rate of server errors reads a series before the first error (lrs.metrics.http_answered)."""

from __future__ import annotations

import httpx
from prometheus_client import REGISTRY

from lrs.api.app import create_app
from lrs.settings import LrsSettings
from tests.support.adapters import app_adapters


def count(route: str, method: str, status: str) -> float | None:
    labels = {"route": route, "method": method, "status": status}
    return REGISTRY.get_sample_value("lrs_http_requests_total", labels)


async def test_a_route_has_its_server_error_series_from_its_first_request() -> None:
    app = create_app(LrsSettings(), adapters=app_adapters())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http,
    ):
        answered = await http.get("/xapi/about", headers={"X-Experience-API-Version": "1.0.3"})
    assert answered.status_code == 200
    assert (count("/xapi/about", "GET", "500"), count("/xapi/about", "GET", "503")) == (0.0, 0.0)
    assert (count("/xapi/about", "GET", "200") or 0) >= 1
    assert count("/xapi/about", "GET", "418") is None  # only server errors are made ahead
