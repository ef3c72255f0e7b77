"""One table of failures: which are outages (store or broker unreachable, try again) and which
are faults. Checked against lrs.outages (tests/unit/test_outages.py); the API's 503/500 and the
consumer runner's retry/dead-letter are checked to follow that one rule."""

from __future__ import annotations

import orjson
from aiokafka import errors as kafka_errors
from bson.errors import InvalidDocument
from pymongo import errors as mongo_errors

from lrs.outages import Dependency, TransientFailure


def caused_by(cause: BaseException) -> RuntimeError:
    try:
        raise RuntimeError("wrapper") from cause
    except RuntimeError as exc:
        return exc


# (failure, the dependency it says is out)
OUTAGES: list[tuple[BaseException, Dependency]] = [
    (mongo_errors.AutoReconnect("connection reset"), "store"),
    (mongo_errors.NetworkTimeout("timed out"), "store"),
    (mongo_errors.ServerSelectionTimeoutError("no server"), "store"),
    (mongo_errors.NotPrimaryError("not primary"), "store"),
    (mongo_errors.WaitQueueTimeoutError("pool"), "store"),
    (mongo_errors.ExecutionTimeout("slow", 50), "store"),
    (mongo_errors.WTimeoutError("write concern", 64), "store"),
    (mongo_errors.WriteConcernError("write concern", 100), "store"),
    (mongo_errors.OperationFailure("stepped down", 189), "store"),
    (mongo_errors.OperationFailure("shutting down", 91), "store"),
    (mongo_errors.OperationFailure("interrupted at shutdown", 11600), "store"),
    (
        mongo_errors.BulkWriteError({"writeErrors": [], "writeConcernErrors": [{"code": 64}]}),
        "store",
    ),
    (mongo_errors.BulkWriteError({"writeErrors": [{"code": 11600, "index": 0}]}), "store"),
    (kafka_errors.KafkaConnectionError("refused"), "broker"),
    (kafka_errors.KafkaTimeoutError(), "broker"),
    (kafka_errors.RequestTimedOutError(), "broker"),
    (kafka_errors.NodeNotReadyError(), "broker"),
    (kafka_errors.NotLeaderForPartitionError(), "broker"),
    (kafka_errors.LeaderNotAvailableError(), "broker"),
    (kafka_errors.NotEnoughReplicasError(), "broker"),
    (kafka_errors.ProducerClosed(), "broker"),
    (kafka_errors.CommitFailedError("rebalanced"), "broker"),
    (ConnectionRefusedError(), "dependency"),
    (TimeoutError(), "dependency"),
    (OSError("network unreachable"), "dependency"),
    (TransientFailure("the store did not show what it holds"), "dependency"),
    (caused_by(mongo_errors.AutoReconnect("x")), "store"),
]

FAULTS: list[BaseException] = [
    InvalidDocument("key 'a\\x00b' must not contain NULL characters"),
    mongo_errors.DocumentTooLarge("16 MB"),
    mongo_errors.DuplicateKeyError("dup", 11000),
    mongo_errors.OperationFailure("bad value", 2),
    mongo_errors.BulkWriteError({"writeErrors": [{"code": 11000, "index": 0}]}),
    kafka_errors.MessageSizeTooLargeError(),
    kafka_errors.RecordTooLargeError(),
    ValueError("second must be in 0..59"),
    OverflowError("date value out of range"),
    KeyError("actor"),
    TypeError("unhashable"),
    orjson.JSONDecodeError("bad", "x", 0),
    caused_by(ValueError("x")),
]


def name(error: BaseException) -> str:
    return type(error).__name__


def label(value: object) -> str:
    """A test id: a failure's class name, or the dependency named."""
    return name(value) if isinstance(value, BaseException) else str(value)
