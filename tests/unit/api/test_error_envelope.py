"""Whatever a route lets out is answered in the error envelope, from inside the CORS and edge
middleware: a bug is a 500, an outage of the store or broker a 503 with Retry-After, and a
request still running when uvicorn's graceful shutdown is over a 503 instead of uvicorn's
plain-text 500."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
import uvicorn

from lrs.api.app import create_app
from lrs.api.errors import UNAVAILABLE_MESSAGES, ErrorEnvelopeMiddleware, outage
from lrs.entry.embedded import free_port
from lrs.settings import LrsSettings
from tests.support.adapters import app_adapters
from tests.support.outages import FAULTS, OUTAGES, label, name

Message = dict[str, Any]


@pytest.mark.parametrize(("exc", "dependency"), OUTAGES, ids=label)
def test_outages_of_the_store_and_broker_are_unavailable(
    exc: BaseException, dependency: str
) -> None:
    unavailable = outage(exc)
    assert unavailable is not None
    assert unavailable.message == UNAVAILABLE_MESSAGES[dependency]


@pytest.mark.parametrize("exc", FAULTS, ids=name)
def test_deterministic_failures_are_no_outage(exc: BaseException) -> None:
    assert outage(exc) is None


async def drive(app: Any) -> tuple[asyncio.Task[None], list[Message]]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET", "path": "/x", "headers": [], "query_string": b""}
    return asyncio.create_task(app(scope, receive, send)), sent


def status_and_error(sent: list[Message]) -> tuple[int, dict[str, Any], dict[bytes, bytes]]:
    start, body = sent
    return start["status"], orjson.loads(body["body"])["error"], dict(start["headers"])


async def test_an_exception_is_a_500_in_the_envelope() -> None:
    async def failing(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("a bug")

    task, sent = await drive(ErrorEnvelopeMiddleware(failing))
    await task
    status, error, _ = status_and_error(sent)
    assert (status, error["code"]) == (500, "internal_error")


async def test_a_cancelled_request_gets_a_503_and_stays_cancelled() -> None:
    entered = asyncio.Event()

    async def hanging(scope: Any, receive: Any, send: Any) -> None:
        entered.set()
        await asyncio.Event().wait()

    task, sent = await drive(ErrorEnvelopeMiddleware(hanging))
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    status, error, headers = status_and_error(sent)
    assert (status, error["code"]) == (503, "unavailable")
    assert headers[b"retry-after"]


async def test_an_error_after_the_answer_started_goes_on_unanswered() -> None:
    async def streaming(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("mid-stream")

    task, sent = await drive(ErrorEnvelopeMiddleware(streaming))
    with pytest.raises(RuntimeError):
        await task
    assert [m["type"] for m in sent] == ["http.response.start"]


@pytest.fixture
async def server_with_a_hanging_route() -> AsyncIterator[tuple[uvicorn.Server, str, asyncio.Event]]:
    entered = asyncio.Event()
    app = create_app(LrsSettings(), adapters=app_adapters())

    async def hang() -> None:
        entered.set()
        await asyncio.Event().wait()

    app.add_api_route("/test/hang", hang, methods=["GET"])
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="critical", timeout_graceful_shutdown=0.2
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert not serving.done(), "uvicorn stopped"
        await asyncio.sleep(0.01)
    try:
        yield server, f"http://127.0.0.1:{port}", entered
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


async def test_a_request_in_flight_at_shutdown_gets_a_503_in_the_envelope(
    server_with_a_hanging_route: tuple[uvicorn.Server, str, asyncio.Event],
) -> None:
    server, base, entered = server_with_a_hanging_route
    headers = {"X-Experience-API-Version": "1.0.3", "Origin": "https://app.example.org"}
    async with httpx.AsyncClient(base_url=base, timeout=10) as http:
        request = asyncio.create_task(http.get("/test/hang", headers=headers))
        await entered.wait()
        server.should_exit = True
        response = await request
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "unavailable"
    assert response.headers["retry-after"]
    assert response.headers["x-experience-api-version"] == "1.0.3"
    assert response.headers["access-control-allow-origin"] == "*"
