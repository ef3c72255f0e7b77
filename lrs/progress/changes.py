"""A progress change as the API process reads it from the progress topics and hands it to its
live subscribers: shared by the feed that reads it (lrs.adapters.kafka_progress_feed) and the
hub that fans it out (lrs.services.progress_hub)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

Kind = Literal["learner", "team", "registry", "goal", "organisation"]
KINDS: frozenset[Kind] = frozenset(get_args(Kind))


@dataclass(frozen=True, slots=True)
class Change:
    """One record of `lrs.progress.learner`, `lrs.progress.team` or `lrs.teams`."""

    kind: Kind
    tenant: str
    entity: str
    version: int
    value: Mapping[str, Any]
