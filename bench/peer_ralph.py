"""This LRS and Ralph (openfun's LRS, 5.x) side by side, on one SecantusDB store; prints numbers.

Ralph is never a dependency of the project: it is installed into a scratch virtualenv outside
it ($RALPH_VENV, default /tmp/ralph-venv, filled on first use with
`pip install 'ralph-malph[backend-mongo,lrs,cli]>=5,<6' requests`). One embedded store
(SecantusDB, as `lrs serve` starts it) serves both, each in its own database, with the same
write durability (journal=true, as `lrs serve` asks). Then, one after the other so that
neither's idle work weighs on the other:

1. `lrs serve` (embedded broker, that store, LRS_API_WORKERS API processes) driven by
   bench/xapi_load.py's modes;
2. Ralph's LRS (`uvicorn ralph.api:app`, its `async_mongo` backend, Basic auth from an auth
   file written here, as many uvicorn workers) driven by the same modes and workload. Ralph
   reads and checks statement ids on `_source.id`, which it does not index: the index is
   created first (--no-ralph-index leaves Ralph as it comes).

Prints both tables and the ratios (this LRS / Ralph): statements/s, and request latency.

    python bench/peer_ralph.py [--mode batch100x4 ...] [--statements N] [--workers N]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.common import KEY, SECRET, load_average, machine, pct
from bench.xapi_load import DEFAULT_MODES, Outcome, drive, table
from lrs.entry.embedded import free_port, start_and_wait, store_child
from lrs.settings import usable_cores
from tests.support.serve import serve_lrs

# Ralph 5.1's `lrs` extra lacks `requests` (its OIDC module imports it at start) and `ralph
# --version` needs its `cli` extra
RALPH_SPEC = ("ralph-malph[backend-mongo,lrs,cli]>=5,<6", "requests")
RALPH_DATABASE, RALPH_COLLECTION = "ralph", "statements"


def ralph_venv() -> Path:
    """The scratch virtualenv with Ralph, made and filled on first use."""
    venv = Path(os.environ.get("RALPH_VENV", "/tmp/ralph-venv"))
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    check = "import requests, ralph.cli, ralph.backends.lrs.async_mongo"
    found = subprocess.run([str(python), "-c", check], capture_output=True)
    if found.returncode != 0:
        print(f"installing {' '.join(RALPH_SPEC)} into {venv}", flush=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", *RALPH_SPEC], check=True)
    return venv


def auth_file(venv: Path, path: Path) -> Path:
    """Ralph's Basic credentials file: the bench user with every scope (bcrypt hash made with
    Ralph's own bcrypt)."""
    hashed = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import bcrypt, sys; print(bcrypt.hashpw("
            "sys.argv[1].encode(), bcrypt.gensalt()).decode())",
            SECRET,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    user = {
        "agent": {"mbox": "mailto:bench@example.org"},
        "scopes": ["all"],
        "hash": hashed,
        "username": KEY,
    }
    path.write_text(json.dumps([user]))
    return path


@contextlib.contextmanager
def embedded_store(data: Path) -> Iterator[str]:
    """One SecantusDB, as `lrs serve` starts it; its URI with journaled writes."""
    port = free_port()
    store = store_child(port, data / "store", data / "store.log")
    try:
        start_and_wait(store, port)
        yield f"mongodb://127.0.0.1:{port}/?directConnection=true&journal=true"
    finally:
        store.stop()


def index_ralph(uri: str) -> None:
    client: MongoClient[dict[str, Any]]
    with MongoClient(uri) as client:
        client[RALPH_DATABASE][RALPH_COLLECTION].create_index("_source.id")


@contextlib.contextmanager
def ralph(venv: Path, uri: str, workers: int, data: Path) -> Iterator[str]:
    """Ralph's LRS under uvicorn with `workers` processes; yields its xAPI endpoint."""
    port = free_port()
    mongo = {"CONNECTION_URI": uri, "DEFAULT_DATABASE": RALPH_DATABASE}
    mongo["DEFAULT_COLLECTION"] = RALPH_COLLECTION
    env = {
        **os.environ,
        "RALPH_RUNSERVER_BACKEND": "async_mongo",
        "RALPH_AUTH_FILE": str(auth_file(venv, data / "ralph-auth.json")),
        "RALPH_APP_DIR": str(data / "ralph-app"),
        **{f"RALPH_BACKENDS__LRS__MONGO__{k}": v for k, v in mongo.items()},
        **{f"RALPH_BACKENDS__DATA__MONGO__{k}": v for k, v in mongo.items()},
    }
    argv = [str(venv / "bin" / "uvicorn"), "ralph.api:app", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "--workers", str(workers), "--log-level", "warning"]
    argv += ["--no-access-log"]
    with open(data / "ralph.log", "ab") as log:
        process = subprocess.Popen(
            argv, env=env, cwd=data, stdout=log, stderr=log, start_new_session=True
        )
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_answering(f"{base}/__lbheartbeat__", process)
        except SystemExit:
            print((data / "ralph.log").read_text()[-3000:], file=sys.stderr)
            raise
        yield f"{base}/xAPI"
    finally:
        stop_group(process)


def wait_answering(url: str, process: subprocess.Popen[bytes], within: float = 120) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"Ralph exited with {process.returncode} (see its log)")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code == 200:
                return
        time.sleep(0.3)  # polling a condition, with a deadline
    raise SystemExit(f"Ralph did not answer {url} within {within:.0f}s")


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (uvicorn and its workers), SIGKILL after 10 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def ratios(ours: list[Outcome], theirs: list[Outcome]) -> str:
    """This LRS / Ralph, mode by mode: throughput (higher is better for us) and latency
    (lower is better for us)."""
    lines = [f"{'mode':<12}{'st/s ratio':>11}{'p50 ratio':>10}{'p95 ratio':>10}{'p99 ratio':>10}"]
    for a, b in zip(ours, theirs, strict=True):
        lat = [pct(a.latencies, p) / pct(b.latencies, p) for p in (0.5, 0.95, 0.99)]
        rate = a.rate / b.rate if b.rate else float("inf")
        lines.append(f"{a.mode.name:<12}{rate:>11.2f}{lat[0]:>10.2f}{lat[1]:>10.2f}{lat[2]:>10.2f}")
    return "\n".join(lines)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", dest="modes", action="append", help="repeatable")
    parser.add_argument("--statements", type=int, help="per mode (default: by batch size)")
    parser.add_argument("--workers", type=int, default=usable_cores(), help="API processes")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--no-ralph-index", action="store_true")
    parser.add_argument("--only", choices=["lrs", "ralph"], help="drive one side only")
    args = parser.parse_args()
    args.modes = args.modes or list(DEFAULT_MODES)
    args.xapi_version, args.settle = "1.0.3", 60.0
    args.user, args.password = KEY, SECRET
    return args


def main() -> None:
    args = arguments()
    venv = ralph_venv()
    version = subprocess.run(
        [str(venv / "bin" / "ralph"), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    print(f"machine: {machine()}; load average {load_average()}; Ralph: {version}")
    print(f"{args.workers} API processes each; one SecantusDB store, journaled writes")
    results: dict[str, list[Outcome]] = {}
    with tempfile.TemporaryDirectory() as tmp, embedded_store(Path(tmp)) as uri:
        if args.only in (None, "lrs"):
            results["lrs serve"] = drive_lrs(args, uri, Path(tmp))
        if args.only in (None, "ralph"):
            results["ralph"] = drive_ralph(args, venv, uri, Path(tmp))
    print(table(results))
    if len(results) == 2:
        print("this LRS / Ralph (st/s: above 1 is faster; latency: below 1 is faster)")
        print(ratios(results["lrs serve"], results["ralph"]))


def drive_lrs(args: argparse.Namespace, uri: str, tmp: Path) -> list[Outcome]:
    args.run = "ours"
    workers = str(args.workers)
    with serve_lrs(tmp / "lrs", KEY, SECRET, mongodb_uri=uri, api_workers=workers) as (base, _):
        return asyncio.run(drive(f"{base}/xapi", args))


def drive_ralph(args: argparse.Namespace, venv: Path, uri: str, tmp: Path) -> list[Outcome]:
    if not args.no_ralph_index:
        index_ralph(uri)
    args.run = "ralph"
    with ralph(venv, uri, args.workers, tmp) as endpoint:
        return asyncio.run(drive(endpoint, args))


if __name__ == "__main__":
    main()
