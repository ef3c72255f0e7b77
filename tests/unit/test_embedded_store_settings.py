"""`lrs serve` starts the embedded store with the configured cache and tells its children to
check the store by polling (docs/decisions/0021)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lrs.entry import supervisor
from lrs.entry.embedded import Child, store_child
from lrs.settings import LrsSettings


def test_the_store_gets_the_cache_size_asked_for(tmp_path: Path) -> None:
    argv = list(store_child(27017, tmp_path / "store", cache_mb=256).argv)
    assert argv[argv.index("--cache-size") + 1] == "256M"
    assert "--cache-size" not in store_child(27017, tmp_path / "plain").argv


def test_serve_starts_the_store_with_the_setting_and_a_polling_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: dict[str, Any] = {}

    def fake_store_child(
        port: int, data_dir: Path, log_path: Path | None = None, cache_mb: int | None = None
    ) -> Child:
        started["cache_mb"] = cache_mb
        return Child("store", ["true"])

    monkeypatch.setattr(supervisor, "store_child", fake_store_child)
    monkeypatch.setattr(supervisor, "start_and_wait", lambda child, port: None)
    settings = LrsSettings(
        data_dir=tmp_path, kafka_bootstrap="127.0.0.1:9", embedded_store_cache_mb=300
    )
    stack = supervisor.Stack(settings)
    stack.start_parts()
    assert started["cache_mb"] == 300
    uri = stack.env["LRS_MONGODB_URI"]
    assert "serverMonitoringMode=poll" in uri
    assert "journal=true" in uri
