"""A webhook receiver on loopback for tests: a tiny threaded HTTP server whose behaviour the
test switches (up, down, hold the request until released, hang), recording every request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from lrs.webhooks.signing import HEADER_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP


@dataclass(frozen=True)
class Received:
    delivery_id: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    @property
    def statements(self) -> list[dict[str, Any]]:
        doc: dict[str, Any] = orjson.loads(self.body)
        return list(doc["statements"])


@dataclass
class Receiver:
    port: int = 0
    mode: str = "up"  # up (200), down (503), hold (wait for `release`, then 200)
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    release: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def snapshot(self) -> list[Received]:
        with self.lock:
            return list(self.requests)

    def processed(self) -> dict[str, Received]:
        """What a receiver that drops duplicates by delivery id kept: the first 2xx of each."""
        kept: dict[str, Received] = {}
        for r in self.snapshot():
            if 200 <= r.status < 300:
                kept.setdefault(r.delivery_id, r)
        return kept

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        mode = self.mode
        if mode == "hold":
            self.holding.set()
            self.release.wait(60)
        status = 503 if mode == "down" else 200
        with self.lock:
            self.requests.append(Received(headers.get(HEADER_ID, ""), headers, body, status))
        return status


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            wanted = (HEADER_ID, HEADER_TIMESTAMP, HEADER_SIGNATURE)
            headers = {name: self.headers.get(name, "") for name in wanted}
            status = receiver.answer(headers, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    return Handler


@contextmanager
def running_receiver(mode: str = "up") -> Iterator[Receiver]:
    receiver = Receiver(mode=mode)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    server.daemon_threads = True
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


@contextmanager
def hanging_server() -> Iterator[str]:
    """A URL whose server accepts connections and never answers (a dead receiver)."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    finally:
        sock.close()
