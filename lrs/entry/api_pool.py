"""`lrs api` with LRS_API_WORKERS above 1: that many API processes serving one listening socket
held here, as `lrs serve` runs its API processes (docs/decisions/0010). A dead process is started
again (at most once a second each); SIGTERM / Ctrl-C stops them all as `lrs serve` does."""

from __future__ import annotations

import logging
import os
import secrets
import time

from lrs.entry.embedded import Child, lrs_child
from lrs.entry.supervisor import (
    API_STOP_SECONDS,
    CHECK_INTERVAL,
    QUIET_CHECK_SECONDS,
    StopSignals,
    listening_socket,
    stop_together,
)
from lrs.settings import LrsSettings

log = logging.getLogger("lrs.api")
RESTART_AFTER = 1.0  # a process that keeps dying is started again at most this often


def api_workers(settings: LrsSettings, fd: int) -> list[Child]:
    """`settings.api_workers` children `lrs api --fd FD`, sharing one stream-token secret. With
    LRS_METRICS_PORT set, worker n serves its own /metrics on that port + n - 1 (one port can
    be bound by one process only; Prometheus scrapes each)."""
    secret = settings.stream_token_secret or secrets.token_urlsafe(32)
    argv = ["api", "--fd", str(fd)]
    return [
        lrs_child(f"api-{n}", argv, worker_env(settings, n, secret), None, pass_fds=(fd,))
        for n in range(1, settings.api_workers + 1)
    ]


def worker_env(settings: LrsSettings, n: int, secret: str) -> dict[str, str]:
    env = {"LRS_STREAM_TOKEN_SECRET": secret, "LRS_SUPERVISOR_PID": str(os.getpid())}
    if settings.metrics_port is not None:
        env["LRS_METRICS_PORT"] = str(settings.metrics_port + n - 1)
    return env


def run_api_pool(settings: LrsSettings) -> int:
    stop = StopSignals()
    listener = listening_socket(settings.http_host, settings.http_port)
    workers = api_workers(settings, listener.fileno())
    started: dict[str, float] = {}
    try:
        while not stop.requested:
            for worker in workers:
                if not worker.alive():
                    start_when_due(worker, started)
            all_alive = all(worker.alive() for worker in workers)
            stop.wait(QUIET_CHECK_SECONDS if all_alive else CHECK_INTERVAL)
    finally:
        listener.close()
        stop_together(workers, API_STOP_SECONDS)
        stop.close()
    return 0


def start_when_due(worker: Child, started: dict[str, float]) -> None:
    """Start a worker that is not running, unless it started less than RESTART_AFTER ago."""
    now = time.monotonic()
    if worker.name in started:
        if now - started[worker.name] < RESTART_AFTER:
            return
        log.error("%s exited with %s; starting it again", worker.name, worker.returncode)
    worker.start()
    started[worker.name] = now
