"""Bench-only: the CPU time the embedded store (SecantusDB) spends in each command.

bench/cpu_per_statement.py --store-cpu puts this directory on the PYTHONPATH of `lrs serve`,
so every Python process it starts imports this module; only the store process (`secantusd-py`)
acts on it. It wraps the store's command dispatcher and adds up, per command shape (command,
collection, and the filter's and projection's field names for a find), the calls, the documents
written (for a find by a list of `_id`s, the ids asked) and the thread CPU time spent
(`time.thread_time_ns`, which waiting for a lock or for the oplog does not count); it writes the
sums as JSON to $BENCH_STORE_CPU_FILE every 100 commands and at exit. Never imported by the
project itself.
"""

from __future__ import annotations

import sys

if sys.argv and sys.argv[0].endswith("secantusd-py"):
    import atexit
    import json
    import os
    import threading
    import time
    from typing import Any

    import secantus.commands  # type: ignore[import-untyped]
    import secantus.server  # type: ignore[import-untyped]

    _OUT = os.environ.get("BENCH_STORE_CPU_FILE", f"/tmp/store-cpu-{os.getpid()}.json")
    _WRITES = {"insert": "documents", "update": "updates", "delete": "deletes"}
    _sums: dict[str, list[int]] = {}
    _lock = threading.Lock()
    _original = secantus.commands.dispatch

    def _shape(doc: dict[str, Any]) -> str:
        name = next(iter(doc), "?")
        target = doc.get(name)
        collection = target if isinstance(target, str) else str(doc.get("collection", "-"))
        if name == "find":
            fields = ",".join(sorted(doc.get("filter") or {}))
            shown = ",".join(doc.get("projection") or {})
            return f"find {collection} filter({fields}) projection({shown})"
        if name == "update":
            first = (doc.get("updates") or [{}])[0].get("u")
            kind = "pipeline" if isinstance(first, list) else "operators"
            if isinstance(first, dict) and not any(str(k).startswith("$") for k in first):
                kind = "replacement"
            return f"update {collection} {kind}"
        return f"{name} {collection}"

    def _dump() -> None:
        with _lock:
            data = json.dumps(_sums)
        with open(_OUT + ".tmp", "w") as out:
            out.write(data)
        os.replace(_OUT + ".tmp", _OUT)

    def _dispatch(doc: dict[str, Any], ctx: Any) -> Any:
        started = time.thread_time_ns()
        try:
            return _original(doc, ctx)
        finally:
            spent = time.thread_time_ns() - started
            shape = _shape(doc)
            written = len(doc.get(_WRITES.get(next(iter(doc), ""), "")) or ())
            wanted = (doc.get("filter") or {}).get("_id") if "find" in doc else None
            if isinstance(wanted, dict) and isinstance(wanted.get("$in"), list):
                written = len(wanted["$in"])
            with _lock:
                sums = _sums.setdefault(shape, [0, 0, 0])
                sums[0] += 1
                sums[1] += spent
                sums[2] += written
                calls = sum(s[0] for s in _sums.values())
            if calls % 100 == 0:
                _dump()

    secantus.commands.dispatch = _dispatch
    secantus.server.dispatch = _dispatch  # imported by name there
    atexit.register(_dump)
