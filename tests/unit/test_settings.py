"""Settings that contradict each other refuse to start."""

from __future__ import annotations

import os
from typing import Any

import pytest
from pydantic import ValidationError

from lrs.settings import LrsSettings, usable_cores


def test_an_activity_definition_bound_below_one_statement_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"LRS_MAX_DEFINITION_BYTES .* at least"):
        LrsSettings(max_statement_bytes=2048, max_definition_bytes=1024)


def test_a_definition_bound_of_at_least_one_statement_is_accepted() -> None:
    settings = LrsSettings(max_statement_bytes=2048, max_definition_bytes=2048)
    assert settings.max_definition_bytes == settings.max_statement_bytes


@pytest.mark.parametrize(
    ("busy", "idle"),
    [
        ("consumer_ack_fetch_wait_ms", "consumer_idle_fetch_wait_ms"),
        ("consumer_fetch_wait_ms", "consumer_idle_fetch_wait_ms"),
        ("consumer_background_fetch_wait_ms", "consumer_background_idle_fetch_wait_ms"),
    ],
)
def test_a_busy_fetch_wait_above_the_idle_one_is_refused(busy: str, idle: str) -> None:
    refused: dict[str, Any] = {busy: 900, idle: 800}
    with pytest.raises(ValidationError, match=f"{busy.upper()} .* must not exceed"):
        LrsSettings(**refused)
    equal: dict[str, Any] = {busy: 800, idle: 800}
    settings = LrsSettings(**equal)
    assert getattr(settings, busy) == getattr(settings, idle) == 800


def test_auth_revalidation_beyond_four_seconds_is_refused() -> None:
    """Revocation must reach every API process within 5 s (docs/decisions/0005)."""
    with pytest.raises(ValidationError, match="auth_revalidate_seconds"):
        LrsSettings(auth_revalidate_seconds=4.5)
    assert LrsSettings(auth_revalidate_seconds=4).auth_revalidate_seconds == 4


def test_auth_and_profile_settings_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LRS_AUTH_FAILURE_BUDGET", "25")
    monkeypatch.setenv("LRS_ALLOW_UNCONDITIONAL_PROFILE_CREATE", "true")
    settings = LrsSettings()
    assert settings.auth_failure_budget == 25
    assert settings.allow_unconditional_profile_create is True
    assert LrsSettings.model_fields["allow_unconditional_profile_create"].default is False


def test_api_workers_default_to_the_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LRS_API_WORKERS", raising=False)
    monkeypatch.delenv("LRS_SERVE_API_PROCESSES", raising=False)
    monkeypatch.setattr("lrs.settings.usable_cores", lambda: 7)
    assert LrsSettings().api_workers == 7


def test_usable_cores_are_those_this_process_may_run_on() -> None:
    assert usable_cores() == len(os.sched_getaffinity(0)) >= 1


def test_api_workers_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LRS_API_WORKERS", "3")
    assert LrsSettings().api_workers == 3
    monkeypatch.setenv("LRS_API_WORKERS", "0")
    with pytest.raises(ValidationError, match="api_workers"):
        LrsSettings()


def test_the_old_serve_api_processes_name_still_sets_the_api_workers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LRS_API_WORKERS", raising=False)
    monkeypatch.setenv("LRS_SERVE_API_PROCESSES", "5")
    assert LrsSettings().api_workers == 5
    monkeypatch.setenv("LRS_API_WORKERS", "4")  # the new name wins
    assert LrsSettings().api_workers == 4
