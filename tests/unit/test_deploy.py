"""The production description matches the code: every LRS_* variable in docker-compose.yml is a
setting the code reads, the services run commands that exist, and deploy/kafka/topics.yaml
names exactly the topics the code creates, with the same retention and compaction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from lrs.cli import _parser
from lrs.settings import LrsSettings
from lrs.topics import topic_specs

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
    assert f"lrs-api:{api['LRS_HTTP_PORT']}" in targets
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
