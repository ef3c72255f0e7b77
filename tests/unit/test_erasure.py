"""The pure parts of the erasure (lrs.services.erasure): identifiers, redaction, filter keys,
and the screening of in-flight statements and records against the erased-agents list."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from lrs import topics
from lrs.erasure import (
    ERASED_AGENT,
    agent_hash,
    erasure_identifiers,
    group_members,
    learner_ids_naming,
    names_erased,
    redacted,
)
from lrs.ports.statements import AcceptedStatement
from lrs.services.erasure import screen_records, screen_statements
from lrs.xapi.ifi import actor_ifi
from tests.support.factories import agent, statement

ERASED_AT = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
TENANT = "acme"
ME = "mbox:mailto:learnerme@example.org"


class ListedErased:
    """The erased-agents list as a dict: hash -> time."""

    def __init__(self, *identifiers: str) -> None:
        self.times = {agent_hash(TENANT, i): ERASED_AT for i in identifiers}
        self.lookups = 0

    async def erased_at(self, tenant: str, hashes: Sequence[str]) -> dict[str, datetime]:
        self.lookups += 1
        return {h: self.times[h] for h in hashes if h in self.times}


def accepted(doc: dict[str, object], stored: datetime) -> AcceptedStatement:
    actor = doc["actor"]
    assert isinstance(actor, dict)
    return AcceptedStatement(TENANT, doc, stored, actor_ifi(actor))


def test_an_mbox_is_erased_with_its_sha1_form() -> None:
    sha1 = hashlib.sha1(b"mailto:a@example.org").hexdigest()
    assert erasure_identifiers({"mbox": "mailto:a@example.org"}) == [
        "mbox:mailto:a@example.org",
        f"mbox_sha1sum:{sha1}",
    ]
    assert erasure_identifiers({"openid": "https://id.example.org/a"}) == [
        "openid:https://id.example.org/a"
    ]


def test_redaction_replaces_the_learner_wherever_an_agent_names_them() -> None:
    me, other = agent("me"), agent(2)
    doc = statement(2, context=False) | {
        "object": {"objectType": "SubStatement", "actor": me, "verb": {"id": "v"}, "object": me},
        "context": {"instructor": me, "team": {"objectType": "Group", "member": [other, me]}},
        "authority": me,
    }
    clean = redacted(doc, {ME})
    assert "learnerme" not in str(clean)
    assert clean["actor"] == doc["actor"]
    assert clean["context"]["team"]["member"] == [other, dict(ERASED_AGENT)]
    assert clean["object"]["actor"] == dict(ERASED_AGENT)
    assert redacted(doc, {"mbox:mailto:nobody@example.org"}) == doc


def test_filter_keys_naming_the_learner_are_recognised_exactly() -> None:
    assert names_erased(f"ragent|Agent|{ME}", [ME])
    assert names_erased(f"authority|Group|Agent|{ME}+Agent|mbox:mailto:b@x.org", [ME])
    assert not names_erased(f"ragent|Agent|{ME}.uk", [ME])
    assert not names_erased("verb|http://adlnet.gov/expapi/verbs/completed", [ME])


def test_anonymous_groups_listing_the_learner_are_theirs_too() -> None:
    group = f"group:[{ME},mbox:mailto:b@x.org]"
    assert group_members(group) == [ME, "mbox:mailto:b@x.org"]
    assert group_members(ME) == []
    assert learner_ids_naming([ME, group, "group:[mbox:mailto:b@x.org]", "x"], [ME]) == [
        ME,
        group,
    ]


async def test_in_flight_statements_before_the_erasure_are_dropped_or_redacted() -> None:
    erased = ListedErased(ME)
    own_before = accepted(statement("me"), ERASED_AT - timedelta(seconds=1))
    own_after = accepted(statement("me"), ERASED_AT + timedelta(seconds=1))
    naming = statement(2, context=False) | {"context": {"instructor": agent("me")}}
    other_before = accepted(naming, ERASED_AT - timedelta(seconds=1))
    untouched = accepted(statement(3), ERASED_AT - timedelta(seconds=1))
    screened = await screen_statements(erased, [own_before, own_after, other_before, untouched])
    assert screened[0] is None
    assert screened[1] is own_after  # posted after the erasure: new data
    assert screened[2] is not None
    assert screened[2].statement["context"]["instructor"] == dict(ERASED_AGENT)
    assert screened[3] is untouched
    assert erased.lookups == 1


@dataclass
class FakeRecord:
    key: bytes | None
    headers: Sequence[tuple[str, bytes]]


def keyed(learner: str, produced: datetime | None) -> FakeRecord:
    headers = [] if produced is None else [(topics.HEADER_CE_TIME, produced.isoformat().encode())]
    return FakeRecord(topics.statement_key(TENANT, learner), headers)


async def test_records_keyed_by_an_erased_learner_before_the_erasure_are_dropped() -> None:
    erased = ListedErased(ME)
    early, late = ERASED_AT - timedelta(seconds=1), ERASED_AT + timedelta(seconds=1)
    records = [
        keyed(ME, early),
        keyed(ME, late),
        keyed(ME, None),
        keyed(f"group:[{ME},mbox:mailto:b@x.org]", early),
        keyed("mbox:mailto:b@x.org", early),
    ]
    kept = await screen_records(erased, records)
    assert kept == [records[1], records[4]]
    assert await screen_records(None, records) == records
