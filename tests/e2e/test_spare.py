"""The spare process of `lrs serve` (lrs.entry.embedded.Spare) becomes the child it is handed:
that child's command, environment and log file, under the spare's pid."""

from __future__ import annotations

from pathlib import Path

import pytest

from lrs.entry.embedded import Child, Spare, lrs_child

pytestmark = pytest.mark.e2e


def test_a_spare_becomes_the_child_it_is_handed(tmp_path: Path) -> None:
    spare = Spare({"LRS_KAFKA_BOOTSTRAP": "127.0.0.1:1"})
    spare.start()
    assert spare.process is not None
    pid = spare.process.pid
    log = tmp_path / "topics.log"
    # `lrs topics create` without a broker configured says so and exits with 2
    child = lrs_child("topics", ["topics", "create"], {"LRS_KAFKA_BOOTSTRAP": ""}, log)
    try:
        assert spare.take_over(child)
        assert child.pid == pid
        assert child.process is not None
        assert child.process.wait(60) == 2
    finally:
        child.kill()
        spare.stop()
    assert "LRS_KAFKA_BOOTSTRAP is not set" in log.read_text()
    assert not spare.alive()


def test_a_spare_takes_over_only_lrs_children(tmp_path: Path) -> None:
    spare = Spare({})
    spare.start()
    try:
        assert not spare.take_over(Child("broker", ["/bin/true"]))
    finally:
        spare.stop()
    assert not spare.alive()
