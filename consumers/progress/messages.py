"""Records the progress consumers produce: learner and team progress (schemas/events/*-progress
.v1.json) and the internal team-change trigger on `lrs.progress.team-changes`."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import orjson

from lrs import topics
from lrs.adapters.mongo_progress import LearnerDoc, TeamDoc
from lrs.ports import OutgoingMessage
from lrs.xapi.timefmt import format_timestamp

SOURCE = "/lrs/consumers/progress"


def learner_value(doc: LearnerDoc) -> dict[str, Any]:
    """The `lrs.progress.learner` value: the stored summary (with `tenant`) plus `version`."""
    return {**doc.summary, "tenant": doc.tenant, "version": doc.version}


def team_value(doc: TeamDoc) -> dict[str, Any]:
    return {**doc.summary, "tenant": doc.tenant, "version": doc.version}


def learner_message(doc: LearnerDoc, now: datetime) -> OutgoingMessage:
    key = topics.learner_key(doc.tenant, doc.learner)
    return _message(key, learner_value(doc), topics.LEARNER_PROGRESS_TYPE, doc.tenant, now)


def team_message(doc: TeamDoc, now: datetime) -> OutgoingMessage:
    key = topics.team_key(doc.tenant, doc.team)
    return _message(key, team_value(doc), topics.TEAM_PROGRESS_TYPE, doc.tenant, now)


def team_change_message(tenant: str, team: str, now: datetime) -> OutgoingMessage:
    """A trigger: "recompute this team" (the value says which, the key routes it)."""
    value = {"tenant": tenant, "team": team}
    return _message(topics.team_key(tenant, team), value, topics.TEAM_CHANGED_TYPE, tenant, now)


def decode_team_ref(value: bytes | None) -> tuple[str, str]:
    """(tenant, team) of a team-change trigger or an `lrs.teams` registry record."""
    if value is None:
        raise ValueError("record has no value")
    doc = orjson.loads(value)
    if not isinstance(doc, Mapping):
        raise ValueError("value is not a JSON object")
    tenant, team = doc.get("tenant"), doc.get("team")
    if not isinstance(tenant, str) or not isinstance(team, str) or not tenant or not team:
        raise ValueError("value needs non-empty string `tenant` and `team`")
    return tenant, team


def _message(
    key: bytes, value: Mapping[str, Any], kind: str, tenant: str, now: datetime
) -> OutgoingMessage:
    headers = [
        (topics.HEADER_CE_SPECVERSION, b"1.0"),
        (topics.HEADER_CE_ID, uuid.uuid4().hex.encode()),
        (topics.HEADER_CE_TYPE, kind.encode()),
        (topics.HEADER_CE_SOURCE, SOURCE.encode()),
        (topics.HEADER_CE_TIME, format_timestamp(now).encode()),
        (topics.HEADER_CONTENT_TYPE, b"application/json"),
        (topics.HEADER_TENANT, tenant.encode()),
    ]
    return OutgoingMessage(key, orjson.dumps(value), headers)
