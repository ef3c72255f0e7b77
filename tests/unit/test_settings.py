"""Settings that contradict each other refuse to start."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lrs.settings import LrsSettings


def test_an_activity_definition_bound_below_one_statement_is_refused() -> None:
    with pytest.raises(ValidationError, match=r"LRS_MAX_DEFINITION_BYTES .* at least"):
        LrsSettings(max_statement_bytes=2048, max_definition_bytes=1024)


def test_a_definition_bound_of_at_least_one_statement_is_accepted() -> None:
    settings = LrsSettings(max_statement_bytes=2048, max_definition_bytes=2048)
    assert settings.max_definition_bytes == settings.max_statement_bytes


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
