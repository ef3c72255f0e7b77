"""Kafka topic names, keys and specs."""

from __future__ import annotations

import pytest

from lrs import topics


@pytest.mark.parametrize(
    ("tenant", "entity"),
    [
        ("acme", "mbox:mailto:a@example.com"),
        ("t", "account:http://example.com|é"),
        ("acme", "group:[mbox:mailto:a@example.com,mbox:mailto:b@example.com]"),
        ("acme", ""),
    ],
)
def test_statement_key_round_trips(tenant: str, entity: str) -> None:
    key = topics.statement_key(tenant, entity)
    assert isinstance(key, bytes)
    assert topics.split_key(key) == (tenant, entity)


def test_key_is_tenant_unit_separator_entity_utf8() -> None:
    assert topics.statement_key("acme", "mbox:mailto:é@x.com") == (
        b"acme\x1fmbox:mailto:\xc3\xa9@x.com"
    )


def test_same_learner_in_two_tenants_gets_different_keys() -> None:
    learner = "mbox:mailto:a@example.com"
    assert topics.statement_key("a", learner) != topics.statement_key("b", learner)


def test_tenant_prefix_cannot_forge_another_tenant_key() -> None:
    assert topics.statement_key("ab", "c") != topics.statement_key("a", "bc")


def test_dlq_name() -> None:
    assert topics.dlq(topics.STATEMENTS) == "xapi.statements.dlq"


def test_topic_specs_apply_prefix_and_partitions() -> None:
    specs = {spec.name: spec for spec in topics.topic_specs("dev.", 12)}
    assert set(specs) == {
        "dev.xapi.statements",
        "dev.xapi.statements.dlq",
        "dev.lrs.statements.stored",
        "dev.lrs.statements.stored.dlq",
        "dev.xapi.documents",
        "dev.lrs.progress.learner",
        "dev.lrs.progress.team",
        "dev.lrs.teams",
        "dev.lrs.progress.team-changes",
        "dev.lrs.teams.dlq",
        "dev.lrs.progress.team-changes.dlq",
        "dev.lrs.goals",
        "dev.lrs.progress.goal-changes",
        "dev.lrs.progress.goal-changes.dlq",
        "dev.lrs.progress.goal",
        "dev.lrs.progress.learner.dlq",
        "dev.lrs.progress.team.dlq",  # read by webhooks-team-progress
        "dev.lrs.progress.goal.dlq",  # read by organisation-goals
        "dev.lrs.progress.organisation-changes",
        "dev.lrs.progress.organisation-changes.dlq",
        "dev.lrs.progress.organisation",
    }
    assert specs["dev.xapi.statements.dlq"].partitions == 1
    assert all(spec.partitions == 12 for name, spec in specs.items() if not name.endswith(".dlq"))


@pytest.mark.parametrize(
    ("name", "policy", "retention"),
    [
        (topics.STATEMENTS, "delete", "-1"),
        (topics.dlq(topics.STATEMENTS), "delete", "-1"),
        (topics.dlq(topics.TEAMS), "delete", "-1"),
        (topics.dlq(topics.TEAM_CHANGES), "delete", "-1"),
        (topics.DOCUMENTS, "delete", "-1"),
        (topics.STORED_STATEMENTS, "delete", "-1"),
        (topics.LEARNER_PROGRESS, "compact", None),
        (topics.TEAM_PROGRESS, "compact", None),
        (topics.TEAMS, "compact", None),
        (topics.TEAM_CHANGES, "compact", None),
    ],
)
def test_topic_retention(name: str, policy: str, retention: str | None) -> None:
    spec = next(s for s in topics.topic_specs("", 3) if s.name == name)
    assert spec.config["cleanup.policy"] == policy
    assert spec.config.get("retention.ms") == retention


def test_topic_specs_do_not_share_config_dicts_across_calls() -> None:
    first = topics.topic_specs("", 3)
    first[0].config["retention.ms"] = "1"
    assert topics.topic_specs("", 3)[0].config["retention.ms"] == "-1"


def test_every_consumed_topic_has_its_dead_letter_topic() -> None:
    created = {spec.name: spec for spec in topics.topic_specs("p.", 5)}
    for name in topics.CONSUMED:
        assert created[f"p.{name}.dlq"].partitions == 1
    assert topics.dead_letter_topics("p.") == [f"p.{name}.dlq" for name in topics.CONSUMED]


def test_consumed_topics_are_exactly_those_the_registry_reads() -> None:
    from lrs.wiring.consumers import CONSUMERS

    assert {spec.topic for spec in CONSUMERS.values()} == set(topics.CONSUMED)


def test_a_consumer_of_a_topic_without_dead_letter_topic_is_refused() -> None:
    from lrs.wiring.consumers import ConsumerSpec

    with pytest.raises(ValueError, match="CONSUMED"):
        ConsumerSpec("new", topics.DOCUMENTS, lambda db, settings: None)  # type: ignore[arg-type,return-value]


def test_both_statement_topics_take_records_as_large_as_the_producers_send() -> None:
    specs = {spec.name: spec for spec in topics.topic_specs("", 12)}
    limits = {
        name: specs[name].config.get("max.message.bytes")
        for name in (topics.STATEMENTS, topics.STORED_STATEMENTS)
    }
    assert limits == {
        topics.STATEMENTS: str(16 * 1024 * 1024),
        topics.STORED_STATEMENTS: str(16 * 1024 * 1024),
    }
