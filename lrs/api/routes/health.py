"""Liveness (/healthz: the process answers), readiness (/readyz: broker and store reachable)
and /metrics."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import Response

from lrs import metrics
from lrs.api.deps import ServicesDep
from lrs.api.headers import json_response

router = APIRouter()
# GET /metrics on the API's port; not included when LRS_METRICS_PORT serves them apart.
metrics_router = APIRouter()
PING_TIMEOUT = 3.0


@router.get("/healthz")
async def healthz() -> Response:
    return json_response({"status": "ok"})


@router.get("/readyz")
async def readyz(services: ServicesDep) -> Response:
    checks = {"broker": services.bus.ping(), "store": services.store.ping()}
    report: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await asyncio.wait_for(check, PING_TIMEOUT)
            report[name] = "ok"
        except Exception as exc:  # a readiness probe reports every failure, whatever it is
            report[name] = f"unreachable: {type(exc).__name__}"
    ready = all(v == "ok" for v in report.values())
    return json_response(
        {"status": "ready" if ready else "not ready", **report}, 200 if ready else 503
    )


@metrics_router.get("/metrics")
async def prometheus_metrics() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
