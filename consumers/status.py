"""A consumer process's own small HTTP endpoint: GET /metrics, /healthz and /readyz.

/healthz answers 200 while the runner's loop is HEALTHY, 503 otherwise: healthy means alive,
neither ended (stopped or failed) nor stuck (its current step, a fetch, a handler run, a
commit, a dead letter, a start attempt or a wait before a retry, began less than the runner's
`stall_seconds` ago); the precise rule is `consumers.runner.Health`. A consumer retrying a
transient failure is alive (restarting it would not help): 200. /readyz answers 200 only while
the loop is healthy and `running`, 503 while it is starting, retrying (the store or broker is
unreachable) or not healthy. Both bodies carry the loop's state (`running`, or `retrying` with
the error class, since when and how many times). Plain asyncio (no web framework), so it does
not take over the process's signal handling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping

import orjson

from lrs import metrics

HealthReport = Callable[[], Mapping[str, object]]

MAX_REQUEST_LINE = 8192


def _route(path: str, name: str, health: HealthReport) -> tuple[bytes, str, str]:
    """(body, content type, status line) of GET `path`."""
    if path == "/metrics":
        body, content_type = metrics.exposition()
        return body, content_type, "200 OK"
    if path in ("/healthz", "/readyz"):
        report = {"consumer": name, **health()}
        good = report.get("healthy", True) if path == "/healthz" else report.get("ready", True)
        report["status"] = "ok" if good else str(report.get("state", "unknown"))
        status = "200 OK" if good else "503 Service Unavailable"
        return orjson.dumps(report), "application/json", status
    return b"not found\n", "text/plain", "404 Not Found"


def _no_report() -> Mapping[str, object]:
    return {}


async def _answer(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str, health: HealthReport
) -> None:
    try:
        async with asyncio.timeout(5):
            request_line = await reader.readline()
        async with asyncio.timeout(5):
            while (await reader.readline()).strip():
                pass  # headers are not needed
        parts = request_line.decode("latin-1").split()
        path = parts[1] if len(parts) >= 2 else ""
        body, content_type, status = _route(path, name, health)
        head = (
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + body)
        await writer.drain()
    except (TimeoutError, ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def start_status_server(
    host: str, port: int, name: str, health: HealthReport = _no_report
) -> asyncio.Server:
    return await asyncio.start_server(
        lambda r, w: _answer(r, w, name, health), host, port, limit=MAX_REQUEST_LINE
    )
