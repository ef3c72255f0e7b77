"""Validation + canonicalisation throughput on one core (the ingest hot path without I/O).

Prints statements/s for realistic statements (actor, verb, activity with definition, result
with score and duration, context with registration, parent activity and extensions), for the
JSON Schema + rules validation alone, for validation + canonicalisation + in-batch checks as
the API runs them (`lrs.services.ingest.check_request` + `prepare`), and for JSON parsing
included. Usage: python bench/validation.py [--seconds N]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from lrs.adapters.memory import (
    InMemoryAttachmentStore,
    InMemoryEventBus,
    InMemoryStatementStore,
)
from lrs.ports.credentials import Principal
from lrs.security import ALL_SCOPES
from lrs.services.ingest import IngestDeps, check_request, prepare
from lrs.xapi.validation import validate_statements
from tests.support.factories import statement

PRINCIPAL = Principal("bench", "bench", ALL_SCOPES, {"mbox": "mailto:lrs@example.org"})


def realistic(n: int) -> dict[str, object]:
    doc = statement(learner=n, verb="passed")
    doc["context"]["extensions"] = {"https://example.org/ext/session": str(uuid.uuid4())}
    doc["object"]["definition"]["description"] = {"en-US": "A course", "fr-FR": "Un cours"}
    return doc


def rate(label: str, batch: int, work: Callable[[], object], seconds: float) -> None:
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        work()
        done += batch
    elapsed = time.perf_counter() - started
    print(f"{label:<58} {done / elapsed:>10,.0f} statements/s")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    seconds = parser.parse_args().seconds
    deps = IngestDeps(
        store=InMemoryStatementStore(),
        bus=InMemoryEventBus(),
        attachments=InMemoryAttachmentStore(),
        clock=lambda: datetime.now(UTC),
        new_id=lambda: str(uuid.uuid4()),
        topic="bench",
        ack_mode="kafka",
        ack_timeout=1.0,
    )
    one: list[object] = [realistic(1)]
    hundred: list[object] = [realistic(n) for n in range(100)]
    raw_hundred = orjson.dumps(hundred)
    print(
        f"one core, Python {sys.version.split()[0]}; statement of {len(orjson.dumps(one[0]))} bytes"
    )
    rate(
        "validate, 1 statement per call",
        1,
        lambda: validate_statements(one, version="1.0.3"),
        seconds,
    )
    rate(
        "validate, batches of 100",
        100,
        lambda: validate_statements(hundred, version="1.0.3"),
        seconds,
    )

    def full(docs: list[object], version: str = "1.0.3") -> object:
        check_request(docs, {}, version)
        return prepare(docs, PRINCIPAL, version, deps)

    rate("validate + canonicalise + batch checks, 1 per call", 1, lambda: full(one), seconds)
    rate(
        "validate + canonicalise + batch checks, batches of 100",
        100,
        lambda: full(hundred),
        seconds,
    )
    rate(
        "parse JSON + all of the above, batches of 100",
        100,
        lambda: full(orjson.loads(raw_hundred)),
        seconds,
    )
    rate(
        "same with xAPI 2.0.0 rules, batches of 100",
        100,
        lambda: full(hundred, "2.0.0"),
        seconds,
    )


if __name__ == "__main__":
    main()
