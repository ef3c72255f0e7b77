"""A child of `lrs serve` is asked to die with its parent; a parent gone before that request
(between the fork and the request) leaves the child unstarted (lrs.entry.embedded)."""

from __future__ import annotations

import os
import subprocess
import sys

from lrs.entry.embedded import die_with_parent


def started(parent: int) -> int:
    """Exit status of a child that runs `pass` when it starts, its parent said to be `parent`."""
    process = subprocess.Popen([sys.executable, "-c", "pass"], preexec_fn=die_with_parent(parent))
    return process.wait(30)


def test_a_child_of_a_living_parent_starts() -> None:
    assert started(os.getpid()) == 0


def test_a_child_whose_parent_is_no_longer_the_one_that_started_it_does_not_start() -> None:
    assert started(os.getpid() + 1) == 1  # its parent is us, not the process it was started by
