"""Version negotiation (xAPI Communication 3.3)."""

from __future__ import annotations

import pytest

from lrs.xapi.errors import UnsupportedVersion
from lrs.xapi.versions import V1, V2, negotiate, statement_version_default


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("1.0", V1),
        ("1.0.0", V1),
        ("1.0.1", V1),
        ("1.0.2", V1),
        ("1.0.3", V1),
        (" 1.0.3 ", V1),
        ("2.0", V2),
        ("2.0.0", V2),
    ],
)
def test_supported_headers(header: str, expected: str) -> None:
    assert negotiate(header) == expected


@pytest.mark.parametrize("header", ["1.0.4", "1.0.9", "1.0.12"])
def test_any_later_1_0_patch_is_accepted(header: str) -> None:
    assert negotiate(header) == V1


@pytest.mark.parametrize("header", [None, "", "   "])
def test_missing_header_is_rejected(header: str | None) -> None:
    with pytest.raises(UnsupportedVersion, match="required"):
        negotiate(header)


@pytest.mark.parametrize(
    "header",
    ["0.9", "0.95", "1", "1.1", "1.1.0", "3.0.0", "2.1.0", "1.0.x", "v1.0.3", "1.0.3.1", "latest"],
)
def test_unsupported_headers_are_rejected(header: str) -> None:
    with pytest.raises(UnsupportedVersion, match="not supported"):
        negotiate(header)


@pytest.mark.parametrize(("spec_version", "expected"), [(V1, "1.0.0"), (V2, "2.0.0")])
def test_statement_version_default(spec_version: str, expected: str) -> None:
    assert statement_version_default(spec_version) == expected
