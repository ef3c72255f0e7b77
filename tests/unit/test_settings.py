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
