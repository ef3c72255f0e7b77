"""What the process benchmarks (idle.py, soak.py) read of `lrs serve`'s processes: their pids
(the data directory's processes.json, plus the supervisor itself and its spare) and, from
/proc, each one's CPU time and resident memory. Linux only."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from lrs.entry.renewal import resident_kb

TICKS = os.sysconf("SC_CLK_TCK")
LISTEN = "0A"  # the state column of /proc/net/tcp


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of `pid` (all its threads); None once it is gone."""
    try:
        return stat_cpu_seconds(Path(f"/proc/{pid}/stat").read_text())
    except OSError:
        return None


async def cpu_of(pid: int, action: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """(this process's CPU s, `pid`'s CPU s) over one awaited action."""
    mine, theirs = time.process_time(), cpu_seconds(pid) or 0.0
    await action()
    return time.process_time() - mine, (cpu_seconds(pid) or 0.0) - theirs


def stat_cpu_seconds(stat: str) -> float:
    """utime + stime of a /proc/PID/stat line, in seconds (fields 14 and 15)."""
    fields = stat.rsplit(")", 1)[1].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_kb(pid: int) -> int | None:
    """Resident memory of `pid` in KB (VmRSS); None once it is gone."""
    return resident_kb(pid)


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def children_of(parent: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and parent_of(int(entry.name)) == parent:
            found.append(int(entry.name))
    return sorted(found)


def serve_processes(data_dir: Path, serve_pid: int) -> dict[str, int]:
    """Every process of one `lrs serve`: its children by name (processes.json), the supervisor
    itself and any other child of it (the spare, waiting to replace a dead child)."""
    named: dict[str, int] = json.loads((data_dir / "processes.json").read_text())
    known = set(named.values())
    others = [pid for pid in children_of(serve_pid) if pid not in known]
    extra = {f"spare-{n}" if n else "spare": pid for n, pid in enumerate(others)}
    return {"supervisor": serve_pid, **named, **extra}


def listening_ports(pid: int) -> list[int]:
    """The loopback/any TCP ports `pid` listens on, from its open sockets' inodes and the
    kernel's socket tables (/proc/PID/net/tcp, tcp6); [] once it is gone."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    except OSError:
        return []
    ports = []
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == LISTEN and fields[9] in inodes:
                ports.append(int(fields[1].rsplit(":", 1)[1], 16))
    return sorted(set(ports))


def ports_by_name(data_dir: Path) -> dict[str, list[int]]:
    """Each child of `lrs serve` (processes.json) with the ports it listens on; {} before the
    file is written. A consumer serves its status on the port it is given or, when another
    process took that one, on any free port: its pid tells which."""
    try:
        named: dict[str, int] = json.loads((data_dir / "processes.json").read_text())
    except (OSError, ValueError):
        return {}
    return {name: listening_ports(pid) for name, pid in named.items()}


def cpu_table(before: Mapping[str, float], after: Mapping[str, float], seconds: float) -> str:
    """% of one core per process between two readings, and the total, as printed lines."""
    lines = [f"{'process':<28} {'% of one core':>14}"]
    total = 0.0
    for name in sorted(after, key=lambda n: -(after[n] - before.get(n, after[n]))):
        if name not in before:
            continue
        share = 100 * (after[name] - before[name]) / seconds
        total += share
        lines.append(f"{name:<28} {share:>14.2f}")
    lines.append(f"{'TOTAL':<28} {total:>14.2f}")
    return "\n".join(lines)


def cpu_readings(pids: Mapping[str, int]) -> dict[str, float]:
    readings = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return {name: value for name, value in readings.items() if value is not None}


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages (as `uptime` shows them)."""
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f}, {five:.2f}, {fifteen:.2f} ({os.cpu_count()} cores)"
