"""An API process of `lrs serve` stops when its supervisor is gone (lrs.entry.orphan)."""

from __future__ import annotations

from lrs.entry.orphan import EXIT_STATUS, OrphanWatch

SUPERVISOR = 4242


def parents(*pids: int) -> object:
    """getppid answering each of `pids` in turn, then the last one for ever."""
    answers = list(pids)

    def getppid() -> int:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    return getppid


def test_a_new_parent_stops_the_process_gracefully_first() -> None:
    calls: list[str] = []
    watch = OrphanWatch(SUPERVISOR, grace=5.0, interval=0.0, hard_exit=calls.append)
    watch.getppid = parents(SUPERVISOR, SUPERVISOR, 1)  # type: ignore[assignment]

    def terminate() -> None:
        calls.append("terminate")
        watch.stop.set()  # stands for the graceful stop ending the process within the grace

    watch.terminate = terminate
    watch.run()
    assert calls == ["terminate"]


def test_a_stop_that_hangs_ends_in_a_hard_exit() -> None:
    calls: list[object] = []
    watch = OrphanWatch(SUPERVISOR, grace=0.0, interval=0.0, hard_exit=calls.append)
    watch.getppid = parents(SUPERVISOR, 1)  # type: ignore[assignment]
    watch.terminate = lambda: calls.append("terminate")
    watch.run()
    assert calls == ["terminate", EXIT_STATUS]


def test_nothing_happens_while_the_supervisor_lives() -> None:
    calls: list[object] = []
    watch = OrphanWatch(SUPERVISOR, grace=0.0, interval=0.0, hard_exit=calls.append)
    looks: list[int] = []

    def getppid() -> int:
        looks.append(SUPERVISOR)
        if len(looks) == 50:
            watch.stop.set()
        return SUPERVISOR

    watch.getppid = getppid
    watch.terminate = lambda: calls.append("terminate")
    watch.run()
    assert len(looks) == 50
    assert calls == []
