"""`lrs api` with several workers: each its own metrics port, one stream-token secret."""

from __future__ import annotations

import os

from lrs.entry.api_pool import api_workers
from lrs.settings import LrsSettings


def test_each_worker_serves_its_metrics_on_its_own_port() -> None:
    settings = LrsSettings(api_workers=3, metrics_port=9100)
    workers = api_workers(settings, fd=7)
    assert [w.env["LRS_METRICS_PORT"] for w in workers] == ["9100", "9101", "9102"]
    assert len({w.env["LRS_STREAM_TOKEN_SECRET"] for w in workers}) == 1


def test_without_a_metrics_port_the_workers_serve_metrics_on_the_api_port() -> None:
    workers = api_workers(LrsSettings(api_workers=2), fd=7)
    assert all("LRS_METRICS_PORT" not in w.env for w in workers)
    assert [w.name for w in workers] == ["api-1", "api-2"]


def test_the_workers_know_their_supervisor_and_stop_without_it() -> None:
    workers = api_workers(LrsSettings(api_workers=2), fd=7)
    assert {w.env["LRS_SUPERVISOR_PID"] for w in workers} == {str(os.getpid())}
