"""Preparing an accepted statement for storage: what the LRS itself sets (xAPI Data 2.4).

Pure: the clock reading and the id factory are passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from lrs.xapi.timefmt import format_timestamp, to_utc_text
from lrs.xapi.versions import V2, statement_version_default


def canonicalize(
    raw: Mapping[str, Any],
    *,
    authority: Mapping[str, Any],
    stored: datetime,
    new_id: Callable[[], str],
    spec_version: str,
) -> dict[str, Any]:
    """The statement as the LRS stores it. The input is a validated statement; it is not changed.

    - Data 2.4.1: the LRS MUST set `id` when the statement has none (a UUID, lower case).
    - Data 2.4.7: `timestamp` SHOULD be set to `stored` when absent.
    - Data 2.4.8: `stored` MUST be set by the LRS, overwriting any value received.
    - Data 2.4.9: `authority` SHOULD be overwritten from the credentials used.
    - Data 2.4.10: `version` is retained; when absent it MUST be set (1.0.0 for 1.0.x; 2.0.0).
    - xAPI 2.0: timestamps are stored converted to UTC (Data 4.5: without moving the instant;
      `lrs.xapi.timefmt.to_utc_text`).
    """
    statement = dict(raw)
    stored_text = format_timestamp(stored)
    statement["id"] = str(raw["id"]).lower() if raw.get("id") else new_id()
    statement["stored"] = stored_text
    timestamp = raw.get("timestamp")
    if timestamp is None:
        statement["timestamp"] = stored_text
    elif spec_version == V2:
        statement["timestamp"] = to_utc_text(str(timestamp))
    statement["authority"] = dict(authority)
    statement.setdefault("version", statement_version_default(spec_version))
    return statement
