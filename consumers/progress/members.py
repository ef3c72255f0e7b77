"""The member summaries a team-progress instance holds between triggers (docs/decisions/0033).

A team's progress is a function of its members' stored summaries. Reading every member for each
trigger cost the store more than anything but the statement inserts and the learner writes when
statements come one at a time. The progress consumer therefore names, in each team trigger, the
members whose stored progress it changed (`team_change_message`), and team-progress reads only
those when it holds the others' summaries from its last computation of the team.

What it holds is right as long as no change to a member went by without this instance seeing a
trigger naming that member (consumers.held says how): every write of a learner's progress is
followed by a trigger naming the learner for each team it is or was in; out-of-band changes
(erasure, rebuild, a registry change, the recovery after a crash) send plain triggers, which
make the team read whole.
"""

from __future__ import annotations

from collections.abc import Mapping

from consumers.held import Held
from lrs.ports.progress import LearnerSummary
from lrs.progress.team import member_view

# About this many KB of member summaries are held, in all teams (the least recently used teams
# go first; a larger team is never held). A member is held as `as_member` cuts its summary
# down: about 800 bytes plus 336 per activity row (their strings shared; measured by
# bench/held_memory.py: 4.0 KB with 9.8 rows, 6.6 KB with 17.5, where the whole summary as
# read took 11.9 and 20.1 KB), so 64 MB hold some 10,000-16,000 members (`_weight`).
MOST_HELD_KB = 64 * 1024
MEMBER_BYTES, ROW_BYTES, NO_PROGRESS_BYTES = 800, 336, 1024

Members = dict[str, LearnerSummary | None]  # member -> stored summary (None: has no progress)


def _weight(members: Mapping[str, LearnerSummary | None]) -> int:
    """About what the members take, in bytes (a member without progress counted as 1 KB:
    more than it takes, so a registry team of thousands without progress is bounded too)."""
    return sum(
        MEMBER_BYTES + ROW_BYTES * len((s.summary or {}).get("activities") or ())
        if s
        else NO_PROGRESS_BYTES
        for s in members.values()
    )


HeldMembers = Held[LearnerSummary | None]  # per (tenant, team): its members' summaries


def as_member(read: LearnerSummary) -> LearnerSummary:
    """A learner's summary as read, cut down to what a team's progress reads of it
    (`lrs.progress.team.member_view`): the same team value, for a fraction of the memory
    held."""
    summary = member_view(read.summary) if read.summary is not None else None
    return LearnerSummary(read.learner, summary, read.teams)


def held_members(most_kb: int = MOST_HELD_KB) -> HeldMembers:
    """A holder of teams' members (key: (tenant, team); values: member -> stored summary, None
    without progress), about `most_kb` KB in all."""
    return Held(_weight, most_kb * 1024)


def team_members(
    team: str,
    registered: set[str],
    held: Mapping[str, LearnerSummary | None],
    read: Mapping[str, LearnerSummary],
    reread: set[str],
) -> Members:
    """The team's members and their summaries: those `held` (none when the team is read whole),
    each of `reread` replaced by what was `read` of it (absent: no progress now) and every
    learner read that lists the team added. A member is registered or lists the team."""
    merged: dict[str, LearnerSummary | None] = dict(held)
    merged.update({learner: read.get(learner) for learner in reread})
    merged.update({learner: s for learner, s in read.items() if team in s.teams})
    return {
        learner: s
        for learner, s in merged.items()
        if learner in registered or (s is not None and team in s.teams)
    }
