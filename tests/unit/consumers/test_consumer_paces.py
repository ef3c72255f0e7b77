"""Each consumer's fetch waits follow its pace (lrs.fetch_pacing): the acknowledgement path
keeps the short busy wait, the consumers a watched stream waits for keep the short idle wait."""

from __future__ import annotations

from lrs.fetch_pacing import ACK_PATH_FETCH_WAIT_MS
from lrs.settings import LrsSettings
from lrs.wiring.consumers import CONSUMERS

SETTINGS = LrsSettings(
    consumer_fetch_wait_ms=100,
    consumer_background_fetch_wait_ms=500,
    consumer_idle_fetch_wait_ms=500,
    consumer_background_idle_fetch_wait_ms=5000,
)


def waits(name: str) -> tuple[int, int]:
    return CONSUMERS[name].fetch_waits(SETTINGS)


def test_the_persister_answers_acknowledgements_so_it_keeps_the_shortest_busy_wait() -> None:
    assert waits("persist") == (ACK_PATH_FETCH_WAIT_MS, 500)
    assert ACK_PATH_FETCH_WAIT_MS == LrsSettings().consumer_ack_fetch_wait_ms < 100


def test_the_consumers_between_a_statement_and_its_streams_wake_quickly_after_a_silence() -> None:
    """A learner's, a team's and a goal's stream (issue 14: a goal's change within 1 s)."""
    for name in ("progress", "team-progress", "goal-triggers", "goal-progress"):
        assert waits(name) == (100, 500), name


def test_webhooks_and_organisation_progress_may_wait_longer_busy_and_after_a_silence() -> None:
    background = {name for name in CONSUMERS if waits(name) == (500, 5000)}
    assert background == {
        "team-registry",
        "goal-teams",
        "webhooks",
        "webhooks-learner-progress",
        "webhooks-team-progress",
        "organisation-learners",
        "organisation-teams",
        "organisation-goals",
        "organisation-progress",
    }


def test_by_default_the_background_consumers_fetch_less_often_while_records_flow() -> None:
    defaults = LrsSettings()
    assert CONSUMERS["webhooks"].fetch_waits(defaults)[0] == 500
    assert CONSUMERS["progress"].fetch_waits(defaults)[0] == 100


def test_the_settings_choose_the_waits() -> None:
    tuned = LrsSettings(
        consumer_fetch_wait_ms=50,
        consumer_background_fetch_wait_ms=250,
        consumer_idle_fetch_wait_ms=800,
        consumer_background_idle_fetch_wait_ms=9000,
        consumer_ack_fetch_wait_ms=30,
    )
    assert CONSUMERS["progress"].fetch_waits(tuned) == (50, 800)
    assert CONSUMERS["webhooks"].fetch_waits(tuned) == (250, 9000)
    assert CONSUMERS["persist"].fetch_waits(tuned) == (30, 800)


def test_organisation_progress_and_the_persister_linger_as_their_settings_say() -> None:
    """organisation-progress reads every learner of a tenant per batch: it gathers longer
    batches than the other progress consumers; the persister only when told to."""
    defaults = LrsSettings()
    assert CONSUMERS["organisation-progress"].linger_ms(defaults) == 1000
    assert CONSUMERS["progress"].linger_ms(defaults) == defaults.progress_linger_ms == 150
    assert CONSUMERS["persist"].linger_ms(defaults) == 0
    tuned = LrsSettings(organisation_linger_ms=300, persist_linger_ms=25)
    assert CONSUMERS["organisation-progress"].linger_ms(tuned) == 300
    assert CONSUMERS["persist"].linger_ms(tuned) == 25


def test_only_the_learner_and_team_progress_lingers_follow_the_load() -> None:
    """organisation-progress keeps its whole linger: it reads every learner of a tenant per
    batch, so it gathers batches even while the store keeps up (consumers.linger)."""
    defaults = LrsSettings()
    following = {name for name, spec in CONSUMERS.items() if spec.linger_follows_load(defaults)}
    assert following == {"progress", "team-progress"}
    fixed = LrsSettings(progress_linger_follows_load=False)
    assert not any(spec.linger_follows_load(fixed) for spec in CONSUMERS.values())
