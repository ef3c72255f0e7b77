"""What `lrs serve` prints once it is up: the xAPI endpoint, the credential, and where the API
docs, the dashboard and the start page are, with how to log in."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrs.entry.supervisor import announce
from lrs.settings import LrsSettings

BASE = "http://127.0.0.1:8123"


def banner(capsys: pytest.CaptureFixture[str], created: tuple[str, str] | None) -> list[str]:
    announce(LrsSettings(http_host="127.0.0.1", http_port=8123, public_url=None), created)
    return capsys.readouterr().out.splitlines()


def test_banner_names_endpoint_credential_docs_and_dashboard(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = banner(capsys, ("key1", "secret1"))
    assert lines[0] == f"xAPI endpoint: {BASE}/xapi"
    assert lines[1].endswith("key1:secret1")
    docs = [line for line in lines if line.startswith(f"API docs: {BASE}/docs ")]
    dashboard = [line for line in lines if line.startswith(f"dashboard: {BASE}/dashboard ")]
    assert len(docs) == len(dashboard) == 1
    assert "key" in dashboard[0]  # how to log in
    assert "secret" in dashboard[0]
    assert f"start page: {BASE}/" in lines


def test_banner_without_a_new_credential_still_says_where_things_are(
    capsys: pytest.CaptureFixture[str],
) -> None:
    lines = banner(capsys, None)
    assert any(line.startswith(f"API docs: {BASE}/docs") for line in lines)
    assert any(line.startswith(f"dashboard: {BASE}/dashboard") for line in lines)


def test_banner_names_the_broker_and_store_and_hides_a_store_password(
    capsys: pytest.CaptureFixture[str],
) -> None:
    embedded = LrsSettings(kafka_bootstrap=None, mongodb_uri=None)
    resolved = embedded.model_copy(
        update={
            "kafka_bootstrap": "127.0.0.1:9092",
            "mongodb_uri": "mongodb://127.0.0.1:27017/",
            "doorbell_dir": Path("/srv/lrs/bells"),
        }
    )
    announce(embedded, None, resolved)
    lines = capsys.readouterr().out.splitlines()
    assert "broker: 127.0.0.1:9092 (embedded, started by lrs serve)" in lines
    assert "store: mongodb://127.0.0.1:27017/ (embedded, started by lrs serve)" in lines
    assert any(line.startswith("doorbell: /srv/lrs/bells (LRS_DOORBELL_DIR") for line in lines)
    external = LrsSettings(
        kafka_bootstrap="kafka:9092", mongodb_uri="mongodb://lrs:s3cret@db:27017/?authSource=x"
    )
    announce(external, None)
    lines = capsys.readouterr().out.splitlines()
    assert "broker: kafka:9092" in lines
    assert not any(line.startswith("doorbell:") for line in lines)
    assert "store: mongodb://lrs:***@db:27017/?authSource=x" in lines
    assert not any("s3cret" in line for line in lines)
