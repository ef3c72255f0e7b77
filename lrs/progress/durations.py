"""ISO 8601 durations (xAPI Data 4.6) to seconds, in pure code.

Data 4.6: a Duration uses the ISO 8601:2004(E) 4.4.3.2 format (`PnYnMnDTnHnMnS` or `PnW`), and
precision beyond 0.01 s SHOULD NOT be included in comparisons, so the result is rounded to
hundredths. Nominal units are converted with fixed lengths (a year is 365 days, a month 30 days):
Data 2.3.1 calls exact conversion impossible, and progress only needs a total.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_NUMBER = r"(\d+(?:[.,]\d+)?)"
_DURATION = re.compile(
    rf"^P(?:{_NUMBER}Y)?(?:{_NUMBER}M)?(?:{_NUMBER}D)?"
    rf"(?:T(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?$"
)
_WEEKS = re.compile(rf"^P{_NUMBER}W$")
_DAY = 86_400
_UNIT_SECONDS = (365 * _DAY, 30 * _DAY, _DAY, 3_600, 60, 1)


def duration_seconds(text: str) -> float | None:
    """Seconds in an ISO 8601 duration, rounded to 0.01 s; None when it is not one.

    >>> duration_seconds("PT4H35M59.14S")
    16559.14
    """
    weeks = _WEEKS.match(text)
    if weeks:
        return _rounded(_decimal(weeks.group(1)) * 7 * _DAY)
    match = _DURATION.match(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        return None
    total = sum(
        (
            _decimal(part) * unit
            for part, unit in zip(match.groups(), _UNIT_SECONDS, strict=True)
            if part
        ),
        Decimal(0),
    )
    return _rounded(total)


def _decimal(text: str) -> Decimal:
    try:
        return Decimal(text.replace(",", "."))
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        return Decimal(0)


def _rounded(seconds: Decimal) -> float:
    return float(seconds.quantize(Decimal("0.01")))
