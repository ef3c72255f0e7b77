"""`lrs serve` as a user runs it: embedded broker and store, a fixed first credential, statements
in and out over HTTP, a persist consumer killed with -9 and brought back by the supervisor, and
a clean stop on SIGTERM that leaves no process behind."""

from __future__ import annotations

import asyncio
import os
import re
import select
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lrs.settings import LrsSettings
from lrs.wiring.consumers import CONSUMERS
from tests.support.factories import statement
from tests.support.processes import running_after
from tests.support.serve import child_pids, serve_lrs
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


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def served(data_dir: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    with serve_lrs(data_dir, KEY, SECRET) as running:
        yield running


def banner(process: subprocess.Popen[str], within: float = 30) -> list[str]:
    """The lines `lrs serve` printed up to its last banner line (the start page), read straight
    from the pipe with a deadline, so that a missing line fails the test instead of hanging it."""
    assert process.stdout is not None
    fd, text = process.stdout.fileno(), ""
    deadline = time.monotonic() + within
    while not re.search(r"^start page: .*\n", text, re.MULTILINE):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        chunk = os.read(fd, 65536) if ready else b""
        if not chunk:
            break
        text += chunk.decode()
    return text.splitlines()


def test_serve_prints_endpoint_credential_docs_and_dashboard(
    served: tuple[str, subprocess.Popen[str]],
) -> None:
    base, process = served
    lines = banner(process)
    assert lines[0] == f"xAPI endpoint: {base}/xapi"
    assert f"{KEY}:{SECRET}" in lines[1]
    assert lines[2].startswith(f"API docs: {base}/docs ")
    assert lines[3].startswith(f"dashboard: {base}/dashboard ")
    assert lines[4].startswith("broker: 127.0.0.1:")
    assert lines[4].endswith("(embedded, started by lrs serve)")
    assert lines[5].startswith("store: mongodb://127.0.0.1:")
    assert lines[6].startswith("doorbell: ")  # for `lrs` commands run beside it
    assert Path(lines[6].split()[1]).is_dir()
    assert lines[7:] == [f"start page: {base}/"]
    assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
    assert httpx.get(f"{base}/", timeout=10, follow_redirects=True).status_code == 200


async def test_kill_9_of_persist_under_serve_loses_nothing(
    served: tuple[str, subprocess.Popen[str]], data_dir: Path
) -> None:
    base, process = served
    persist = [p for p in children_of(process.pid) if "consume persist" in command_of(p)]
    assert persist == [child_pids(data_dir)["persist"]]
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
    restarted = child_pids(data_dir)["persist"]
    assert restarted in children_of(process.pid)
    assert [restarted] != persist


def test_every_lrs_process_it_starts_knows_it_and_stops_without_it(
    served: tuple[str, subprocess.Popen[str]],
) -> None:
    """Each one watches `lrs serve` (LRS_SUPERVISOR_PID, lrs.entry.orphan), the spare too."""
    _, process = served
    ours = [c for c in children_of(process.pid) if " -m lrs " in command_of(c)]
    assert len(ours) == LrsSettings().api_workers + len(CONSUMERS) + 1
    expected = f"LRS_SUPERVISOR_PID={process.pid}".encode()
    assert all(expected in Path(f"/proc/{c}/environ").read_bytes().split(b"\0") for c in ours)


def test_kill_9_of_serve_ends_every_child_even_a_stopped_store_and_broker(
    served: tuple[str, subprocess.Popen[str]], data_dir: Path
) -> None:
    """The broker and store die with `lrs serve` by SIGKILL (lrs.entry.embedded), so even a
    store or broker that cannot handle a stop (here: stopped; seen: SecantusDB deadlocked in
    its SIGTERM handler) is gone. The LRS's own processes then find their broker and store
    unanswering; they stop by themselves (lrs.entry.orphan)."""
    _, process = served
    children = children_of(process.pid)
    parts = [child_pids(data_dir)[name] for name in ("store", "broker")]
    for part in parts:
        os.kill(part, signal.SIGSTOP)
    process.kill()
    process.wait(30)
    assert running_after(parts, 10) == []
    left = running_after(children, 40)  # a consumer's stop may wait on the broker: grace + 10 s
    assert [command_of(c) for c in left] == []


def test_sigterm_stops_everything(served: tuple[str, subprocess.Popen[str]]) -> None:
    _, process = served
    children = children_of(process.pid)
    # store, broker, the API processes, every consumer of lrs/wiring/consumers.py and a spare
    assert len(children) == 2 + LrsSettings().api_workers + len(CONSUMERS) + 1
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert running_after(children, 10) == []  # an orphan would be reaped by init meanwhile
