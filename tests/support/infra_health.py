"""What a failing or hung test's report says about the session's broker and store: whether each
still runs, whether it still answers (a process can be alive and stuck), and, for a stuck store,
every thread's Python stack (the test store registers a SIGUSR1 stack dump).

This is test tooling: the first thing to know when an integration test fails on a CI machine
nobody can log in to."""

from __future__ import annotations

import dataclasses
import signal
import socket
import struct
import sys
import time
from collections.abc import Sequence

import pymongo
from pymongo.errors import PyMongoError

from lrs.entry.embedded import Child

ANSWER_WITHIN_SECONDS = 3.0
LOG_TAIL_BYTES = 6000
STACK_DUMP_WITHIN_SECONDS = 3.0

# The SecantusDB console script's entry, with a stack dump on SIGUSR1 registered first.
_STORE_WITH_STACK_DUMPS = (
    "import faulthandler, signal, sys\n"
    "faulthandler.register(signal.SIGUSR1, all_threads=True)\n"
    "from secantus.cli import main\n"
    "sys.argv[0] = 'secantusd-py'\n"
    "sys.exit(main())\n"
)


def with_stack_dumps(store: Child) -> Child:
    """The store child started by this interpreter so that SIGUSR1 writes every thread's stack
    to its log (and a crash its fatal-error trace)."""
    argv = [sys.executable, "-X", "faulthandler", "-c", _STORE_WITH_STACK_DUMPS, *store.argv[1:]]
    return dataclasses.replace(store, argv=argv)


def broker_answers(bootstrap: str) -> str | None:
    """None if the broker answers a Kafka ApiVersions (v0) request in time; else what failed."""
    host, port = bootstrap.rsplit(":", 1)
    client = b"lrs-tests"
    body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
    try:
        with socket.create_connection((host, int(port)), ANSWER_WITHIN_SECONDS) as conn:
            conn.settimeout(ANSWER_WITHIN_SECONDS)
            conn.sendall(struct.pack(">i", len(body)) + body)
            if len(conn.recv(8)) < 4:
                return "closed the connection without an answer"
    except OSError as exc:
        return f"did not answer ApiVersions within {ANSWER_WITHIN_SECONDS} s: {exc!r}"
    return None


def store_answers(uri: str) -> str | None:
    """None if the store answers `ping` in time; else what failed."""
    timeout_ms = int(ANSWER_WITHIN_SECONDS * 1000)
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(
        uri, serverSelectionTimeoutMS=timeout_ms, socketTimeoutMS=timeout_ms
    )
    try:
        client.admin.command("ping")
    except PyMongoError as exc:
        return f"did not answer ping within {ANSWER_WITHIN_SECONDS} s: {exc!r}"
    finally:
        client.close()
    return None


def _log_tail(child: Child) -> str:
    if child.log_path is None or not child.log_path.exists():
        return ""
    tail = child.log_path.read_bytes()[-LOG_TAIL_BYTES:].decode(errors="replace")
    return f"--- end of {child.log_path} ---\n{tail}"


def _dump_stacks(store: Child) -> None:
    """SIGUSR1 to the store, then wait (polling its log's size) for the dump to be written."""
    if store.process is None or store.log_path is None or not store.log_path.exists():
        return
    size = store.log_path.stat().st_size
    store.process.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + STACK_DUMP_WITHIN_SECONDS
    while time.monotonic() < deadline and store.log_path.stat().st_size == size:
        time.sleep(0.05)


def report(children: Sequence[Child], kafka_bootstrap: str, mongodb_uri: str) -> str:
    """One line per child (running and answering, running but silent, or stopped), with the
    end of the log of any that is not well; a silent store's stacks are dumped into it first."""
    lines = []
    for child in children:
        if not child.alive():
            lines.append(f"{child.name} (pid {child.pid}) STOPPED, exit code {child.returncode}")
            lines.append(_log_tail(child))
            continue
        problem = broker_answers(kafka_bootstrap) if child.name == "broker" else None
        if child.name == "store":
            problem = store_answers(mongodb_uri)
        if problem is None:
            lines.append(f"{child.name} (pid {child.pid}) is running and answers")
            continue
        lines.append(f"{child.name} (pid {child.pid}) is running but {problem}")
        if child.name == "store":
            _dump_stacks(child)
        lines.append(_log_tail(child))
    return "\n".join(lines)
