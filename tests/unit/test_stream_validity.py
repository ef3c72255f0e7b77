"""An open stream follows its caller's credential (lrs.services.progress.while_valid): it ends
with a comment saying why once the check refuses, and outlives a check that cannot be made."""

from __future__ import annotations

from collections.abc import AsyncIterator

from lrs.services.progress import StreamEvent, while_valid
from lrs.xapi.errors import Forbidden, Unauthenticated


class Checks:
    """Raises, at each call, the next of `outcomes` (None: passes)."""

    def __init__(self, *outcomes: Exception | None) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    async def __call__(self) -> None:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if outcome is not None:
            raise outcome


class Events:
    """Three events; records whether the stream was closed (its clean-up ran)."""

    def __init__(self) -> None:
        self.closed = False

    async def stream(self) -> AsyncIterator[StreamEvent]:
        try:
            for n in range(3):
                yield StreamEvent(event="e", data={"n": n})
        finally:
            self.closed = True


async def collect(events: AsyncIterator[StreamEvent]) -> list[StreamEvent]:
    return [event async for event in events]


async def test_a_revoked_credential_ends_the_stream_with_its_reason() -> None:
    source = Events()
    got = await collect(
        while_valid(
            source.stream(), Checks(None, Unauthenticated("this credential has been revoked"))
        )
    )
    assert [e.data for e in got[:1]] == [{"n": 0}]
    assert got[1:] == [StreamEvent(comment="closed: this credential has been revoked")]
    assert source.closed


async def test_a_disabled_tenant_ends_it_too() -> None:
    got = await collect(while_valid(Events().stream(), Checks(Forbidden("tenant 'a' is disabled"))))
    assert got == [StreamEvent(comment="closed: tenant 'a' is disabled")]


async def test_a_check_that_cannot_be_made_keeps_the_stream() -> None:
    checks = Checks(None, ConnectionError("store unreachable"), None)
    got = await collect(while_valid(Events().stream(), checks))
    assert [e.data for e in got] == [{"n": 0}, {"n": 1}, {"n": 2}]
    assert checks.calls == 3
