"""Headless Chromium driven over the Chrome DevTools Protocol (a websocket), for end-to-end
tests of pages. Debian's `chromium` package (installed by `make test` when missing)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from lrs.entry.embedded import free_port

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(
        "no Chromium found: `make test` installs Debian's chromium (apt-get install chromium)"
    )


class Page:
    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws
        self._ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []  # the browser's events, as they came

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        await self._ws.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(await self._ws.recv())
            if "method" in reply:
                self.events.append(reply)
            elif reply.get("id") == message_id:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    async def evaluate(self, expression: str) -> Any:
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def screenshot(self, path: Path) -> bytes:
        """A PNG of the page, written to `path` (and returned)."""
        shot = await self.call("Page.captureScreenshot", format="png")
        png = base64.b64decode(shot["data"])
        await asyncio.to_thread(path.write_bytes, png)
        return png

    async def wait_for(self, expression: str, within: float, message: str) -> Any:
        """Poll `expression` until it is truthy; fail with `message` (and its last value)."""
        deadline = time.monotonic() + within
        value: Any = None
        while time.monotonic() < deadline:
            value = await self.evaluate(expression)
            if value:
                return value
            await asyncio.sleep(0.25)
        raise AssertionError(f"{message} (after {within:.0f}s; last value {value!r})")


@contextlib.asynccontextmanager
async def browser_page(url: str, flags: Sequence[str] = ()) -> AsyncIterator[Page]:
    """A page of a new headless Chromium (with these extra command-line `flags`) at `url`."""
    port = free_port()
    # Chromium's helper processes may still write to the profile as the browser exits.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(  # noqa: ASYNC220 (starts at once; nothing to await)
            [
                chromium_path(),
                *FLAGS,
                *flags,
                f"--user-data-dir={profile}",
                f"--remote-debugging-port={port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            ws_url = await _page_websocket(port, process)
            async with connect(ws_url, max_size=None) as ws:
                page = Page(ws)
                await page.call("Page.enable")
                await page.call("Runtime.enable")
                await page.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=1280,
                    height=1000,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                await page.call("Page.navigate", url=url)
                yield page
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


async def _page_websocket(port: int, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "chromium exited during start-up"
            try:
                targets = (await client.get(f"http://127.0.0.1:{port}/json/list")).json()
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return str(pages[0]["webSocketDebuggerUrl"])
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError("chromium's DevTools endpoint did not come up")
