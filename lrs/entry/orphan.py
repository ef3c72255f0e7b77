"""A process of `lrs serve` (or of `lrs api`'s worker pool) must not outlive its supervisor.

The supervisor asks Linux to SIGTERM each child when it dies (`PR_SET_PDEATHSIG`,
lrs.entry.embedded), but a process still starting (retrying a broker or store that died with
the supervisor) or one whose shutdown waits on such a connection never finishes that stop. An
API process would keep the shared listening socket open (the next `lrs serve` on the same port
then shares it with an orphan); a consumer would keep reconnecting to a broker that is gone, for
ever. So each process a supervisor starts watches its parent (the supervisor passes its pid as
LRS_SUPERVISOR_PID): once its parent is another process (the supervisor is gone), it asks
itself to stop (SIGTERM, the graceful path), and exits outright if it has not after `grace`
seconds. A consumer's outright exit loses nothing: it commits only after its side effects.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger("lrs.orphan")
CHECK_SECONDS = 1.0
EXIT_STATUS = 70  # EX_SOFTWARE: stopped because the supervisor was gone
# Seconds a process whose supervisor died gets, beyond its shutdown grace, to stop by itself.
EXTRA_GRACE = 10.0


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
                log.error("supervisor (pid %d) gone; stopping", self.parent)
                self.terminate()
                if not self.stop.wait(self.grace):
                    self.hard_exit(EXIT_STATUS)
                return

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="orphan-watch", daemon=True)
        thread.start()
        return thread


def watch_supervisor(supervisor: int | None, shutdown_grace: float) -> OrphanWatch | None:
    """Under a supervisor (its pid given): watch it from a daemon thread; else nothing."""
    if supervisor is None:
        return None
    watch = OrphanWatch(supervisor, grace=shutdown_grace + EXTRA_GRACE)
    watch.start()
    return watch
