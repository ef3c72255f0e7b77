"""A consumer process's own small HTTP endpoint: GET /metrics and GET /healthz.

Plain asyncio (no web framework), so it does not take over the process's signal handling.
"""

from __future__ import annotations

import asyncio
import contextlib

from lrs import metrics

MAX_REQUEST_LINE = 8192


async def _answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str) -> None:
    try:
        request_line = await asyncio.wait_for(reader.readline(), 5)
        while (await asyncio.wait_for(reader.readline(), 5)).strip():
            pass  # headers are not needed
        parts = request_line.decode("latin-1").split()
        path = parts[1] if len(parts) >= 2 else ""
        if path == "/metrics":
            body, content_type = metrics.exposition()
            status = "200 OK"
        elif path == "/healthz":
            body, content_type, status = (
                f'{{"status":"ok","consumer":"{name}"}}'.encode(),
                "application/json",
                "200 OK",
            )
        else:
            body, content_type, status = b"not found\n", "text/plain", "404 Not Found"
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


async def start_status_server(host: str, port: int, name: str) -> asyncio.Server:
    return await asyncio.start_server(
        lambda r, w: _answer(r, w, name), host, port, limit=MAX_REQUEST_LINE
    )
