"""The pure parts of bench/cpu_per_statement.py: records and lag from a consumer's Prometheus
text."""

from __future__ import annotations

from bench.cpu_per_statement import consumer_metrics


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
