"""What the consumer runner does with a failure (docs/decisions/0008).

A failure is TRANSIENT when it says the store or the broker could not be reached or could not
take the write right now (retrying the same work later can succeed; the one rule is
`lrs.outages.is_outage`, re-exported here as `is_transient`, as is `TransientFailure`): the
runner rewinds and retries the batch, however long it takes. Every other failure is
DETERMINISTIC: something in the records makes the handler fail, and it will fail the same way
again. The runner then finds the records that fail on their own (`isolate`) and dead-letters
only those.

Pure: no broker or store is touched here; `isolate` re-runs whatever `attempt` it is given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from lrs.outages import TransientFailure
from lrs.outages import is_outage as is_transient

__all__ = ["Poison", "TransientFailure", "is_transient", "isolate"]

R = TypeVar("R")


@dataclass(frozen=True)
class Poison(Generic[R]):
    """A record the handler can never process, and why (it fails on its own)."""

    record: R
    error: Exception


Attempt = Callable[[Sequence[R]], Awaitable[list[Poison[R]]]]


async def isolate(records: Sequence[R], error: Exception, attempt: Attempt[R]) -> list[Poison[R]]:
    """`records` failed together with the deterministic `error`: split them in halves and
    re-run `attempt` on each (handlers are idempotent) down to single records, so that only the
    records that fail on their own are returned, with their own error. What `attempt` itself
    reports as failed (a handler's own poison) is returned too. A transient failure on the way
    propagates: the whole batch is then retried."""
    if len(records) == 1:
        return [Poison(records[0], error)]
    middle = len(records) // 2
    failed: list[Poison[R]] = []
    for part in (records[:middle], records[middle:]):
        failed += await _attempt_part(part, attempt)
    return failed


async def _attempt_part(part: Sequence[R], attempt: Attempt[R]) -> list[Poison[R]]:
    try:
        return await attempt(part)
    except Exception as exc:
        if is_transient(exc):
            raise
        return await isolate(part, exc, attempt)
