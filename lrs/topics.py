"""Kafka topic names, keys and headers: the one place that knows them (docs/decisions/0001
and 0008).

Keys are ``<tenant>\\x1f<entity>`` in UTF-8: the unit separator cannot appear in a tenant id, so
two tenants never share a key, and every message of one learner of one tenant lands on one
partition (their statements stay ordered).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

KEY_SEPARATOR = "\x1f"

STATEMENTS = "xapi.statements"
DOCUMENTS = "xapi.documents"
LEARNER_PROGRESS = "lrs.progress.learner"
TEAM_PROGRESS = "lrs.progress.team"
TEAMS = "lrs.teams"
# Internal re-key step: learner-keyed progress changes -> team-keyed triggers (key tenant+team).
TEAM_CHANGES = "lrs.progress.team-changes"
# Internal: every statement the store holds, forwarded by the persister after its insert (the
# stored version; conflicting duplicates are not forwarded), keyed and partitioned exactly like
# `xapi.statements`. The progress consumer reads it, and nothing else writes a learner's
# progress: the team-registry consumer puts "refresh learner" triggers on it (same key, so the
# same partition and the one instance that owns the learner). The `ce_type` header tells a
# statement (STATEMENT_ACCEPTED_TYPE) from a trigger (LEARNER_REFRESH_TYPE).
STORED_STATEMENTS = "lrs.statements.stored"
# Goals (docs/decisions/0019-goals.md): the definitions the API publishes (key tenant + goal id,
# compacted), the internal "recompute this goal" triggers (same key, compacted; from the API, the
# goal-triggers consumer and the goal-progress consumer's clock) and goal progress (same key).
GOALS = "lrs.goals"
GOAL_CHANGES = "lrs.progress.goal-changes"
GOAL_PROGRESS = "lrs.progress.goal"
# Organisation progress (docs/decisions/0020-organisation-progress.md): the internal "recompute
# this tenant" triggers (compacted, key tenant + ORGANISATION_ENTITY; from the organisation-*
# trigger consumers and the organisation-progress consumer's clock) and the tenant's summary
# (same key, compacted).
ORGANISATION_CHANGES = "lrs.progress.organisation-changes"
ORGANISATION_PROGRESS = "lrs.progress.organisation"
ORGANISATION_ENTITY = "organisation"
# Every topic a consumer of lrs/wiring/consumers.py reads (the registry refuses any other). Each
# gets its dead-letter topic, `dlq(name)`, from `topic_specs`: a new consumed topic added here
# has its DLQ created with it (docs/decisions/0008).
CONSUMED = (
    STATEMENTS,
    STORED_STATEMENTS,
    TEAMS,
    TEAM_CHANGES,
    LEARNER_PROGRESS,
    GOAL_CHANGES,
    TEAM_PROGRESS,
    GOAL_PROGRESS,
    ORGANISATION_CHANGES,
)

# CloudEvents-style headers (binary content mode), plus our own tenant header.
HEADER_TENANT = "lrs_tenant"
# On `xapi.statements`: "1" when the sending credential may (re)define Activities (the xAPI
# `define` scope), "0" when not; absent (records older than the header) counts as "1".
HEADER_DEFINE = "lrs_define"
# On `xapi.statements`: ACK_STORED when the API process that produced the record waits for its
# stored version and answers its client itself (`LRS_ACK_MODE=stored`). For a record with an id
# the store already holds with other content, that API answers 409, so the persister forwards
# the stored statement (which ends the wait) instead of dead-lettering the record. Absent (the
# `kafka` mode, records of versions before 2026-12-01): dead-lettered (docs/decisions/0002).
HEADER_ACK = "lrs_ack"
ACK_STORED = "stored"
HEADER_CE_ID = "ce_id"
HEADER_CE_TYPE = "ce_type"
HEADER_CE_SOURCE = "ce_source"
HEADER_CE_TIME = "ce_time"
HEADER_CE_SPECVERSION = "ce_specversion"
HEADER_CONTENT_TYPE = "content-type"
HEADER_ERROR_CLASS = "lrs_error_class"
HEADER_ERROR_MESSAGE = "lrs_error_message"
HEADER_ORIGINAL_TOPIC = "lrs_original_topic"
HEADER_ORIGINAL_PARTITION = "lrs_original_partition"
HEADER_ORIGINAL_OFFSET = "lrs_original_offset"
# On a dead letter: the consumer (lrs/wiring/consumers.py name) that could not process it. Today
# each consumed topic has one consumer; the header still says which, for when a topic gains a
# second (then the topic alone would not say).
HEADER_CONSUMER = "lrs_consumer"
# On a dead letter whose value could not be written to the DLQ (too large): "1"; the value is
# then only at the original topic/partition/offset.
HEADER_VALUE_OMITTED = "lrs_value_omitted"

# On a replayed record: the consumer it is replayed for (the others skip it) and the dead
# letter it came from ("<dlq topic>/<partition>/<offset>").
HEADER_REPLAY_FOR = "lrs_replay_for"
HEADER_REPLAYED_FROM = "lrs_replayed_from"
# On a progress value cut down to fit one record (lrs.progress.bounds): how many entries of
# its `activities` / `teams` lists are left out.
HEADER_ACTIVITIES_OMITTED = "lrs_activities_omitted"
HEADER_TEAMS_OMITTED = "lrs_teams_omitted"
# What a dead letter adds to the original record's headers (a replay removes them again).
DEAD_LETTER_HEADERS = frozenset(
    {
        HEADER_ERROR_CLASS,
        HEADER_ERROR_MESSAGE,
        HEADER_ORIGINAL_TOPIC,
        HEADER_ORIGINAL_PARTITION,
        HEADER_ORIGINAL_OFFSET,
        HEADER_CONSUMER,
        HEADER_VALUE_OMITTED,
        HEADER_REPLAY_FOR,
        HEADER_REPLAYED_FROM,
    }
)


def without_dead_letter_headers(
    headers: Sequence[tuple[str, bytes]] | None,
) -> list[tuple[str, bytes]]:
    """A record's own headers: what a dead letter or a replay added taken out."""
    return [(k, v) for k, v in headers or () if k not in DEAD_LETTER_HEADERS]


STATEMENT_ACCEPTED_TYPE = "org.lrs.xapi.statement.accepted.v1"
LEARNER_PROGRESS_TYPE = "org.lrs.progress.learner.v1"
TEAM_PROGRESS_TYPE = "org.lrs.progress.team.v1"
TEAM_CHANGED_TYPE = "org.lrs.progress.team-changed.v1"
LEARNER_REFRESH_TYPE = "org.lrs.progress.learner-refresh.v1"
GOAL_TYPE = "org.lrs.goals.goal.v1"
GOAL_CHANGED_TYPE = "org.lrs.progress.goal-changed.v1"
GOAL_PROGRESS_TYPE = "org.lrs.progress.goal.v1"
ORGANISATION_CHANGED_TYPE = "org.lrs.progress.organisation-changed.v1"
ORGANISATION_PROGRESS_TYPE = "org.lrs.progress.organisation.v1"


DLQ_SUFFIX = ".dlq"


def dlq(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return f"{topic}{DLQ_SUFFIX}"


def dead_letter_topics(prefix: str) -> list[str]:
    """The dead-letter topic of every consumed topic, with the settings' prefix."""
    return [prefix + dlq(name) for name in CONSUMED]


def statement_key(tenant: str, actor_ifi: str) -> bytes:
    """Key of a statement message: tenant + canonical actor identifier (the learner)."""
    return f"{tenant}{KEY_SEPARATOR}{actor_ifi}".encode()


def learner_key(tenant: str, learner: str) -> bytes:
    """Key of a learner-progress message: tenant + learner id (the statements' key too)."""
    return f"{tenant}{KEY_SEPARATOR}{learner}".encode()


def learner_refresh_key(tenant: str, learner: str) -> bytes:
    """Key of a learner-refresh trigger on `lrs.statements.stored`: the learner's statement key,
    so the trigger lands on the partition of the learner's statements."""
    return statement_key(tenant, learner)


def team_key(tenant: str, team: str) -> bytes:
    """Key of a team message (registry, team progress, team-change trigger): tenant + team."""
    return f"{tenant}{KEY_SEPARATOR}{team}".encode()


def goal_key(tenant: str, goal_id: str) -> bytes:
    """Key of a goal message (definition, trigger, progress): tenant + goal id."""
    return f"{tenant}{KEY_SEPARATOR}{goal_id}".encode()


def organisation_key(tenant: str) -> bytes:
    """Key of an organisation message (trigger, progress): the tenant, with the fixed entity
    `organisation` so that it splits like every other key."""
    return f"{tenant}{KEY_SEPARATOR}{ORGANISATION_ENTITY}".encode()


def split_key(key: bytes) -> tuple[str, str]:
    """Inverse of the key functions: (tenant, entity)."""
    tenant, _, entity = key.decode().partition(KEY_SEPARATOR)
    return tenant, entity


@dataclass(frozen=True)
class TopicSpec:
    """A topic as we create it (deploy/kafka/topics.yaml documents the production values)."""

    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


# The largest record the LRS produces: every producer's `max_request_size` (the API's bus, the
# consumers' runner, the dead-letter replay) and the statement topics' `max.message.bytes`, so
# the broker's default (about 1 MB) is not a lower, hidden one. `lrs.statements.stored` carries
# the same statements as `xapi.statements` (plus the store's spelling), so it has the same limit.
MAX_RECORD_BYTES = 16 * 1024 * 1024


def topic_specs(prefix: str, statement_partitions: int) -> list[TopicSpec]:
    """Every topic the LRS produces to, with its partitioning and retention."""
    forever = {"retention.ms": "-1", "cleanup.policy": "delete"}
    statements = {**forever, "max.message.bytes": str(MAX_RECORD_BYTES)}
    compacted = {"cleanup.policy": "compact"}
    names = [
        TopicSpec(STATEMENTS, statement_partitions, statements),
        TopicSpec(STORED_STATEMENTS, statement_partitions, dict(statements)),
        TopicSpec(DOCUMENTS, statement_partitions, forever),
        TopicSpec(LEARNER_PROGRESS, statement_partitions, compacted),
        TopicSpec(TEAM_PROGRESS, statement_partitions, compacted),
        TopicSpec(TEAMS, statement_partitions, compacted),
        TopicSpec(TEAM_CHANGES, statement_partitions, compacted),
        TopicSpec(GOALS, statement_partitions, compacted),
        TopicSpec(GOAL_CHANGES, statement_partitions, compacted),
        TopicSpec(GOAL_PROGRESS, statement_partitions, compacted),
        TopicSpec(ORGANISATION_CHANGES, statement_partitions, compacted),
        TopicSpec(ORGANISATION_PROGRESS, statement_partitions, compacted),
        *(TopicSpec(dlq(name), 1, dict(forever)) for name in CONSUMED),
    ]
    return [TopicSpec(prefix + spec.name, spec.partitions, spec.config) for spec in names]


DOCUMENT_CHANGED_TYPE = "org.lrs.xapi.document.changed.v1"


def document_key(tenant: str, resource: str, context: str, document_id: str) -> bytes:
    """Key of a document-change message: tenant + resource, context (activity/agent/registration
    identifiers) and document id, so the changes of one document stay on one partition."""
    entity = KEY_SEPARATOR.join((resource, context, document_id))
    return f"{tenant}{KEY_SEPARATOR}{entity}".encode()


def cloud_event_headers(
    kind: str, source: str, tenant: str, ce_id: str, time: str
) -> list[tuple[str, bytes]]:
    """The headers every event of ours carries: CloudEvents binary mode (a JSON value) plus the
    tenant; `time` is already formatted."""
    return [
        (HEADER_CE_SPECVERSION, b"1.0"),
        (HEADER_CE_ID, ce_id.encode()),
        (HEADER_CE_TYPE, kind.encode()),
        (HEADER_CE_SOURCE, source.encode()),
        (HEADER_CE_TIME, time.encode()),
        (HEADER_CONTENT_TYPE, b"application/json"),
        (HEADER_TENANT, tenant.encode()),
    ]
