"""The doorbell between the processes of one `lrs serve` (lrs.adapters.doorbell,
docs/decisions/0021 item 8), on real Unix datagram sockets in a temporary directory."""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lrs.adapters.doorbell import (
    MAX_PATH_BYTES,
    Doorbell,
    doorbell_dir_for,
    doorbell_ringer,
    fresh_doorbell_dir,
    listening_doorbell,
    ring_interval,
)
from lrs.entry import supervisor
from lrs.entry.embedded import Child
from lrs.settings import LrsSettings

WITHIN = 20.0  # a ring arrives in microseconds; the bound only ends a broken test


@dataclass
class Clock:
    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def bells(tmp_path: Path) -> Path:
    return tmp_path / "bells"


@pytest.fixture
def raw_listener(bells: Path) -> Iterator[socket.socket]:
    """A socket of the test's own in the directory, read without blocking: it shows exactly
    which datagrams were sent."""
    bells.mkdir(parents=True, exist_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(bells / "raw.bell"))
    listener.setblocking(False)
    yield listener
    listener.close()


def names(directory: Path) -> list[str] | None:
    """The directory's entries; None when there is no such directory."""
    return sorted(p.name for p in directory.iterdir()) if directory.is_dir() else None


def received(listener: socket.socket) -> list[bytes]:
    """What the listener holds, up to a sentinel the test sends itself (datagrams to one
    socket are queued in the order sent)."""
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sender.sendto(b"end", listener.getsockname())
    sender.close()
    got = []
    while (datagram := listener.recv(64)) != b"end":
        got.append(datagram)
    return got


async def test_a_ring_wakes_every_listener_the_ringer_included(bells: Path) -> None:
    first, second = Doorbell(bells, "api"), Doorbell(bells, "persist")
    assert first.listen()
    assert second.listen()
    try:
        first.ring()
        assert await asyncio.wait_for(second.wait(WITHIN), WITHIN)
        assert await asyncio.wait_for(first.wait(WITHIN), WITHIN)
        assert not second.take()  # a ring is heard once
    finally:
        first.close()
        second.close()


async def test_rings_of_one_process_are_at_least_ring_every_apart(
    bells: Path, raw_listener: socket.socket
) -> None:
    clock = Clock()
    bell = Doorbell(bells, "api", ring_every=5.0, clock=clock)
    bell.ring()
    clock.now += 4.9
    bell.ring()
    assert received(raw_listener) == [b"\x01"]
    clock.now += 0.1
    bell.ring()
    assert received(raw_listener) == [b"\x01"]
    bell.close()


async def test_a_socket_nobody_listens_on_is_skipped_and_the_others_still_rung(
    bells: Path, raw_listener: socket.socket
) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    dead.bind(str(bells / "killed-1.bell"))
    dead.close()  # its file stays, as after a SIGKILL
    (bells / "not-a-socket.bell").write_bytes(b"")
    Doorbell(bells, "api").ring()
    assert received(raw_listener) == [b"\x01"]


async def test_ringing_before_anyone_listens_does_nothing(bells: Path) -> None:
    Doorbell(bells, "api").ring()  # no directory yet: no error
    assert names(bells) is None


async def test_a_bell_wait_ends_false_without_a_ring(bells: Path) -> None:
    bell = Doorbell(bells, "api")
    assert bell.listen()
    try:
        assert not await bell.wait(0.01)
    finally:
        bell.close()


async def test_closing_removes_the_socket_file(bells: Path) -> None:
    bell = Doorbell(bells, "api")
    assert bell.listen()
    assert [Path(name).suffix for name in names(bells) or []] == [".bell"]
    bell.close()
    assert names(bells) == []


async def test_a_path_too_long_for_a_socket_leaves_the_process_without_doorbell(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("d" * (MAX_PATH_BYTES - len(str(tmp_path))))
    assert listening_doorbell(deep, "api", 30.0) is None
    assert not names(deep)


async def test_without_a_directory_nothing_listens_or_rings() -> None:
    assert listening_doorbell(None, "api", 30.0) is None
    assert doorbell_ringer(None, 30.0) is None


async def test_a_ringer_alone_rings_the_listeners(bells: Path, raw_listener: socket.socket) -> None:
    ring = doorbell_ringer(bells, 30.0)
    assert ring is not None
    ring()
    assert received(raw_listener) == [b"\x01"]


def test_a_fresh_directory_holds_no_socket_left_by_a_killed_run(bells: Path) -> None:
    bells.mkdir()
    (bells / "persist-12.bell").write_bytes(b"")
    (bells / "keep.txt").write_bytes(b"")
    assert fresh_doorbell_dir(bells) == bells
    assert sorted(p.name for p in bells.iterdir()) == ["keep.txt"]


def test_a_fresh_directory_is_this_users_alone(tmp_path: Path) -> None:
    made = tmp_path / "made"
    assert fresh_doorbell_dir(made) == made
    assert stat.S_IMODE(os.stat(made).st_mode) == 0o700
    earlier = tmp_path / "earlier"  # as an earlier version made it
    earlier.mkdir()
    os.chmod(earlier, 0o777)
    assert fresh_doorbell_dir(earlier) == earlier
    assert stat.S_IMODE(os.stat(earlier).st_mode) == 0o700


def test_no_doorbell_in_a_directory_that_is_a_link(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "bells").symlink_to(elsewhere)
    assert fresh_doorbell_dir(tmp_path / "bells") is None


def test_no_doorbell_in_another_users_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bells = tmp_path / "bells"
    bells.mkdir()
    owner = os.stat(bells).st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)
    assert fresh_doorbell_dir(bells) is None


def test_rings_are_a_few_per_stretch_a_listener_stays_awake() -> None:
    assert ring_interval(30.0) == 5.0
    assert ring_interval(2.0) == 0.5


@pytest.fixture
def serve_parts(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., supervisor.Stack]]:
    """`lrs serve`'s start of its embedded parts, with the broker and store not started; each
    stack is stopped at the end (its doorbell directory removed)."""
    monkeypatch.setattr(supervisor, "broker_child", lambda port, log=None: Child("broker", []))
    monkeypatch.setattr(supervisor, "start_and_wait", lambda child, port: None)
    stacks: list[supervisor.Stack] = []

    def start(data_dir: Path, **settings: Any) -> supervisor.Stack:
        stack = supervisor.Stack(
            LrsSettings(data_dir=data_dir, mongodb_uri="mongodb://127.0.0.1:9", **settings)
        )
        stack.start_parts()
        stacks.append(stack)
        return stack

    yield start
    for stack in stacks:
        stack.stop_all()


def test_serve_on_its_embedded_broker_gives_its_children_a_fresh_doorbell(
    tmp_path: Path, serve_parts: Callable[..., supervisor.Stack]
) -> None:
    bells = doorbell_dir_for(tmp_path)
    bells.mkdir(parents=True, exist_ok=True)
    (bells / "persist-12.bell").write_bytes(b"")  # left by a killed run
    stack = serve_parts(tmp_path)
    assert stack.env["LRS_DOORBELL_DIR"] == str(bells)
    assert stack.settings.doorbell_dir == bells  # its own producers ring too
    assert names(bells) == []


def test_serve_gives_no_doorbell_when_its_directory_is_not_its_own(
    tmp_path: Path, serve_parts: Callable[..., supervisor.Stack]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = doorbell_dir_for(tmp_path)  # in the machine's temporary directory: removed below
    link.symlink_to(elsewhere)
    try:
        stack = serve_parts(tmp_path)
        assert "LRS_DOORBELL_DIR" not in stack.env
        assert stack.settings.doorbell_dir is None
    finally:
        link.unlink()


@pytest.mark.parametrize(
    "settings",
    [{"doorbell": False}, {"kafka_bootstrap": "127.0.0.1:9"}],
    ids=["turned off", "external broker"],
)
def test_serve_gives_no_doorbell_when_turned_off_or_on_an_external_broker(
    tmp_path: Path, serve_parts: Callable[..., supervisor.Stack], settings: dict[str, Any]
) -> None:
    stack = serve_parts(tmp_path, **settings)
    assert "LRS_DOORBELL_DIR" not in stack.env
    assert stack.settings.doorbell_dir is None


def test_a_data_directory_too_deep_for_sockets_gets_its_doorbell_in_the_temporary_directory(
    tmp_path: Path,
) -> None:
    assert doorbell_dir_for(Path("/srv/lrs")) == Path("/srv/lrs/bells")
    deep = tmp_path / ("d" * 80)
    other = tmp_path / ("e" * 80)
    chosen = doorbell_dir_for(deep)
    assert chosen.parent == Path(tempfile.gettempdir())
    assert chosen.name.startswith("lrs-bells-")
    assert doorbell_dir_for(deep) == chosen  # the same data directory, the same doorbell
    assert doorbell_dir_for(other) != chosen
    longest = chosen / f"webhooks-learner-progress-{4_194_304}.bell"
    assert len(os.fsencode(longest)) <= MAX_PATH_BYTES


def test_serve_with_a_deep_data_directory_still_gives_its_children_a_doorbell(
    tmp_path: Path, serve_parts: Callable[..., supervisor.Stack]
) -> None:
    deep = tmp_path / ("d" * 80)
    stack = serve_parts(deep)
    assert stack.env["LRS_DOORBELL_DIR"] == str(doorbell_dir_for(deep))
    assert names(doorbell_dir_for(deep)) == []


def test_serve_removes_its_doorbell_directory_when_it_stops(
    tmp_path: Path, serve_parts: Callable[..., supervisor.Stack]
) -> None:
    deep = tmp_path / ("d" * 80)  # a directory of its own in the temporary directory
    stack = serve_parts(deep)
    stack.stop_all()
    assert names(doorbell_dir_for(deep)) is None
