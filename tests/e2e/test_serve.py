"""`lrs serve` as a user runs it: embedded broker and store, a fixed first credential, statements
in and out over HTTP, a persist consumer killed with -9 and brought back by the supervisor, and
a clean stop on SIGTERM that leaves no process behind."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lrs.embedded import free_port
from tests.support.factories import statement
from tests.support.stack import xapi_headers

pytestmark = pytest.mark.e2e
KEY, SECRET = "e2e-key", "e2e-secret"
H = xapi_headers(key=KEY, secret=SECRET)


def children_of(pid: int) -> list[int]:
    result = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
    )
    return [int(p) for p in result.stdout.split()]


def command_of(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def wait_ready(base: str, process: subprocess.Popen[str], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert process.poll() is None, "lrs serve exited during start-up"
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError("lrs serve did not become ready")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = {
        **os.environ,
        "LRS_DATA_DIR": str(tmp_path / "data"),
        "LRS_HTTP_PORT": str(port),
        "LRS_BOOTSTRAP_KEY": KEY,
        "LRS_BOOTSTRAP_SECRET": SECRET,
        "LRS_CONSUMER_METRICS_PORT": str(free_port()),
        "LRS_CONSUMER_SESSION_TIMEOUT_MS": "6000",
    }
    env.pop("LRS_KAFKA_BOOTSTRAP", None)
    env.pop("LRS_MONGODB_URI", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "lrs", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process)
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
        if process.stdout is not None:
            process.stdout.close()


def test_serve_prints_endpoint_and_credential(served: tuple[str, subprocess.Popen[str]]) -> None:
    base, process = served
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.strip() == f"xAPI endpoint: {base}/xapi"
    assert f"{KEY}:{SECRET}" in process.stdout.readline()


async def test_kill_9_of_persist_under_serve_loses_nothing(
    served: tuple[str, subprocess.Popen[str]],
) -> None:
    base, process = served
    persist = [p for p in children_of(process.pid) if "consume persist" in command_of(p)]
    assert len(persist) == 1
    acknowledged: list[str] = []
    hundred_acknowledged = asyncio.Event()

    async with httpx.AsyncClient(base_url=base, headers=H, timeout=60) as client:

        async def stream(worker: int) -> None:
            for n in range(10):
                batch = [statement(learner=f"{worker}-{n}-{i}") for i in range(10)]
                response = await client.post("/xapi/statements", json=batch)
                assert response.status_code == 200, response.text
                acknowledged.extend(response.json())
                if len(acknowledged) >= 100:
                    hundred_acknowledged.set()

        writers = asyncio.gather(*(stream(w) for w in range(4)))
        await hundred_acknowledged.wait()
        os.kill(persist[0], signal.SIGKILL)
        await writers
        stored: list[str] = []
        url: str | None = "/xapi/statements?limit=100"
        while url:
            body = (await client.get(url)).json()
            stored += [s["id"] for s in body["statements"]]
            url = body["more"] or None
    assert len(acknowledged) == 400
    assert sorted(stored) == sorted(acknowledged)
    restarted = [p for p in children_of(process.pid) if "consume persist" in command_of(p)]
    assert restarted
    assert restarted != persist


def test_sigterm_stops_everything(served: tuple[str, subprocess.Popen[str]]) -> None:
    _, process = served
    children = children_of(process.pid)
    assert len(children) == 4  # store, broker, persist, api
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    time.sleep(0.5)
    assert [c for c in children if Path(f"/proc/{c}").exists() and "zombie" not in _state(c)] == []


def _state(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "gone"
    return "zombie" if "\nState:\tZ" in status else "running"
