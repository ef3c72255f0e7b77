"""An API process of `lrs serve` must not outlive its supervisor.

The supervisor asks Linux to SIGTERM each child when it dies (`PR_SET_PDEATHSIG`,
lrs.entry.embedded), but a process still starting (its lifespan retrying a broker or store that
died with the supervisor) or one whose shutdown waits on such a connection never finishes that
stop, and keeps the shared listening socket open: the next `lrs serve` on the same port then
shares it with an orphan. So each API process under `lrs serve` also watches its parent: once
it has a new one (the supervisor is gone), it asks itself to stop (SIGTERM, the graceful path),
and exits outright if it has not after `grace` seconds.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

CHECK_SECONDS = 1.0
EXIT_STATUS = 70  # EX_SOFTWARE: stopped because the supervisor was gone


@dataclass
class OrphanWatch:
    """Watches `parent`; the clock and the process calls are injected so the rule is testable."""

    parent: int
    grace: float
    interval: float = CHECK_SECONDS
    getppid: Callable[[], int] = os.getppid
    terminate: Callable[[], None] = lambda: os.kill(os.getpid(), signal.SIGTERM)
    hard_exit: Callable[[int], None] = os._exit
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        """Until `stop` is set: look every `interval` seconds; when the parent has changed, stop the
        process gracefully, then outright after `grace` seconds."""
        while not self.stop.wait(self.interval):
            if self.getppid() != self.parent:
                self.terminate()
                if not self.stop.wait(self.grace):
                    self.hard_exit(EXIT_STATUS)
                return

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="orphan-watch", daemon=True)
        thread.start()
        return thread
