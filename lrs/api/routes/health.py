"""Liveness (/healthz: the process answers), readiness (/readyz) and /metrics.

/readyz answers 200 when the broker and the store answer a ping and every background task of
the process (the feed of progress changes and stored statements: `lrs.background`) is up;
otherwise 503 with the error envelope (code `unavailable`, Retry-After), one detail per failed
check.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from starlette.responses import Response

from lrs import background, metrics
from lrs.api.deps import ServicesDep
from lrs.api.headers import json_response
from lrs.xapi.errors import Issue, Unavailable

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
            async with asyncio.timeout(PING_TIMEOUT):
                await check
            report[name] = "ok"
        except Exception as exc:  # a readiness probe reports every failure, whatever it is
            report[name] = f"unreachable: {type(exc).__name__}"
    problems = [Issue(name, "reachable", state) for name, state in report.items() if state != "ok"]
    problems += [_task_issue(task) for task in background.not_up()]
    if problems:
        raise Unavailable("not ready: " + "; ".join(p.path for p in problems), problems)
    return json_response({"status": "ready", **report})


@metrics_router.get("/metrics")
async def prometheus_metrics() -> Response:
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)


def _task_issue(task: background.TaskStatus) -> Issue:
    after = f" after {task.error}" if task.error else ""
    message = f"{task.state}{after} ({task.restarts} restarts)"
    return Issue(task.name, "background task up", message)
