"""`lrs serve`'s restart counts: written by the supervisor, read at each /metrics scrape."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from lrs.metrics import RestartLog, RestartsCollector


def scrape(path: Path) -> str:
    registry = CollectorRegistry()
    registry.register(RestartsCollector(path))
    return generate_latest(registry).decode()


def test_counts_start_at_zero_and_grow_per_process(tmp_path: Path) -> None:
    log = RestartLog(tmp_path / "restarts.json")
    log.reset(["persist", "api-1"])
    assert 'lrs_process_restarts_total{process="persist"} 0.0' in scrape(log.path)
    assert log.add("persist") == 1
    assert log.add("persist") == 2
    text = scrape(log.path)
    assert 'lrs_process_restarts_total{process="persist"} 2.0' in text
    assert 'lrs_process_restarts_total{process="api-1"} 0.0' in text


def test_no_file_yet_means_no_counts(tmp_path: Path) -> None:
    assert "lrs_process_restarts_total{" not in scrape(tmp_path / "missing.json")
