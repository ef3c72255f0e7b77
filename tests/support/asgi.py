"""Driving the ASGI app directly with raw requests: any bytes in the path, query and headers,
as a server would pass them on (httpx would refuse or re-encode some of them)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from bench.hostile import HostileRequest

CALL_TIMEOUT = 60.0


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    note: str = ""  # why there is no real answer, when there is none


async def call_app(app: Any, request: HostileRequest) -> Answer:
    """The app's answer to `request`. A Server-Sent Events answer is cut after its start (the
    client disconnects), so that an opened stream ends; an exception the app lets out is
    reported as the 500 a server would send."""
    headers = [(b"host", b"testserver"), *request.headers]
    if not any(name == b"content-length" for name, _ in request.headers):
        headers.append((b"content-length", str(len(request.body)).encode()))
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": "http",
        "path": unquote(request.path),
        "raw_path": request.path.encode("latin-1"),
        "query_string": request.query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 40000),
        "server": ("testserver", 80),
    }
    done = asyncio.Event()
    messages: list[dict[str, Any]] = []
    body_given = False

    async def receive() -> dict[str, Any]:
        nonlocal body_given
        if not body_given:
            body_given = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)
        if message["type"] == "http.response.start":
            if (
                dict(message.get("headers", []))
                .get(b"content-type", b"")
                .startswith(b"text/event-stream")
            ):
                done.set()
        elif not message.get("more_body"):
            done.set()

    try:
        await asyncio.wait_for(app(scope, receive, send), CALL_TIMEOUT)
    except Exception as exc:  # what a server turns into a bare 500
        return Answer(500, {}, b"", f"the app raised {exc!r}")
    finally:
        done.set()
    return _answer(messages)


def _answer(messages: list[dict[str, Any]]) -> Answer:
    starts = [m for m in messages if m["type"] == "http.response.start"]
    if not starts:
        return Answer(500, {}, b"", "the app returned without answering")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in starts[0]["headers"]}
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    return Answer(starts[0]["status"], headers, body)
