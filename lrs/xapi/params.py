"""Bounded integers in text (query parameters, headers, cursors): one parser for all.

A number given as text is converted only when it is short: Python refuses to convert more than
4,300 digits, and no count, offset or size this LRS reads needs more than 18 (every such number
fits a signed 64-bit integer, as Kafka offsets and store counts are).

Pure: no FastAPI, Kafka or MongoDB.
"""

from __future__ import annotations

MAX_INT_DIGITS = 18
NOT_AN_INTEGER = "non-negative-integer"
TOO_MANY_DIGITS = "integer-size"


class BoundedIntError(ValueError):
    """`text` is no bounded integer; `rule` says why (NOT_AN_INTEGER or TOO_MANY_DIGITS)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def parse_bounded_int(text: str, max_digits: int = MAX_INT_DIGITS) -> int:
    """`text` as a non-negative decimal integer: ASCII digits only, at most `max_digits` of
    them after leading zeros. Raises BoundedIntError otherwise, before converting anything."""
    if not (text.isascii() and text.isdigit()):
        raise BoundedIntError(NOT_AN_INTEGER, f"must be a non-negative integer, not {text[:40]!r}")
    significant = text.lstrip("0")
    if len(significant) > max_digits:
        raise BoundedIntError(TOO_MANY_DIGITS, f"must have at most {max_digits} digits")
    return int(significant or "0")  # int() itself refuses over 4,300 digits, zeros included


def bounded_int(text: str | None, max_digits: int = MAX_INT_DIGITS) -> int | None:
    """`parse_bounded_int`, or None when `text` is missing or no bounded integer."""
    if text is None:
        return None
    try:
        return parse_bounded_int(text, max_digits)
    except BoundedIntError:
        return None


def exceeds(text: str, limit: int) -> bool:
    """Whether `text`, a decimal integer of any length, is larger than `limit` (at most
    MAX_INT_DIGITS digits); False when `text` is no integer at all."""
    try:
        return parse_bounded_int(text) > limit
    except BoundedIntError as exc:
        return exc.rule == TOO_MANY_DIGITS
