"""The pure parts of bench/progress_load.py: which change reflects which POST."""

from __future__ import annotations

from bench.progress_load import SECONDS_PER_STATEMENT, Post, Seen, Team, latencies, make_teams


def test_a_learner_change_counts_from_the_first_event_reaching_its_count() -> None:
    seen = Seen()
    seen.learner("mbox:mailto:a@example.org", 1, at=10.0)
    seen.learner("mbox:mailto:a@example.org", 3, at=10.4)  # two POSTs counted in one batch
    seen.team("mbox:mailto:t@example.org", 2 * SECONDS_PER_STATEMENT, at=10.2)
    seen.team("mbox:mailto:t@example.org", 3 * SECONDS_PER_STATEMENT, at=10.6)
    a, t = "mbox:mailto:a@example.org", "mbox:mailto:t@example.org"
    posts = [Post(t, 9.9, {a: 2}, team_count=2), Post(t, 10.1, {a: 3}, team_count=3)]

    learner, team, missing = latencies(posts, seen)

    # count 2 first reached by the event of 3; a team's time spent counts its statements
    assert [round(x, 3) for x in learner] == [0.5, 0.3]
    assert [round(x, 3) for x in team] == [0.3, 0.5]
    assert missing == 0


def test_changes_never_seen_are_counted_apart() -> None:
    seen = Seen()
    seen.learner("mbox:mailto:a@example.org", 1, at=1.0)
    posts = [Post("mbox:mailto:t@example.org", 0.5, {"mbox:mailto:a@example.org": 2}, 2)]

    learner, team, missing = latencies(posts, seen)

    assert (learner, team, missing) == ([], [], 2)


def test_a_team_hands_out_its_members_in_turn() -> None:
    team = Team("mbox:mailto:t@example.org", {}, ["a", "b", "c"])

    assert team.take(2) == ["a", "b"]
    assert team.take(4) == ["c", "a", "b", "c"]


def test_teams_have_distinct_members_and_group_identifiers() -> None:
    teams = make_teams("run1", teams=3, members=2)

    members = [m for t in teams for m in t.members]
    assert len(set(members)) == 6
    assert len({t.ifi for t in teams}) == 3
    assert all(t.ifi == f"mbox:{t.group['mbox']}" for t in teams)
