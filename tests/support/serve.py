"""`lrs serve` as a subprocess, the way a user starts it: embedded broker and store, a fixed
first credential, a private data directory."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from lrs.adapters.doorbell import doorbell_dir_for
from lrs.entry.embedded import free_port

EXTERNAL = ("LRS_KAFKA_BOOTSTRAP", "LRS_MONGODB_URI")


def log_tail(log: Path, lines: int = 60) -> str:
    """The last lines of a log file, for an assertion message."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


def wait_ready(base: str, process: subprocess.Popen[str], log: Path, within: float = 60) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        code = process.poll()
        assert code is None, f"lrs serve exited during start-up ({code}):\n{log_tail(log)}"
        try:
            if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"lrs serve did not become ready:\n{log_tail(log)}")


PORT_TAKEN = "Address already in use"


class PortTaken(Exception):
    """`lrs serve` could not bind a port chosen here: another process took it meanwhile."""


def start_serve(
    data_dir: Path, key: str, secret: str, log: Path, settings: dict[str, str]
) -> tuple[str, subprocess.Popen[str]]:
    """One start of `lrs serve` on ports chosen here, ready (or PortTaken, or a failure)."""
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
    log.parent.mkdir(parents=True, exist_ok=True)
    logged_before = log.stat().st_size if log.exists() else 0
    with open(log, "ab") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "lrs", "serve"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(base, process, log)
    except AssertionError:
        stop(process)
        with open(log, "rb") as logged:
            logged.seek(logged_before)
            if PORT_TAKEN.encode() in logged.read():
                raise PortTaken() from None
        raise
    return base, process


def stop(process: subprocess.Popen[str]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(10)
    if process.stdout is not None:
        process.stdout.close()


@contextlib.contextmanager
def serve_lrs(
    data_dir: Path, key: str, secret: str, log: Path | str | None = None, **settings: str
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """Start `lrs serve`; yield (base URL, process); kill it (and so its children) at the end.
    Extra LRS_* settings are passed as keyword arguments without the prefix; the broker and
    store are the embedded ones unless `kafka_bootstrap` / `mongodb_uri` are among them (the
    caller's own environment never chooses them). `log` receives its stderr (its log); by
    default a file beside the data directory, whose tail a failed start-up reports. The HTTP
    and metrics ports are chosen here and may be taken by another process before `lrs serve`
    binds them: then it is started again on new ones (three tries)."""
    log_path = Path(log) if log is not None else data_dir.parent / f"{data_dir.name}-serve.log"
    for attempt in range(3):
        try:
            base, process = start_serve(data_dir, key, secret, log_path, settings)
            break
        except PortTaken:
            if attempt == 2:
                raise AssertionError(f"ports taken three times:\n{log_tail(log_path)}") from None
    try:
        yield base, process
    finally:
        stop(process)
        bells = doorbell_dir_for(data_dir)
        if not bells.is_relative_to(data_dir.resolve()):  # the temporary directory's, see 0021
            shutil.rmtree(bells, ignore_errors=True)  # a killed `lrs serve` leaves it


def child_pids(data_dir: Path) -> dict[str, int]:
    """Each child's name and pid, from the `processes.json` that `lrs serve` keeps in its data
    directory (a process started from a spare does not say in its command line what it is)."""
    pids: dict[str, int] = json.loads((data_dir / "processes.json").read_text())
    return pids
