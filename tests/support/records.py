"""A consumed record as the runner and the handlers see it (`consumers.runner.Record`), for tests
that feed handlers without a broker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class StubRecord:
    topic: str = "xapi.statements"
    partition: int = 0
    offset: int = 0
    key: bytes | None = None
    value: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()
