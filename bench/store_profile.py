"""What the embedded store (SecantusDB) does per statement, for bench/cpu_per_statement.py.

Three views of one load, each optional:

* the store's CPU time per command (bench/store_cpu/sitecustomize.py, loaded by the store
  process only): calls, documents written and thread CPU per command shape. The most precise
  of the three: CPU, not wall time, so other work on the machine inflates it least.
* the commands it receives, from its own profiler: level 2 on the LRS database during the load,
  then `system.profile` grouped by operation, collection and command name, with the documents
  each insert, update and delete carried. Counts do not depend on the machine's load; the
  profiler's own writes cost the store CPU, so a run with it overstates the store's time.
* where its CPU goes, from py-spy (`record --nonblocking`, raw collapsed stacks) attached to the
  store for the load; summarised by the store's command handler and by the top frames of this
  project's interest. py-spy is a measuring tool, never a project dependency: it is looked for
  beside the Python running the bench, then on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pymongo import MongoClient
from pymongo.database import Database

PROFILE_BYTES = 512 * 1024 * 1024  # room for every entry of a few thousand statements
WRITES = {"insert": "documents", "update": "updates", "delete": "deletes"}


def store_uri(pid: int) -> str:
    """The loopback URI of the store process `pid`, from its `--port` argument."""
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return f"mongodb://127.0.0.1:{args[args.index('--port') + 1]}/?directConnection=true"


@contextmanager
def profiled(uri: str, database: str) -> Iterator[list[dict[str, Any]]]:
    """Profile every command on `database` while the block runs; the entries afterwards."""
    entries: list[dict[str, Any]] = []
    mongo: MongoClient[dict[str, Any]]
    with MongoClient(uri) as mongo:
        db: Database[dict[str, Any]] = mongo[database]
        db.command("profile", 0)
        db.drop_collection("system.profile")
        db.create_collection("system.profile", capped=True, size=PROFILE_BYTES)
        db.command("profile", 2, slowms=0)
        try:
            yield entries
        finally:
            db.command("profile", 0)
            entries += db["system.profile"].find({}, {"op": 1, "ns": 1, "command": 1, "millis": 1})


def command_table(entries: list[dict[str, Any]], statements: int) -> list[str]:
    """Commands (and documents written) per statement by (command, collection), most first."""
    commands: Counter[tuple[str, str]] = Counter()
    documents: Counter[tuple[str, str]] = Counter()
    millis: Counter[tuple[str, str]] = Counter()
    for entry in entries:
        command = entry.get("command") or {}
        name = next(iter(command), entry.get("op", "?"))
        key = (name, str(entry.get("ns", "?")).split(".", 1)[-1])
        commands[key] += 1
        millis[key] += int(entry.get("millis") or 0)
        if name in WRITES:
            documents[key] += len(command.get(WRITES[name]) or ())
    lines = [f"{'command':<16}{'collection':<28}{'per stmt':>10}{'docs/stmt':>11}{'ms/stmt':>9}"]
    for key, count in commands.most_common():
        docs = f"{documents[key] / statements:>11.3f}" if key[0] in WRITES else f"{'':>11}"
        lines.append(
            f"{key[0]:<16}{key[1]:<28}{count / statements:>10.3f}{docs}"
            f"{millis[key] / statements:>9.3f}"
        )
    total = sum(commands.values())
    lines.append(f"{'total':<44}{total / statements:>10.3f}")
    return lines


def py_spy() -> str:
    beside = Path(sys.executable).with_name("py-spy")
    found = str(beside) if beside.exists() else shutil.which("py-spy")
    if not found:
        raise SystemExit("py-spy not found (pip install py-spy into the bench's environment)")
    return found


@contextmanager
def sampled(pid: int, out: Path) -> Iterator[None]:
    """py-spy samples process `pid` (50 Hz, raw collapsed stacks into `out`) while the block
    runs; stopped with SIGINT, on which it writes what it has."""
    command = [py_spy(), "record", "--nonblocking", "-r", "50", "-f", "raw", "-o", str(out)]
    spy = subprocess.Popen([*command, "-p", str(pid)], stdout=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(60)


def stack_shares(raw: Path, depth_marker: str = "secantus") -> tuple[int, Counter[str]]:
    """(samples, samples per frame) of a raw py-spy file: each frame counted once per stack
    (inclusive), only frames of files whose path holds `depth_marker`."""
    samples = 0
    frames: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        samples += n
        seen = {f for f in stack.split(";") if depth_marker in f}
        for frame in seen:
            frames[_short(frame)] += n
    return samples, frames


def _short(frame: str) -> str:
    """`function (path/to/secantus/module.py:12)` -> `module.function`."""
    function, _, where = frame.partition(" (")
    module = where.rsplit("/", 1)[-1].split(".py", 1)[0]
    return f"{module}.{function}"


def spy_table(raw: Path, top: int = 40, process: str = "store") -> list[str]:
    """The top frames of a py-spy file: the store's own (SecantusDB) for the store, every
    frame for another process."""
    samples, frames = stack_shares(raw, "secantus" if process == "store" else "")
    lines = [f"{process} samples: {samples} (inclusive share of each frame, top {top})"]
    for frame, n in frames.most_common(top):
        lines.append(f"  {n / max(samples, 1):>6.1%}  {frame}")
    return lines


STORE_CPU = Path(__file__).with_name("store_cpu")  # its sitecustomize.py: see that module


def store_cpu_environment(out: Path) -> dict[str, str]:
    """The environment under which `lrs serve`'s store sums its CPU per command into `out`."""
    paths = [str(STORE_CPU), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths), "BENCH_STORE_CPU_FILE": str(out)}


def read_store_cpu(out: Path) -> dict[str, list[int]]:
    """Command shape -> [calls, thread CPU ns, documents written] so far (empty before the
    first 100 commands)."""
    try:
        sums: dict[str, list[int]] = json.loads(out.read_text())
    except (OSError, ValueError):
        return {}
    return sums


def store_cpu_table(
    before: dict[str, list[int]], after: dict[str, list[int]], statements: int, top: int = 25
) -> list[str]:
    """The store's CPU per statement by command shape, between two readings, most first.
    `docs/stmt`: documents written, or for a find by a list of `_id`s, the ids asked."""
    spent = {
        shape: [n - m for n, m in zip(sums, before.get(shape, [0, 0, 0]), strict=True)]
        for shape, sums in after.items()
    }
    total = sum(s[1] for s in spent.values()) or 1
    lines = [
        f"store CPU in commands: {total / 1e3 / statements:.0f} µs/stmt,"
        f" {sum(s[0] for s in spent.values()) / statements:.3f} commands/stmt",
        f"{'µs/stmt':>8}{'share':>7}{'calls/stmt':>11}{'docs/stmt':>10}{'µs/call':>9}  command",
    ]
    for shape, (calls, ns, docs) in sorted(spent.items(), key=lambda kv: -kv[1][1])[:top]:
        lines.append(
            f"{ns / 1e3 / statements:>8.0f}{ns / total:>7.1%}{calls / statements:>11.3f}"
            f"{docs / statements:>10.3f}{ns / 1e3 / max(calls, 1):>9.0f}  {shape}"
        )
    return lines
