"""Activity definitions and Agents merged from statements."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from lrs.ports.statements import AcceptedStatement


@dataclass(frozen=True, slots=True)
class KnownAgent:
    """What the LRS has seen of one Agent (one identifier): for the Person Object."""

    identifier: Mapping[str, Any]
    names: list[str]


class ActivityStore(Protocol):
    """Canonical Activity definitions per tenant, merged from statements (Data 2.4.4.1).
    Merging is atomic per field, so concurrent writers never lose each other's updates, and
    replaying statements changes nothing."""

    async def merge(self, records: Sequence[AcceptedStatement]) -> None: ...

    async def get(self, tenant: str, activity_id: str) -> dict[str, Any] | None:
        """The canonical definition, or None when the Activity was never seen."""
        ...

    async def ping(self) -> None: ...


class AgentStore(Protocol):
    """Agents seen in statements per tenant, by canonical IFI, with the names they used."""

    async def merge(
        self, records: Sequence[AcceptedStatement], erased: Collection[tuple[str, str]] = ()
    ) -> None:
        """Merge the Agents of `records`. `erased`: (tenant, IFI) of Agents of the batch on the
        erased-agents list (docs/erasure.md), whose stored Agent an erasure may have deleted:
        what a store remembers of them is not taken for what is stored."""
        ...

    async def get(self, tenant: str, ifi: str) -> KnownAgent | None: ...

    async def ping(self) -> None: ...
