"""`lrs api` with LRS_API_WORKERS=2: two API processes on one socket, one killed with -9 is not
seen by clients and is started again, SIGTERM stops them all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from lrs.entry.embedded import free_port
from tests.conftest import Infra
from tests.e2e.test_serve import children_of, command_of
from tests.support.serve import EXTERNAL

pytestmark = pytest.mark.e2e


@pytest.fixture
def api_pool(infra: Infra, module_namespace: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in EXTERNAL},
        "LRS_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "LRS_MONGODB_URI": infra.mongodb_uri,
        "LRS_MONGODB_DATABASE": f"lrs_{module_namespace}",
        "LRS_TOPIC_PREFIX": f"{module_namespace}.",
        "LRS_HTTP_PORT": str(port),
        "LRS_API_WORKERS": "2",
    }
    process = subprocess.Popen([sys.executable, "-m", "lrs", "api"], env=env, text=True)
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def api_children(pid: int) -> list[int]:
    return [c for c in children_of(pid) if "lrs api --fd" in command_of(c)]


def wait_for(condition: str, check: Callable[[], bool], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, f"not within {within}s: {condition}"
        time.sleep(0.1)  # polling a condition, with a deadline


def answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def test_api_workers_share_one_socket_and_are_restarted(
    api_pool: tuple[str, subprocess.Popen[str]],
) -> None:
    base, process = api_pool
    wait_for("two API processes", lambda: len(api_children(process.pid)) == 2)
    wait_for("the API answers", lambda: answers(base))
    first, second = api_children(process.pid)
    os.kill(first, signal.SIGKILL)
    assert all(answers(base) for _ in range(20))  # the other one takes them meanwhile
    wait_for("a new process in its place", lambda: first not in api_children(process.pid))
    wait_for("two again", lambda: len(api_children(process.pid)) == 2)
    assert second in api_children(process.pid)
    children = api_children(process.pid)
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    for child in children:
        wait_for(f"{child} gone", lambda c=child: not Path(f"/proc/{c}").exists(), within=10)
