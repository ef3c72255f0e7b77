"""What the consumer runner does with a failure (docs/decisions/0008).

A failure is TRANSIENT when it says the store or the broker could not be reached or could not
take the write right now (retrying the same work later can succeed): the runner rewinds and
retries the batch, however long it takes. Every other failure is DETERMINISTIC: something in
the records makes the handler fail, and it will fail the same way again. The runner then finds
the records that fail on their own (`isolate`) and dead-letters only those.

Pure: no broker or store is touched here; `isolate` re-runs whatever `attempt` it is given.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from aiokafka import errors as kafka_errors
from pymongo import errors as mongo_errors

R = TypeVar("R")


class TransientFailure(Exception):
    """Raised by a handler that cannot tell yet what to do (e.g. the store did not show what it
    holds): "not now", never "never". The runner retries the batch."""


# The group moved under the consumer (a rebalance): nothing is wrong with the records.
_KAFKA_GROUP_ERRORS: tuple[type[Exception], ...] = (
    kafka_errors.CommitFailedError,
    kafka_errors.RebalanceInProgressError,
    kafka_errors.IllegalGenerationError,
    kafka_errors.UnknownMemberIdError,
)
# Unreachable or not (yet) able to take a write, with aiokafka's `retriable` flag unset.
_KAFKA_UNAVAILABLE: tuple[type[Exception], ...] = (
    kafka_errors.KafkaTimeoutError,
    kafka_errors.KafkaUnavailableError,
    kafka_errors.ProducerClosed,
    kafka_errors.BrokerNotAvailableError,
    kafka_errors.ReplicaNotAvailableError,
)
# MongoDB server error codes that mean "not now" (the node steps down, shuts down, is
# unreachable or too slow), not "never".
_MONGO_TRANSIENT_CODES = frozenset(
    {6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436}
)
_MONGO_TRANSIENT_LABELS = ("RetryableWriteError", "TransientTransactionError")


def is_transient(error: BaseException) -> bool:
    """True when `error`, or an error it was raised from, means "unreachable, try again"."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if _transient_itself(current):
            return True
        seen.add(id(current))
        current = current.__cause__
    return False


def _transient_itself(error: BaseException) -> bool:
    if isinstance(error, TransientFailure):
        return True
    if isinstance(error, OSError):  # TimeoutError, ConnectionError and socket errors included
        return True
    if isinstance(error, kafka_errors.KafkaError):
        return error.retriable or isinstance(error, _KAFKA_UNAVAILABLE + _KAFKA_GROUP_ERRORS)
    if isinstance(error, mongo_errors.PyMongoError):
        return _mongo_transient(error)
    return False


def _mongo_transient(error: mongo_errors.PyMongoError) -> bool:
    if isinstance(error, mongo_errors.ConnectionFailure | mongo_errors.WriteConcernError):
        return True  # AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError, NotPrimary...
    if any(error.has_error_label(label) for label in _MONGO_TRANSIENT_LABELS):
        return True
    if isinstance(error, mongo_errors.BulkWriteError):
        return _bulk_transient(error)
    return isinstance(error, mongo_errors.OperationFailure) and (
        error.code in _MONGO_TRANSIENT_CODES
    )


def _bulk_transient(error: mongo_errors.BulkWriteError) -> bool:
    """A bulk write whose only failures are "not now" ones (write concern, stepping down)."""
    details = error.details or {}
    write_errors = details.get("writeErrors") or []
    if details.get("writeConcernErrors") and not write_errors:
        return True
    codes = {e.get("code") for e in write_errors}
    return bool(codes) and codes <= _MONGO_TRANSIENT_CODES


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
