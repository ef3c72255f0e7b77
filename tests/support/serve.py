"""`lrs serve` as a subprocess, the way a user starts it: embedded broker and store, a fixed
first credential, a private data directory."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from lrs.entry.embedded import free_port

EXTERNAL = ("LRS_KAFKA_BOOTSTRAP", "LRS_MONGODB_URI")


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


@contextlib.contextmanager
def serve_lrs(
    data_dir: Path, key: str, secret: str, log: Path | str | None = None, **settings: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start `lrs serve`; yield (base URL, process); kill it (and so its children) at the end.
    Extra LRS_* settings are passed as keyword arguments without the prefix; the broker and
    store are the embedded ones unless `kafka_bootstrap` / `mongodb_uri` are among them (the
    caller's own environment never chooses them). `log` receives its stderr (its log)."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if k not in EXTERNAL},
        "LRS_DATA_DIR": str(data_dir),
        "LRS_HTTP_PORT": str(port),
        "LRS_BOOTSTRAP_KEY": key,
        "LRS_BOOTSTRAP_SECRET": secret,
        "LRS_CONSUMER_METRICS_PORT": str(free_port()),
        "LRS_CONSUMER_SESSION_TIMEOUT_MS": "6000",
        **{f"LRS_{name.upper()}": value for name, value in settings.items()},
    }
    with open(log or os.devnull, "ab") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "lrs", "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
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


def child_pids(data_dir: Path) -> dict[str, int]:
    """Each child's name and pid, from the `processes.json` that `lrs serve` keeps in its data
    directory (a process started from a spare does not say in its command line what it is)."""
    pids: dict[str, int] = json.loads((data_dir / "processes.json").read_text())
    return pids
