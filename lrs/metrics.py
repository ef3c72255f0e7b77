"""Every Prometheus metric of the LRS, declared once. Labels are bounded: route templates,
methods, status codes, consumer and task names, partitions and error classes; never an id.

A counter that can be zero is exported as zero from the process's start: those without labels
by prometheus_client itself, a consumer's by `consumer_started` (its bounded label values), so
that an alert on `increase(...)` sees the first event too. deploy/grafana and
deploy/prometheus/alerts.yml use these names (tests/unit/test_deploy.py checks them).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
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
STATEMENTS_ACCEPTED = Counter(
    "lrs_statements_accepted_total",
    "Statements accepted and produced (a re-send of one the LRS holds is not counted again)",
)
ACK_TIMEOUTS = Counter(
    "lrs_ack_timeouts_total",
    "POST/PUT statement requests answered 503 because the broker had the statements but the"
    " persister had not stored them within LRS_ACK_TIMEOUT_SECONDS (LRS_ACK_MODE=stored)",
)

CONSUMER_RECORDS = Counter(
    "lrs_consumer_records_total", "Records processed by consumers", ["consumer", "outcome"]
)
CONSUMER_OUTCOMES = ("ok", "dead_lettered", "skipped")
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
TEAM_RECOMPUTATIONS = Counter(
    "lrs_team_recomputations_total",
    "Teams recomputed by team-progress, by what it read of their members: `all` (every member's"
    " stored progress) or `changed` (only the members the triggers named; the others' summaries"
    " it held from before, docs/decisions/0033)",
    ["read"],
)
ORGANISATION_RECOMPUTATIONS = Counter(
    "lrs_organisation_recomputations_total",
    "Tenants' organisation progress recomputed by organisation-progress, by what it read of the"
    " learners: `all` (every learner's stored progress) or `changed` (only the learners the"
    " triggers named; the others' figures it held from before, docs/decisions/0034)",
    ["read"],
)
BACKGROUND_TASK_FAILURES = Counter(
    "lrs_background_task_failures_total",
    "Failures of a long-running loop: a session of an API background task (the feed of"
    " progress and stored statements) that ended and is restarted (cause outage or"
    " unexpected), or a consumer loop's failure outside any record that is not transient"
    " (cause unexpected)",
    ["task", "cause"],
)
PROGRESS_FEED_FOLLOWING = Gauge(
    "lrs_progress_feed_following",
    "1 while this API process's feed fetches the progress topics of a kind (a stream watching"
    " that kind is open in it, or closed less than 30 s ago), 0 while it has them paused"
    " (docs/decisions/0035); 1 also for a kind the feed reads no topic of",
    ["kind"],
)
# Statement conflicts are the persister's dead letters with error_class StatementConflict
# (DEAD_LETTERED): counted once per dead letter, not once per handler run (the runner may run
# a batch several times before it dead-letters the conflicting record).


def exposition() -> tuple[bytes, str]:
    """The metrics of this process in Prometheus text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


SERVER_ERRORS = ("500", "503")
_ROUTES_SEEN: set[tuple[str, str]] = set()  # bounded: the app's routes times their methods


def http_answered(route: str, method: str, status: int, seconds: float) -> None:
    """One answered request. A route's 500 and 503 counts are exported (at zero) from its
    first request on, so that an alert on the rate of server errors has a series to read
    before the first one (a series that appears with its first error hides it from `rate()`)."""
    if (route, method) not in _ROUTES_SEEN:
        _ROUTES_SEEN.add((route, method))
        for error in SERVER_ERRORS:
            HTTP_REQUESTS.labels(route, method, error)
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_LATENCY.labels(route, method).observe(seconds)


def consumer_started(name: str) -> None:
    """Export a consumer's counters as zero (every outcome) and its retry gauge as 0 from its
    start, before its first record."""
    for outcome in CONSUMER_OUTCOMES:
        CONSUMER_RECORDS.labels(name, outcome)
    CONSUMER_RETRYING.labels(name).set(0)


@contextmanager
def served_apart(host: str, port: int | None) -> Iterator[None]:
    """While inside: this process's metrics on their own port (LRS_METRICS_PORT), served by
    prometheus_client in a thread, so that the API's port need not expose them. Nothing when
    `port` is None (the API serves GET /metrics itself)."""
    if port is None:
        yield
        return
    server, thread = start_http_server(port, addr=host)
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


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
