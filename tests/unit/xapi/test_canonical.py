"""What the LRS sets on an accepted statement (xAPI Data 2.4): id, stored, timestamp, authority,
version, and the xAPI 2.0 conversion of timestamps to UTC."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from lrs.xapi.canonical import canonicalize
from lrs.xapi.versions import V1, V2

STORED = datetime(2026, 11, 23, 3, 10, 0, 123456, tzinfo=UTC)
STORED_TEXT = "2026-11-23T03:10:00.123Z"
GENERATED_ID = "0c5a6e1e-7f0a-4b43-9f1e-7d1bb1e8a111"
GIVEN_ID = "6F2D4A1C-3B5E-4C7D-8E9F-0A1B2C3D4E5F"
AUTHORITY = {
    "objectType": "Agent",
    "name": "key1",
    "account": {"homePage": "https://lrs.example.com", "name": "key1"},
}


def statement(**extra: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "actor": {"objectType": "Agent", "mbox": "mailto:learner@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/completed"},
        "object": {"objectType": "Activity", "id": "http://example.com/activities/course"},
    }
    base.update(extra)
    return base


class IdFactory:
    """An id factory that counts its calls."""

    def __init__(self, value: str = GENERATED_ID) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.value


def run(
    raw: dict[str, Any],
    *,
    spec_version: str = V1,
    new_id: IdFactory | None = None,
    stored: datetime = STORED,
) -> dict[str, Any]:
    return canonicalize(
        raw,
        authority=AUTHORITY,
        stored=stored,
        new_id=new_id or IdFactory(),
        spec_version=spec_version,
    )


# --- id (Data 2.4.1) ------------------------------------------------------------------------------


def test_id_is_generated_when_absent() -> None:
    factory = IdFactory()
    result = run(statement(), new_id=factory)
    assert result["id"] == GENERATED_ID
    assert factory.calls == 1


def test_given_id_is_kept_lower_cased_and_factory_not_called() -> None:
    factory = IdFactory()
    result = run(statement(id=GIVEN_ID), new_id=factory)
    assert result["id"] == GIVEN_ID.lower()
    assert factory.calls == 0


# --- stored (Data 2.4.8) --------------------------------------------------------------------------


@pytest.mark.parametrize("received", [None, "2001-01-01T00:00:00.000Z"])
def test_stored_is_always_set_by_the_lrs(received: str | None) -> None:
    raw = statement() if received is None else statement(stored=received)
    assert run(raw)["stored"] == STORED_TEXT


def test_stored_is_written_in_utc_with_milliseconds() -> None:
    local = STORED.astimezone(timezone(timedelta(hours=-7)))
    assert run(statement(), stored=local)["stored"] == STORED_TEXT


# --- timestamp (Data 2.4.7) -----------------------------------------------------------------------


@pytest.mark.parametrize("spec_version", [V1, V2])
def test_timestamp_defaults_to_stored(spec_version: str) -> None:
    result = run(statement(), spec_version=spec_version)
    assert result["timestamp"] == result["stored"] == STORED_TEXT


def test_given_timestamp_is_kept_verbatim_under_1_0_3() -> None:
    given = "2024-05-01T12:00:00.5+02:00"
    assert run(statement(timestamp=given), spec_version=V1)["timestamp"] == given


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2024-05-01T12:00:00+02:00", "2024-05-01T10:00:00Z"),
        ("2024-05-01T01:15:00.250-05:30", "2024-05-01T06:45:00.250000Z"),
        ("2024-05-01T00:30:00+01:00", "2024-04-30T23:30:00Z"),
        ("2024-05-01T10:00:00Z", "2024-05-01T10:00:00Z"),
        ("2024-05-01T10:00:00", "2024-05-01T10:00:00Z"),
    ],
)
def test_timestamp_is_converted_to_utc_under_2_0(given: str, expected: str) -> None:
    assert run(statement(timestamp=given), spec_version=V2)["timestamp"] == expected


# --- authority (Data 2.4.9) -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "received",
    [None, {"objectType": "Agent", "mbox": "mailto:impostor@example.com"}],
)
def test_authority_is_overwritten_from_the_credential(received: dict[str, Any] | None) -> None:
    raw = statement() if received is None else statement(authority=received)
    result = run(raw)
    assert result["authority"] == AUTHORITY
    assert result["authority"] is not AUTHORITY


# --- version (Data 2.4.10) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec_version", "expected"),
    [(V1, "1.0.0"), (V2, "2.0.0")],
)
def test_version_defaults_by_spec_version(spec_version: str, expected: str) -> None:
    assert run(statement(), spec_version=spec_version)["version"] == expected


@pytest.mark.parametrize("given", ["1.0.0", "1.0.1", "1.0.2", "1.0.3"])
def test_given_version_is_retained(given: str) -> None:
    assert run(statement(version=given), spec_version=V1)["version"] == given


# --- purity ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec_version", [V1, V2])
@pytest.mark.parametrize(
    "raw",
    [
        statement(),
        statement(
            id=GIVEN_ID,
            timestamp="2024-05-01T12:00:00+02:00",
            stored="2001-01-01T00:00:00Z",
            authority={"objectType": "Agent", "mbox": "mailto:a@example.com"},
            version="1.0.1",
        ),
    ],
)
def test_input_is_never_mutated(raw: dict[str, Any], spec_version: str) -> None:
    before = copy.deepcopy(raw)
    result = run(raw, spec_version=spec_version)
    assert raw == before
    assert result is not raw


def test_other_properties_pass_through_unchanged() -> None:
    raw = statement(result={"success": True}, context={"language": "en-US"})
    result = run(raw)
    for prop in ("actor", "verb", "object", "result", "context"):
        assert result[prop] == raw[prop]
