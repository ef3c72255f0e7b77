"""ISO 8601 durations (xAPI Data 4.6) to seconds."""

from __future__ import annotations

import pytest

from lrs.progress.durations import duration_seconds


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT4H35M59.14S", 16559.14),  # Data 4.6 examples
        ("PT16559.14S", 16559.14),
        ("P4W", 4 * 7 * 86400),
        ("P3Y", 3 * 365 * 86400),
        ("P3Y1M29DT4H35M59.14S", 3 * 365 * 86400 + 30 * 86400 + 29 * 86400 + 16559.14),
        ("PT12M30S", 750),
        ("PT1234S", 1234),
        ("PT1H0M0S", 3600),
        ("P1D", 86400),
        ("PT0S", 0),
        ("PT0.5S", 0.5),
        ("PT1,5S", 1.5),
        ("PT1.23456S", 1.23),  # Data 4.6: beyond 0.01 s is not significant
        ("P1DT1M", 86460),
    ],
)
def test_valid_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == pytest.approx(seconds, abs=1e-9)


@pytest.mark.parametrize(
    "text", ["", "P", "PT", "P1DT", "1H", "PT1H30", "P1W1D", "PT-5S", "P1.5.5D", "pt5s", "T5S"]
)
def test_invalid_durations(text: str) -> None:
    assert duration_seconds(text) is None
