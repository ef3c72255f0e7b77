"""The signal `lrs serve` sends its API processes after it restarted the embedded broker:
their live feed then reads every topic again from its beginning
(`KafkaProgressFeed.rewind`, docs/decisions/0010). Ignored until the feed can take it, so a
process that is still starting is not ended by the signal's default action."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

FEED_REWIND = signal.SIGUSR1

log = logging.getLogger("lrs.signals")


def ignore_feed_rewind() -> None:
    """First thing in every `python -m lrs` process (lrs.__main__)."""
    signal.signal(FEED_REWIND, signal.SIG_IGN)


def on_feed_rewind(rewind: Callable[[], None]) -> Callable[[], None]:
    """Call `rewind` on the signal, in the running loop; returns what ignores it again. Only
    the main thread can take signals: elsewhere (an app served in a test's thread) nothing is
    installed, and the broker such a process uses is not restarted under it."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(FEED_REWIND, rewind)
    except (RuntimeError, ValueError):
        log.debug("not the main thread: the feed is not rewound on %s", FEED_REWIND.name)
        return lambda: None

    def ignore_again() -> None:
        loop.remove_signal_handler(FEED_REWIND)
        ignore_feed_rewind()

    return ignore_again
