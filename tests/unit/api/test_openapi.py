"""The OpenAPI document builds (warnings are errors under pytest) and documents every resource,
the admin API included."""

from __future__ import annotations

from lrs.api.app import create_app
from lrs.settings import LrsSettings


def test_openapi_lists_every_resource() -> None:
    schema = create_app(LrsSettings()).openapi()
    paths = set(schema["paths"])
    expected = {
        "/xapi/statements",
        "/xapi/activities/state",
        "/xapi/activities/profile",
        "/xapi/agents/profile",
        "/xapi/agents",
        "/xapi/activities",
        "/xapi/about",
        "/progress/stream",
    }
    assert expected <= paths
    assert any(p.startswith("/admin/") for p in paths)
    assert {"get", "post", "put"} <= set(schema["paths"]["/xapi/statements"])
