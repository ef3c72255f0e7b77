"""One parser for integers in text: limit, Content-Length, Last-Event-ID, dead-letter cursors."""

from __future__ import annotations

import pytest

from lrs.xapi.params import (
    MAX_INT_DIGITS,
    NOT_AN_INTEGER,
    TOO_MANY_DIGITS,
    BoundedIntError,
    bounded_int,
    exceeds,
    parse_bounded_int,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("007", 7),
        ("9" * MAX_INT_DIGITS, 10**MAX_INT_DIGITS - 1),
        ("0" * 10_000, 0),  # found by bench/fuzz.py: int() refuses the zeros too
        ("0" * 5_000 + "42", 42),
    ],
)
def test_short_decimal_integers_are_read(text: str, value: int) -> None:
    assert parse_bounded_int(text) == value
    assert bounded_int(text) == value


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("", NOT_AN_INTEGER),
        ("-1", NOT_AN_INTEGER),
        ("1.5", NOT_AN_INTEGER),
        (" 1", NOT_AN_INTEGER),
        ("\u0663", NOT_AN_INTEGER),  # an Arabic-Indic digit: a digit, not ASCII
        ("1" * (MAX_INT_DIGITS + 1), TOO_MANY_DIGITS),
        ("9" * 5000, TOO_MANY_DIGITS),  # never converted (Python stops at 4,300 digits)
    ],
)
def test_anything_else_is_refused_with_its_rule(text: str, rule: str) -> None:
    with pytest.raises(BoundedIntError) as caught:
        parse_bounded_int(text)
    assert caught.value.rule == rule
    assert bounded_int(text) is None


def test_a_lower_digit_bound_is_kept() -> None:
    assert bounded_int("123", max_digits=3) == 123
    assert bounded_int("1234", max_digits=3) is None
    assert bounded_int(None) is None


@pytest.mark.parametrize(
    ("text", "above"),
    [("100", False), ("0101", True), ("101", True), ("9" * 5000, True), ("x", False), ("", False)],
)
def test_exceeds_compares_numbers_of_any_length(text: str, above: bool) -> None:
    assert exceeds(text, 100) is above
