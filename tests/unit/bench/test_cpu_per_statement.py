"""The pure parts of bench/cpu_per_statement.py: CPU seconds from /proc/PID/stat, and records
and lag from a consumer's Prometheus text."""

from __future__ import annotations

import os
from pathlib import Path

from bench.cpu_per_statement import TICKS, consumer_metrics, cpu_seconds


def test_cpu_seconds_are_utime_plus_stime_even_with_spaces_in_the_name() -> None:
    rest = " ".join(["S", "1", "1", "1", "0", "-1", "0", "0", "0", "0", "0", "250", "50"])
    assert cpu_seconds(f"42 (a (b) c) {rest} 0 0 20 0") == 300 / TICKS


def test_cpu_seconds_of_this_process_grow_as_it_works() -> None:
    stat = Path(f"/proc/{os.getpid()}/stat")
    before = cpu_seconds(stat.read_text())
    deadline = os.times().user + 0.05
    while os.times().user < deadline:
        pass
    assert cpu_seconds(stat.read_text()) > before


def test_consumer_metrics_add_ok_records_and_every_partitions_lag() -> None:
    text = "\n".join(
        [
            "# HELP lrs_consumer_records_total Records processed by consumers",
            'lrs_consumer_records_total{consumer="progress",outcome="ok"} 1500.0',
            'lrs_consumer_records_total{consumer="progress",outcome="skipped"} 7.0',
            'lrs_consumer_lag_records{consumer="progress",partition="0"} 3.0',
            'lrs_consumer_lag_records{consumer="progress",partition="1"} 4.0',
            'lrs_consumer_batch_duration_seconds_count{consumer="progress"} 9.0',
        ]
    )
    assert consumer_metrics(text) == (1500.0, 7.0)
    assert consumer_metrics("") == (0.0, 0.0)
