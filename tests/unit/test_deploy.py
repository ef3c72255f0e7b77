"""The production description matches the code: every LRS_* variable in docker-compose.yml is a
setting the code reads, the services run commands that exist, every image is pinned to an exact
version, deploy/kafka/topics.yaml names exactly the topics the code creates, with the same
retention and compaction, and the Grafana dashboard and the alert rules name only metrics the
LRS exports. LRS_METRICS_PORT serves the API's metrics on their own port."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from prometheus_client import REGISTRY

from lrs import metrics
from lrs.adapters.memory import InMemoryAttachmentStore, InMemoryEventBus, InMemoryStatementStore
from lrs.api.app import create_app
from lrs.entry.cli import _parser
from lrs.entry.embedded import free_port
from lrs.ports.credentials import Principal
from lrs.services.ingest import IngestDeps, ingest
from lrs.settings import LrsSettings
from lrs.topics import topic_specs
from lrs.xapi.errors import Unavailable
from tests.support.adapters import app_adapters

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def lrs_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if svc.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def test_compose_has_the_production_parts(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "--replSet" in services["mongo"]["command"]
    assert {"lrs-api", "lrs-consumer-persist", "topics"} <= set(lrs_services(compose))
    assert (ROOT / "deploy" / "Dockerfile").is_file()


def test_every_lrs_variable_is_a_setting(compose: dict[str, Any]) -> None:
    fields = {f"LRS_{name.upper()}" for name in LrsSettings.model_fields}
    for name, service in lrs_services(compose).items():
        env = service["environment"]
        unknown = {k for k in env if k.startswith("LRS_")} - fields
        assert not unknown, f"{name} sets variables the code never reads: {unknown}"
        settings = LrsSettings(**{k[4:].lower(): v for k, v in env.items()})
        assert settings.kafka_bootstrap == "kafka:9092"
        assert str(settings.mongodb_uri).startswith("mongodb://mongo:27017")


def test_services_run_existing_commands(compose: dict[str, Any]) -> None:
    parser = _parser()
    for service in lrs_services(compose).values():
        parser.parse_args(service["command"])  # exits (fails the test) on an unknown command


def test_metrics_ports_match_prometheus(compose: dict[str, Any]) -> None:
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    targets = {
        t
        for job in prometheus["scrape_configs"]
        for s in job["static_configs"]
        for t in s["targets"]
    }
    api = compose["services"]["lrs-api"]["environment"]
    persist = compose["services"]["lrs-consumer-persist"]["environment"]
    assert f"lrs-api:{api['LRS_METRICS_PORT']}" in targets
    assert f"{api['LRS_METRICS_PORT']}:" not in str(compose["services"]["lrs-api"]["ports"])
    assert f"lrs-consumer-persist:{persist['LRS_CONSUMER_METRICS_PORT']}" in targets


def test_topics_yaml_matches_code(compose: dict[str, Any]) -> None:
    documented = yaml.safe_load((ROOT / "deploy/kafka/topics.yaml").read_text())["topics"]
    partitions = int(compose["x-lrs-env"]["LRS_STATEMENT_PARTITIONS"])
    created = {s.name: s for s in topic_specs("", partitions)}
    assert {t["name"] for t in documented} == set(created)
    for topic in documented:
        spec = created[topic["name"]]
        assert topic["partitions"] == spec.partitions
        assert {k: str(v) for k, v in topic["config"].items()} == spec.config


# An exact version: at least major.minor.patch (a leading "v" allowed), never a floating tag.
PINNED = re.compile(r"^[\w.\-/]+:v?\d+\.\d+\.\d+(-[\w.]+)?$")


def test_every_image_is_pinned(compose: dict[str, Any]) -> None:
    images = [svc["image"] for svc in compose["services"].values() if "image" in svc]
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    images += re.findall(r"^FROM\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert len(images) >= 5
    floating = [image for image in images if not PINNED.match(image)]
    assert not floating, f"images without an exact version: {floating}"


def test_mounted_files_exist(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts {source}, which does not exist"


def test_compose_creates_a_first_credential(compose: dict[str, Any]) -> None:
    """`lrs api` creates the credential LRS_BOOTSTRAP_KEY / _SECRET name (lrs/entry/bootstrap.py);
    compose refuses to start without a secret rather than inventing a known one."""
    env = compose["services"]["lrs-api"]["environment"]
    assert env["LRS_BOOTSTRAP_KEY"]
    assert env["LRS_BOOTSTRAP_SECRET"].startswith("${LRS_BOOTSTRAP_SECRET:?")


# Prometheus' own series (not exported by the LRS) that alerts may name.
PROMETHEUS_SERIES = {"up"}
# Declared by another branch of the same change (lrs serve's supervisor counts the restarts of
# its children); allowed until then, and simply declared afterwards.
# Exported only by the processes of `lrs serve` (lrs/metrics.py RestartsCollector, one per
# process, registered at start-up): named here from the collector itself.
SERVE_ONLY = {family.name for family in metrics.RestartsCollector(Path("absent")).collect()}
SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")
# PromQL functions, aggregations and keywords: every other identifier is a metric name.
PROMQL = {
    "abs", "absent", "and", "avg", "avg_over_time", "bool", "bottomk", "by", "changes",
    "clamp_min", "count", "delta", "deriv", "group_left", "group_right", "histogram_quantile",
    "ignoring", "increase", "irate", "label_replace", "max", "max_over_time", "min",
    "min_over_time", "offset", "on", "or", "predict_linear", "quantile", "rate", "resets",
    "sum", "sum_over_time", "time", "topk", "unless", "vector", "without",
}  # fmt: skip


def base_name(name: str) -> str:
    for suffix in SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def exported_metrics() -> set[str]:
    """The base name of every metric family GET /metrics exports (lrs/metrics.py's, and the
    process and platform ones of prometheus_client)."""
    body, _ = metrics.exposition()
    return {
        base_name(line.split()[2])
        for line in body.decode().splitlines()
        if line.startswith("# TYPE ")
    }


def metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression: what is left once label matchers, strings,
    groupings, ranges, Grafana variables, numbers and PromQL's own words are taken out."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\$\w+", "", expr)
    words = set(re.findall(r"[A-Za-z_:][\w:]*", expr))
    return {w for w in words if w not in PROMQL and not re.fullmatch(r"\d*e\d*", w)}


def unknown_metrics(expressions: list[str], allowed: set[str]) -> dict[str, set[str]]:
    known = exported_metrics() | SERVE_ONLY | allowed
    unknown = {e: {n for n in metric_names(e) if base_name(n) not in known} for e in expressions}
    return {e: names for e, names in unknown.items() if names}


def test_metric_name_extraction_finds_unknown_names() -> None:
    """The check below can fail: a misspelt metric is reported, a real one is not."""
    expr = 'sum by (le) (rate(lrs_http_request_duration_seconds_bucket{route="/x"}[5m])) / lrs_typo'
    assert metric_names(expr) == {"lrs_http_request_duration_seconds_bucket", "lrs_typo"}
    assert unknown_metrics([expr], set()) == {expr: {"lrs_typo"}}


def grafana_dashboards() -> Iterator[tuple[Path, dict[str, Any]]]:
    for path in sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json")):
        yield path, json.loads(path.read_text())


def test_grafana_dashboards_name_only_exported_metrics() -> None:
    dashboards = list(grafana_dashboards())
    assert dashboards, "no dashboard under deploy/grafana/dashboards"
    for path, dashboard in dashboards:
        expressions = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
        assert expressions, f"{path.name} queries nothing"
        assert not unknown_metrics(expressions, PROMETHEUS_SERIES), path.name


def test_grafana_dashboard_covers_operations() -> None:
    titles = {p["title"] for _, d in grafana_dashboards() for p in d["panels"]}
    wanted = {
        "Ingest rate",
        "Request latency by route (p95)",
        "4xx and 5xx answers",
        "Acknowledgement timeouts",
        "Consumer lag",
        "Dead letters",
        "Progress latency",
        "Process restarts",
    }
    assert wanted <= titles


def test_grafana_is_provisioned(compose: dict[str, Any]) -> None:
    provisioning = ROOT / "deploy" / "grafana" / "provisioning"
    datasources = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    providers = yaml.safe_load((provisioning / "dashboards" / "lrs.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
    assert mounts["./deploy/grafana/dashboards"] == providers["providers"][0]["options"]["path"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    uids = {d["uid"] for d in datasources["datasources"]}
    for _, dashboard in grafana_dashboards():
        assert {p["datasource"]["uid"] for p in dashboard["panels"]} <= uids


def test_alert_rules_name_only_exported_metrics(compose: dict[str, Any]) -> None:
    prometheus = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    mounts = dict(v.split(":")[:2] for v in compose["services"]["prometheus"]["volumes"])
    assert prometheus["rule_files"] == [mounts["./deploy/prometheus/alerts.yml"]]
    rules = [
        rule
        for group in yaml.safe_load((ROOT / "deploy/prometheus/alerts.yml").read_text())["groups"]
        for rule in group["rules"]
    ]
    assert {
        "LrsConsumerLagGrowing",
        "LrsDeadLetters",
        "LrsHigh5xxRate",
        "LrsAckTimeouts",
        "LrsConsumerDown",
    } <= {r["alert"] for r in rules}
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
    assert not unknown_metrics([r["expr"] for r in rules], PROMETHEUS_SERIES)


def test_consumer_counters_are_zero_from_the_start() -> None:
    metrics.consumer_started("test-zero")
    body = metrics.exposition()[0].decode()
    for outcome in metrics.CONSUMER_OUTCOMES:
        line = f'lrs_consumer_records_total{{consumer="test-zero",outcome="{outcome}"}} 0.0'
        assert line in body
    assert 'lrs_consumer_retrying{consumer="test-zero"} 0.0' in body
    assert re.search(r"^lrs_ack_timeouts_total \d", body, re.MULTILINE)  # exported before any


async def test_an_acknowledgement_timeout_is_counted() -> None:
    """What LrsAckTimeouts alerts on: statements the persister did not store in time."""
    deps = IngestDeps(
        store=InMemoryStatementStore(),
        bus=InMemoryEventBus(),  # no persister behind it: nothing is ever stored
        attachments=InMemoryAttachmentStore(),
        clock=lambda: datetime.now(UTC),
        new_id=lambda: str(uuid.uuid4()),
        topic="xapi.statements",
        ack_mode="stored",
        ack_timeout=0.05,
    )
    who = Principal("default", "k", frozenset({"all"}), {"mbox": "mailto:lrs@example.org"})
    statement = {
        "actor": {"mbox": "mailto:ada@example.org"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"id": "https://example.org/course/1"},
    }
    before = REGISTRY.get_sample_value("lrs_ack_timeouts_total")
    with pytest.raises(Unavailable):
        await ingest([statement], who, "2.0.0", deps)
    assert REGISTRY.get_sample_value("lrs_ack_timeouts_total") == (before or 0) + 1


@asynccontextmanager
async def api_with_metrics_apart() -> AsyncIterator[tuple[str, str]]:
    """The app under uvicorn with LRS_METRICS_PORT set: (API URL, metrics URL)."""
    port, metrics_port = free_port(), free_port()
    settings = LrsSettings(http_port=port, metrics_port=metrics_port)
    app = create_app(settings, adapters=app_adapters())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    serving = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        assert not serving.done(), "uvicorn stopped"
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 10)


async def test_metrics_port_serves_the_metrics_apart() -> None:
    async with (
        api_with_metrics_apart() as (api, apart),
        httpx.AsyncClient(timeout=10) as client,
    ):
        assert (await client.get(f"{api}/healthz")).status_code == 200
        on_api = await client.get(f"{api}/metrics")
        served = await client.get(f"{apart}/metrics")
    assert on_api.status_code == 404
    assert served.status_code == 200
    assert 'lrs_http_requests_total{method="GET",route="/healthz",status="200"}' in served.text
    assert re.search(r"^lrs_ack_timeouts_total \d", served.text, re.MULTILINE)
    async with httpx.AsyncClient(timeout=5) as client:
        with pytest.raises(httpx.ConnectError):  # closed with the app
            await client.get(f"{apart}/metrics")
