"""xAPI versions the LRS speaks (xAPI Communication 3.3 "Versioning", and xAPI 2.0).

A request names its version in the X-Experience-API-Version header; the LRS answers in the
latest patch version it supports of that minor version.
"""

from __future__ import annotations

import re

from lrs.xapi.errors import UnsupportedVersion

V1 = "1.0.3"
V2 = "2.0.0"
SUPPORTED = (V1, V2)
ABOUT_VERSIONS = ["1.0.0", "1.0.1", "1.0.2", "1.0.3", "2.0.0"]

_HEADER = re.compile(r"^(1\.0(?:\.\d+)?|2\.0(?:\.\d+)?)$")


def negotiate(header: str | None) -> str:
    """The spec version (1.0.3 or 2.0.0) that governs a request with this version header.

    Communication 3.3: the LRS MUST accept "1.0" and any version starting with "1.0." (and we
    serve 2.0.x as xAPI 2.0), and MUST reject requests without the header (except to the About
    resource) or with a version it does not support with 400.
    """
    if header is None or not header.strip():
        raise UnsupportedVersion("X-Experience-API-Version header is required (Communication 3.3)")
    value = header.strip()
    if not _HEADER.match(value):
        raise UnsupportedVersion(
            f"X-Experience-API-Version {value!r} is not supported; use 1.0.x or 2.0.x"
            " (Communication 3.3)"
        )
    return V2 if value.startswith("2.") else V1


def statement_version_default(spec_version: str) -> str:
    """Version stamped on statements that arrive without one (Data 2.4.10)."""
    return "2.0.0" if spec_version == V2 else "1.0.0"
