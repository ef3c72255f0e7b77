"""The member summaries a team-progress instance holds between triggers (docs/decisions/0033).

A team's progress is a function of its members' stored summaries. Reading every member for each
trigger cost the store more than anything but the statement inserts and the learner writes when
statements come one at a time. The progress consumer therefore names, in each team trigger, the
members whose stored progress it changed (`team_change_message`), and team-progress reads only
those when it holds the others' summaries from its last computation of the team.

What it holds is right as long as no change to a member went by without this instance seeing a
trigger naming that member, which it relies on in this way:

* every write of a learner's progress is followed by a trigger naming the learner for each
  team it is or was in; out-of-band changes (erasure, rebuild, a registry change, the recovery
  after a crash) send plain triggers, which make the team read whole;
* a trigger produced after a read lands after the record being handled, so a member that
  changes after its summary was read is named again later in the same partition;
* so only a gap in what this instance handled can hide a change: a partition handed to another
  instance and back, a record removed by compaction, a batch handled again. Each shows as
  offsets that do not follow on from the last ones handled (`follow`), and the partition's
  teams are forgotten; a team document written by someone else shows as a version other than
  the one held, and that team is read whole;
* and in any case every team is read whole at least once a minute (MOST_HELD_AGE).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from consumers.runner import Record
from lrs.ports.progress import LearnerSummary

# A team's members are read whole again once their last whole read is this old, whatever the
# triggers say: a bound on how long a change that reached no trigger (a learner erasure that
# stopped before its triggers, a team left two versions back, see docs/decisions/0033) can
# stay out of a team held from before it.
MOST_HELD_AGE = timedelta(seconds=60)

# About this many KB of member summaries are held, in all teams (the least recently used teams
# go first; a larger team is never held). Measured: a decoded summary takes about 1.5 KB plus
# 1 KB per activity row (14.5 KB with 13 activities, 21 KB with 19), so `_kb` counts 2 + rows.
MOST_HELD_KB = 64 * 1024

Members = dict[str, LearnerSummary | None]  # member -> stored summary (None: has no progress)


@dataclass
class _Held:
    partition: int
    version: int  # of the team document the members gave
    members: Members
    kb: int  # about what the summaries take in memory
    read_at: datetime  # when every member was last read


def _kb(members: Members) -> int:
    """About what the members take (a member without progress counted as 1 KB: more than it
    takes, so a registry team of thousands without progress is bounded too)."""
    return sum(
        2 + len((s.summary or {}).get("activities") or ()) if s else 1 for s in members.values()
    )


class HeldMembers:
    """Per team, the members and summaries its last computation used, with the team document's
    version it wrote or found, for the teams of the partitions this instance handles."""

    def __init__(self, most_kb: int = MOST_HELD_KB) -> None:
        self._most_kb = most_kb
        self._teams: OrderedDict[tuple[str, str], _Held] = OrderedDict()
        self._kb = 0
        self._next_offset: dict[int, int] = {}

    def follow(self, records: Sequence[Record]) -> None:
        """Note a batch about to be handled; forget the teams of each partition whose offsets
        do not follow on, without a gap, from the last batch's."""
        offsets: dict[int, list[int]] = {}
        for record in records:
            offsets.setdefault(record.partition, []).append(record.offset)
        for partition, seen in offsets.items():
            seen.sort()
            follows = self._next_offset.get(partition) == seen[0]
            if not follows or any(b != a + 1 for a, b in pairwise(seen)):
                self._forget_partition(partition)
            self._next_offset[partition] = seen[-1] + 1

    def members(self, tenant: str, team: str, version: int, now: datetime) -> Members | None:
        """A copy of the team's held members, if they gave the team document at `version` and
        were last read whole less than MOST_HELD_AGE before `now`."""
        held = self._teams.get((tenant, team))
        if held is None or held.version != version or now - held.read_at >= MOST_HELD_AGE:
            return None
        self._teams.move_to_end((tenant, team))
        return dict(held.members)

    def keep(
        self,
        tenant: str,
        team: str,
        partition: int,
        version: int,
        members: Members,
        read_at: datetime | None,
    ) -> None:
        """Hold the team's members; `read_at`: when they were all read, None when only some
        were (the whole read before stays the one that counts)."""
        before = self._teams.get((tenant, team))
        self.forget(tenant, team)
        kb = _kb(members)
        whole_read = read_at or (before.read_at if before else None)
        if kb > self._most_kb or whole_read is None:
            return
        self._teams[(tenant, team)] = _Held(partition, version, dict(members), kb, whole_read)
        self._kb += kb
        while self._kb > self._most_kb:
            _, oldest = self._teams.popitem(last=False)
            self._kb -= oldest.kb

    def forget(self, tenant: str, team: str) -> None:
        held = self._teams.pop((tenant, team), None)
        if held is not None:
            self._kb -= held.kb

    def _forget_partition(self, partition: int) -> None:
        for key in [k for k, held in self._teams.items() if held.partition == partition]:
            self.forget(*key)


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
