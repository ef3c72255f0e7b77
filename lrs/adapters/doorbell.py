"""A doorbell between the processes of one `lrs serve`: whoever produces to the embedded broker
rings it, and every idle consumer (and each API process's feed) wakes (docs/decisions/0021,
item 8).

Why: the embedded broker (Tansu) does not answer a held fetch when a record arrives; it looks
again after half the fetch's wait (lrs.fetch_pacing). So an idle consumer must either fetch
often (the broker's CPU, all night) or pick up the first record after a silence late. With the
doorbell, an idle consumer pauses its partitions (no fetch in flight, nothing for the broker
to hold) and fetches at once when rung; it still looks every few seconds in case a ring was
missed (a producer outside `lrs serve`, a datagram dropped).

How: a directory (`LRS_DOORBELL_DIR`; `lrs serve` sets `<data dir>/bells`) holds one Unix
datagram socket per listening process. `ring` sends one byte to each socket found there, at
most once per `ring_every` seconds per process: a listener treats a ring as activity and stays
awake for `LRS_CONSUMER_IDLE_AFTER_SECONDS` after it, so while records come, rings that are a
few seconds apart keep every listener awake. A ring is a hint, never data: one lost costs
latency (up to the doze), never a record.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import stat
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger("lrs.doorbell")

SUFFIX = ".bell"
# The longest socket path the platforms we run on accept (sun_path is 104 bytes on macOS and
# 108 on Linux, the terminating zero included).
MAX_PATH_BYTES = 103
# The longest socket name (`/` + name + `-` + pid + SUFFIX) a process of `lrs serve` binds in
# the directory: names up to 32 characters (the longest consumer's has 25), pids up to 7
# digits (Linux's largest pid_max).
LONGEST_NAME_BYTES = 1 + 32 + 1 + 7 + len(SUFFIX)
# Rings of one process are at least this far apart (never more than a quarter of the time a
# listener stays awake after one: see `ring_interval`).
RING_EVERY_SECONDS = 5.0


def ring_interval(idle_after_seconds: float) -> float:
    """How far apart one process's rings are: a listener stays awake `idle_after_seconds` after
    a ring, so a few rings fit in that time and a producer still producing rings again long
    before any listener dozes off."""
    return min(RING_EVERY_SECONDS, idle_after_seconds / 4)


class Doorbell:
    """One process's doorbell: it rings every listener in `directory` (itself included), and
    once `listen`ing it is rung by them."""

    def __init__(
        self,
        directory: Path,
        name: str,
        *,
        ring_every: float = RING_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._directory = directory
        self._path = directory / f"{name}-{os.getpid()}{SUFFIX}"
        self._ring_every = ring_every
        self._clock = clock
        self._last_ring: float | None = None
        self._listener: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rung = asyncio.Event()

    def listen(self) -> bool:
        """Bind this process's socket and wake on rings (in the running loop); False, logged,
        when that cannot be done (e.g. the path is too long): the process then works without
        the doorbell, as with an external broker."""
        if len(os.fsencode(self._path)) > MAX_PATH_BYTES:
            log.warning("doorbell off: socket path too long (%s)", self._path)
            return False
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()  # left by an earlier process with this pid
            listener.bind(str(self._path))
            listener.setblocking(False)
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(listener.fileno(), self._drain)
        except OSError as exc:
            listener.close()
            log.warning("doorbell off: cannot listen at %s (%s)", self._path, exc)
            return False
        self._listener = listener
        return True

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.remove_reader(listener.fileno())
            listener.close()
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()

    def ring(self) -> None:
        """Wake every listener (unless this process rang less than `ring_every` ago). Never
        raises and never blocks: a listener gone or not draining is skipped."""
        now = self._clock()
        if self._last_ring is not None and now - self._last_ring < self._ring_every:
            return
        self._last_ring = now
        try:
            names = os.listdir(self._directory)
        except OSError:
            return  # no listener yet
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
            sender.setblocking(False)
            for name in names:
                if name.endswith(SUFFIX):
                    with contextlib.suppress(OSError):  # gone, or its queue full: skipped
                        sender.sendto(b"\x01", str(self._directory / name))

    def take(self) -> bool:
        """Whether the bell rang since the last `take` or `wait` (and forget it)."""
        rung = self._rung.is_set()
        self._rung.clear()
        return rung

    async def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for a ring; True when rung (and forgotten)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._rung.wait()
        return self.take()

    def _drain(self) -> None:
        assert self._listener is not None
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while True:
                self._listener.recv(64)
        self._rung.set()


def doorbell_dir_for(data_dir: Path) -> Path:
    """Where `lrs serve` with `data_dir` puts its doorbell: `<data_dir>/bells`, or, when that
    is too deep for a socket's path, a directory of the machine's temporary directory named
    after the data directory (one per data directory, as `lrs serve` runs one per data
    directory)."""
    preferred = data_dir.resolve() / "bells"
    if len(os.fsencode(preferred)) + LONGEST_NAME_BYTES <= MAX_PATH_BYTES:
        return preferred
    digest = hashlib.sha256(os.fsencode(preferred)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"lrs-bells-{digest}"


def fresh_doorbell_dir(directory: Path) -> Path | None:
    """`directory`, created for this user alone (mode 0700), without the sockets a killed
    earlier run left behind (a ring to one would be wasted); None, logged, when it is not this
    user's own directory (a symbolic link, or another user's, e.g. made beforehand in the
    shared temporary directory): `lrs serve` then runs without a doorbell rather than ring or
    listen where someone else decides."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        found = os.lstat(directory)
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid():
            log.warning("doorbell off: %s is not this user's own directory", directory)
            return None
        if stat.S_IMODE(found.st_mode) & 0o077:
            os.chmod(directory, 0o700)  # made by an earlier version, with the default mode
    except OSError as exc:
        log.warning("doorbell off: cannot make %s (%s)", directory, exc)
        return None
    for stale in directory.glob(f"*{SUFFIX}"):
        with contextlib.suppress(OSError):
            stale.unlink()
    return directory


def listening_doorbell(
    directory: Path | None, name: str, idle_after_seconds: float
) -> Doorbell | None:
    """This process's doorbell, listening (call it in the running loop), or None: no doorbell
    configured, or it cannot listen (logged)."""
    if directory is None:
        return None
    bell = Doorbell(directory, name, ring_every=ring_interval(idle_after_seconds))
    return bell if bell.listen() else None


def doorbell_ringer(directory: Path | None, idle_after_seconds: float) -> Callable[[], None] | None:
    """A `ring` for a producer of this process that does not listen (e.g. a clock's triggers),
    or None without a doorbell."""
    if directory is None:
        return None
    return Doorbell(directory, "ringer", ring_every=ring_interval(idle_after_seconds)).ring
