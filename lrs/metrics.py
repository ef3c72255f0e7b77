"""Every Prometheus metric of the LRS, declared once. Labels are bounded: route templates,
methods, status codes, consumer names, partitions and error classes; never an id."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

HTTP_REQUESTS = Counter(
    "lrs_http_requests_total", "HTTP requests answered", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "lrs_http_request_duration_seconds",
    "HTTP request latency",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
STATEMENTS_ACCEPTED = Counter("lrs_statements_accepted_total", "Statements accepted and produced")

CONSUMER_RECORDS = Counter(
    "lrs_consumer_records_total", "Records processed by consumers", ["consumer", "outcome"]
)
CONSUMER_BATCH_LATENCY = Histogram(
    "lrs_consumer_batch_duration_seconds",
    "Time to process one fetched batch, side effects and commit included",
    ["consumer"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
CONSUMER_LAG = Gauge(
    "lrs_consumer_lag_records",
    "Records between the committed position and the high watermark",
    ["consumer", "partition"],
)
DEAD_LETTERED = Counter(
    "lrs_dead_lettered_total",
    "Records a consumer sent to the dead-letter topic of the topic it read",
    ["consumer", "topic", "error_class"],
)
CONSUMER_RETRYING = Gauge(
    "lrs_consumer_retrying",
    "1 while a consumer is retrying a batch after a transient failure (store or broker"
    " unreachable), 0 otherwise",
    ["consumer"],
)
CONSUMER_TRANSIENT_FAILURES = Counter(
    "lrs_consumer_transient_failures_total",
    "Batches a consumer rewound and retried after a transient failure",
    ["consumer", "error_class"],
)
CONSUMER_ISOLATIONS = Counter(
    "lrs_consumer_isolations_total",
    "Batches whose handler failed deterministically and were split to find the failing records",
    ["consumer", "error_class"],
)
# Statement conflicts are the persister's dead letters with error_class StatementConflict
# (DEAD_LETTERED): counted once per dead letter, not once per handler run (the runner may run
# a batch several times before it dead-letters the conflicting record).


def exposition() -> tuple[bytes, str]:
    """The metrics of this process in Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


DOCUMENT_EVENTS_FAILED = Counter(
    "lrs_document_events_failed_total",
    "Document changes written to the store whose change event could not be published",
)


class RestartLog:
    """How many times `lrs serve` restarted each of its processes, in a small JSON file it
    rewrites (atomically) on every restart; its children read it for /metrics."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.counts: dict[str, int] = {}

    def reset(self, names: Iterable[str]) -> None:
        self.counts = dict.fromkeys(names, 0)
        self._write()

    def add(self, name: str) -> int:
        self.counts[name] = self.counts.get(name, 0) + 1
        self._write()
        return self.counts[name]

    def _write(self) -> None:
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.counts))
        os.replace(partial, self.path)


class RestartsCollector(Collector):
    """`lrs_process_restarts_total{process}`, read from `lrs serve`'s restart file at each
    scrape (every process of `lrs serve` shows the counts of all of them)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "lrs_process_restarts",
            "Times `lrs serve` restarted each of its processes after it died",
            labels=["process"],
        )
        counts: dict[str, int] = {}
        with contextlib.suppress(OSError, ValueError):
            counts = json.loads(self.path.read_text())
        for name, count in sorted(counts.items()):
            family.add_metric([name], count)
        yield family


def expose_restarts(path: Path | None) -> None:
    """Serve `lrs serve`'s restart counts on this process's /metrics (no-op without a file)."""
    if path is not None:
        REGISTRY.register(RestartsCollector(path))
