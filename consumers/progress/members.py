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

# About this many KB of member summaries are held, in all teams (the least recently used teams
# go first; a larger team is never held). Measured: a decoded summary takes about 1.5 KB plus
# 1 KB per activity row (14.5 KB with 13 activities, 21 KB with 19), so `_kb` counts 2 + rows.
MOST_HELD_KB = 64 * 1024

Members = dict[str, LearnerSummary | None]  # member -> stored summary (None: has no progress)


def _kb(members: Mapping[str, LearnerSummary | None]) -> int:
    """About what the members take (a member without progress counted as 1 KB: more than it
    takes, so a registry team of thousands without progress is bounded too)."""
    return sum(
        2 + len((s.summary or {}).get("activities") or ()) if s else 1 for s in members.values()
    )


HeldMembers = Held[LearnerSummary | None]  # per (tenant, team): its members' summaries


def held_members(most_kb: int = MOST_HELD_KB) -> HeldMembers:
    """A holder of teams' members (key: (tenant, team); values: member -> stored summary, None
    without progress), about `most_kb` KB in all."""
    return Held(_kb, most_kb)


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
