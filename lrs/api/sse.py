"""Server-Sent Events framing (HTML Living Standard, "Server-sent events"): one `StreamEvent`
to its bytes on the wire."""

from __future__ import annotations

import orjson

from lrs.services.progress import StreamEvent

HEADERS = {
    "Cache-Control": "no-cache, no-transform",
    "X-Accel-Buffering": "no",  # tell nginx-like proxies not to buffer the stream
}
MEDIA_TYPE = "text/event-stream"


def _clean(text: str) -> str:
    """A field value cannot hold a line break (it would end the field)."""
    return text.replace("\r", " ").replace("\n", " ")


def encode(event: StreamEvent) -> bytes:
    lines: list[str] = []
    if event.comment is not None:
        lines.append(f": {_clean(event.comment)}")
    if event.retry_ms is not None:
        lines.append(f"retry: {event.retry_ms}")
    if event.event is not None:
        lines.append(f"event: {_clean(event.event)}")
    if event.id is not None:
        lines.append(f"id: {_clean(event.id)}")
    if event.data is not None:
        lines.append("data: " + orjson.dumps(event.data).decode())  # JSON has no raw newline
    return ("\n".join(lines) + "\n\n").encode()
