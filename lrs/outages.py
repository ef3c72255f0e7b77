"""The one rule telling an outage from a fault (docs/decisions/0008).

An OUTAGE is a failure saying the store or the broker could not be reached, or could not take
the work right now: the same work can succeed later. The API answers it with 503 and
Retry-After (lrs.api.errors), the dead-letter tools raise the domain's Unavailable
(lrs.adapters.kafka_dead_letters), the consumer runner rewinds and retries the batch
(consumers.failures). Every other failure is a FAULT: the same work fails the same way again.

A failure is an outage when it, or an error it was raised from (`__cause__`), is one of:
`TransientFailure`; an OSError (socket errors, ConnectionError, TimeoutError); a Kafka error
aiokafka marks retriable, or one of the unmarked ones below (timeouts, no broker, a producer
being closed, the consumer group moving); a pymongo connection failure, timeout or write
concern error, an error labelled retryable, or a server error code meaning "not now".
"""

from __future__ import annotations

from typing import Literal

from aiokafka import errors as kafka_errors
from pymongo import errors as mongo_errors

Dependency = Literal["store", "broker", "dependency"]


class TransientFailure(Exception):
    """Raised by code that cannot tell yet what to do (e.g. the store did not show what it
    holds): "not now", never "never"."""


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


def is_outage(error: BaseException) -> bool:
    """True when `error`, or an error it was raised from, means "unreachable, try again"."""
    return outage_of(error) is not None


def outage_of(error: BaseException) -> Dependency | None:
    """Which dependency `error` (or an error it was raised from) says is out, or None when it
    is a fault."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        dependency = _outage_itself(current)
        if dependency is not None:
            return dependency
        seen.add(id(current))
        current = current.__cause__
    return None


def _outage_itself(error: BaseException) -> Dependency | None:
    if isinstance(error, kafka_errors.KafkaError):
        unmarked = _KAFKA_UNAVAILABLE + _KAFKA_GROUP_ERRORS
        return "broker" if error.retriable or isinstance(error, unmarked) else None
    if isinstance(error, mongo_errors.PyMongoError):
        return "store" if _mongo_outage(error) else None
    if isinstance(error, TransientFailure | OSError):  # TimeoutError, ConnectionError included
        return "dependency"
    return None


def _mongo_outage(error: mongo_errors.PyMongoError) -> bool:
    if isinstance(error, mongo_errors.ConnectionFailure | mongo_errors.WriteConcernError):
        return True  # AutoReconnect, NetworkTimeout, ServerSelectionTimeoutError, NotPrimary...
    if error.timeout or any(error.has_error_label(label) for label in _MONGO_TRANSIENT_LABELS):
        return True  # ExecutionTimeout, WaitQueueTimeoutError, ...
    if isinstance(error, mongo_errors.BulkWriteError):
        return _bulk_outage(error)
    return isinstance(error, mongo_errors.OperationFailure) and (
        error.code in _MONGO_TRANSIENT_CODES
    )


def _bulk_outage(error: mongo_errors.BulkWriteError) -> bool:
    """A bulk write whose only failures are "not now" ones (write concern, stepping down)."""
    details = error.details or {}
    write_errors = details.get("writeErrors") or []
    if details.get("writeConcernErrors") and not write_errors:
        return True
    codes = {e.get("code") for e in write_errors}
    return bool(codes) and codes <= _MONGO_TRANSIENT_CODES
