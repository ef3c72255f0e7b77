"""The doorbell of the configured LRS (lrs.adapters.doorbell, docs/decisions/0021 item 8), from
the settings: `LRS_DOORBELL_DIR` (set by `lrs serve` on its embedded broker) and how long a
listener stays awake after a ring, which spaces one process's rings."""

from __future__ import annotations

from collections.abc import Callable

from lrs.adapters.doorbell import Doorbell, doorbell_ringer, listening_doorbell
from lrs.settings import LrsSettings


def ringer(settings: LrsSettings) -> Callable[[], None] | None:
    """What a producer that does not listen calls once the broker acknowledged; None without a
    doorbell."""
    return doorbell_ringer(settings.doorbell_dir, settings.consumer_idle_after_seconds)


def listening(settings: LrsSettings, name: str) -> Doorbell | None:
    """This process's doorbell, listening (call it in the running loop); None without one."""
    return listening_doorbell(settings.doorbell_dir, name, settings.consumer_idle_after_seconds)
