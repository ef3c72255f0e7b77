"""What `lrs serve` prints once it is up: the xAPI endpoint, the credential, and where the API
docs, the dashboard and the start page are, with how to log in."""

from __future__ import annotations

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
