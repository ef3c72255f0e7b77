"""In-memory Activity and Agent stores: the reference fakes of `lrs.ports.definitions`
(`ActivityStore`, `AgentStore`; same merge rules and bounds as `lrs.adapters.mongo_definitions`,
per statement, held to them by tests/contract/test_definition_stores.py), and the default of
`lrs.api.app.Adapters` for tests that build the app on fakes."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from lrs.ports.definitions import KnownAgent
from lrs.ports.statements import AcceptedStatement
from lrs.xapi.definitions import (
    DEFAULT_MAX_AGENT_NAMES,
    DEFAULT_MAX_DEFINITION_BYTES,
    activities_in,
    agents_in,
    bounded_merge_definition,
)


class InMemoryActivityStore:
    def __init__(self, max_bytes: int = DEFAULT_MAX_DEFINITION_BYTES) -> None:
        self._definitions: dict[tuple[str, str], dict[str, Any]] = {}
        self._max_bytes = max_bytes

    async def merge(self, records: Sequence[AcceptedStatement]) -> None:
        for record in records:
            for seen in activities_in(record.statement):
                key = (record.tenant, seen.activity_id)
                current = self._definitions.get(key, {})
                self._definitions[key] = bounded_merge_definition(
                    current, seen.definition, self._max_bytes
                )

    async def get(self, tenant: str, activity_id: str) -> dict[str, Any] | None:
        definition = self._definitions.get((tenant, activity_id))
        return dict(definition) if definition is not None else None

    async def ping(self) -> None:
        return None


class InMemoryAgentStore:
    def __init__(self, max_names: int = DEFAULT_MAX_AGENT_NAMES) -> None:
        self._agents: dict[tuple[str, str], KnownAgent] = {}
        self._max_names = max_names

    async def merge(
        self, records: Sequence[AcceptedStatement], erased: Collection[tuple[str, str]] = ()
    ) -> None:
        """`erased` changes nothing here: this store remembers nothing but what it holds."""
        for record in records:
            for seen in agents_in(record.statement):
                key = (record.tenant, seen.ifi)
                known = self._agents.setdefault(key, KnownAgent(seen.identifier, []))
                if seen.name is not None and seen.name not in known.names:
                    known.names.append(seen.name)
                    del known.names[: -self._max_names]

    async def get(self, tenant: str, ifi: str) -> KnownAgent | None:
        known = self._agents.get((tenant, ifi))
        return KnownAgent(known.identifier, list(known.names)) if known else None

    async def ping(self) -> None:
        return None
