"""Records the progress consumers produce: learner and team progress (schemas/events/*-progress
.v1.json), the internal team-change trigger on `lrs.progress.team-changes` and the internal
learner-refresh trigger on `lrs.statements.stored` (schemas/events/learner-refresh.v1.json)."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from lrs import topics
from lrs.ports.events import OutgoingMessage
from lrs.ports.progress import LearnerDoc, TeamDoc
from lrs.progress.bounds import (
    DEFAULT_MAX_VALUE_BYTES,
    Omitted,
    bound_learner_value,
    bound_team_value,
)
from lrs.xapi.timefmt import format_timestamp

SOURCE = "/lrs/consumers/progress"


MAX_VALUE_BYTES = DEFAULT_MAX_VALUE_BYTES  # the default of LRS_PROGRESS_MAX_VALUE_BYTES


def learner_value(doc: LearnerDoc) -> dict[str, Any]:
    """The `lrs.progress.learner` value: the stored summary (with `tenant`) plus `version`."""
    return {**doc.summary, "tenant": doc.tenant, "version": doc.version}


def team_value(doc: TeamDoc) -> dict[str, Any]:
    return {**doc.summary, "tenant": doc.tenant, "version": doc.version}


def learner_message(
    doc: LearnerDoc, now: datetime, max_value_bytes: int = MAX_VALUE_BYTES
) -> OutgoingMessage:
    """The learner's value, cut down to `max_value_bytes` (lrs.progress.bounds)."""
    key = topics.learner_key(doc.tenant, doc.learner)
    value, omitted = bound_learner_value(learner_value(doc), max_value_bytes)
    message = _message(key, value, topics.LEARNER_PROGRESS_TYPE, doc.tenant, now)
    return _with_omitted(message, omitted)


def team_message(
    doc: TeamDoc, now: datetime, max_value_bytes: int = MAX_VALUE_BYTES
) -> OutgoingMessage:
    """The team's value, cut down to `max_value_bytes` (lrs.progress.bounds)."""
    key = topics.team_key(doc.tenant, doc.team)
    value, omitted = bound_team_value(team_value(doc), max_value_bytes)
    message = _message(key, value, topics.TEAM_PROGRESS_TYPE, doc.tenant, now)
    return _with_omitted(message, omitted)


def _with_omitted(message: OutgoingMessage, omitted: Omitted) -> OutgoingMessage:
    """The message, with headers saying how much of its lists a bounded value leaves out."""
    if not omitted:
        return message
    counts = [
        (topics.HEADER_ACTIVITIES_OMITTED, omitted.activities),
        (topics.HEADER_TEAMS_OMITTED, omitted.teams),
    ]
    extra = [(name, str(count).encode()) for name, count in counts if count]
    return OutgoingMessage(message.key, message.value, [*message.headers, *extra])


MAX_NAMED_LEARNERS = 256  # more changed learners in one trigger: a plain one (read them all)


def team_change_message(
    tenant: str, team: str, now: datetime, learners: Collection[str] | None = None
) -> OutgoingMessage:
    """A trigger: "recompute this team" (the value says which, the key routes it;
    schemas/events/team-changed.v1.json). `learners`, when given, are the learners of the team
    whose progress the sender's batch wrote (or found written): a team-progress instance that
    holds the other members' summaries reads only theirs (consumers.progress.team,
    docs/decisions/0033). Without it, or with more than MAX_NAMED_LEARNERS, the trigger is
    plain: every member is read."""
    value: dict[str, Any] = {"tenant": tenant, "team": team}
    if learners is not None and len(learners) <= MAX_NAMED_LEARNERS:
        value["learners"] = sorted(learners)
    return _message(topics.team_key(tenant, team), value, topics.TEAM_CHANGED_TYPE, tenant, now)


@dataclass(frozen=True)
class LearnerRefresh:
    """A trigger: "recompute this learner (and void these of its statements)"."""

    tenant: str
    learner: str
    voids: frozenset[str] = frozenset()


def learner_refresh_message(refresh: LearnerRefresh, now: datetime) -> OutgoingMessage:
    """The trigger, keyed like the learner's statements (it goes where they go)."""
    value: dict[str, Any] = {"tenant": refresh.tenant, "learner": refresh.learner}
    if refresh.voids:
        value["voids"] = sorted(refresh.voids)
    key = topics.learner_refresh_key(refresh.tenant, refresh.learner)
    return _message(key, value, topics.LEARNER_REFRESH_TYPE, refresh.tenant, now)


def decode_learner_refresh(value: bytes | None) -> LearnerRefresh:
    """A learner-refresh trigger's value; ValueError when it is not one."""
    doc = _json_object(value)
    tenant, learner, voids = doc.get("tenant"), doc.get("learner"), doc.get("voids", [])
    if not isinstance(tenant, str) or not isinstance(learner, str) or not tenant or not learner:
        raise ValueError("value needs non-empty string `tenant` and `learner`")
    if not isinstance(voids, list) or not all(isinstance(v, str) and v for v in voids):
        raise ValueError("`voids` must be a list of statement ids")
    return LearnerRefresh(tenant, learner, frozenset(v.lower() for v in voids))


def _json_object(value: bytes | None) -> Mapping[str, Any]:
    if value is None:
        raise ValueError("record has no value")
    try:
        doc = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"value is not JSON: {exc}") from exc
    if not isinstance(doc, Mapping):
        raise ValueError("value is not a JSON object")
    return doc


def decode_team_ref(value: bytes | None) -> tuple[str, str]:
    """(tenant, team) of a team-change trigger or an `lrs.teams` registry record."""
    tenant, team, _ = decode_team_change(value)
    return tenant, team


def decode_team_change(value: bytes | None) -> tuple[str, str, frozenset[str] | None]:
    """(tenant, team, the changed learners it names or None) of a team-change trigger (or of a
    registry record, which names none); ValueError when it is neither."""
    doc = _json_object(value)
    tenant, team, learners = doc.get("tenant"), doc.get("team"), doc.get("learners")
    if not isinstance(tenant, str) or not isinstance(team, str) or not tenant or not team:
        raise ValueError("value needs non-empty string `tenant` and `team`")
    if learners is None:
        return tenant, team, None
    if not isinstance(learners, list) or not all(isinstance(x, str) and x for x in learners):
        raise ValueError("`learners` must be a list of learner ids")
    return tenant, team, frozenset(learners)


def _message(
    key: bytes, value: Mapping[str, Any], kind: str, tenant: str, now: datetime
) -> OutgoingMessage:
    ce_id = uuid.uuid4().hex
    headers = topics.cloud_event_headers(kind, SOURCE, tenant, ce_id, format_timestamp(now))
    return OutgoingMessage(key, orjson.dumps(value), headers)
