"""The StatementStore contract, run against every implementation: the in-memory reference and
the MongoDB adapter on the real (embedded) MongoDB-wire store."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from pymongo import InsertOne
from pymongo.errors import AutoReconnect

from lrs.adapters import mongo_store
from lrs.adapters.memory import InMemoryStatementStore
from lrs.adapters.mongo_store import MongoStatementStore, connect
from lrs.ports.statements import AcceptedStatement, StatementStore
from lrs.xapi.ifi import actor_ifi
from lrs.xapi.index import agent_key, index_statement
from lrs.xapi.query import StatementQuery
from tests.conftest import Infra
from tests.support.explain import examined
from tests.support.factories import activity, agent, statement, voiding

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
REF = "StatementRef"


def record(doc: dict[str, Any], n: int = 0, tenant: str = "acme") -> AcceptedStatement:
    stored = T0 + timedelta(seconds=n)
    full = {**doc, "stored": stored.isoformat(), "authority": agent("auth"), "version": "1.0.0"}
    return AcceptedStatement(tenant, full, stored, actor_ifi(full["actor"]))


@pytest.fixture(params=["memory", "mongo", "mongo-sole-writer"])
async def store(request: pytest.FixtureRequest) -> AsyncIterator[StatementStore]:
    """One writer at a time (the races of two are `two_writers`' tests): the MongoDB store
    also as the persister under `lrs serve` builds it (`sole_writer`)."""
    if request.param == "memory":
        yield InMemoryStatementStore()
        return
    infra: Infra = request.getfixturevalue("infra")
    client = connect(infra.mongodb_uri)
    name = f"contract_{uuid.uuid4().hex[:8]}"
    sole_writer = request.param == "mongo-sole-writer"
    mongo = MongoStatementStore(client[name], sole_writer=sole_writer)
    await mongo.create_indexes()
    try:
        yield mongo
    finally:
        await client.close()


Writers = tuple[StatementStore, StatementStore]


@pytest.fixture(params=["memory", "mongo"])
async def two_writers(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Writers]:
    """Two stores on the same data, as two persisters have. On MongoDB each insert of
    statements waits until the other writer has reached its own: both have done every read
    that comes before their insert, the interleaving in which each can miss the other."""
    if request.param == "memory":
        shared = InMemoryStatementStore()
        yield shared, shared
        return
    infra: Infra = request.getfixturevalue("infra")
    name = f"contract_{uuid.uuid4().hex[:8]}"
    clients = [connect(infra.mongodb_uri), connect(infra.mongodb_uri)]
    first, second = (MongoStatementStore(c[name]) for c in clients)
    await first.create_indexes()
    both_there = asyncio.Barrier(2)
    insert = mongo_store.bulk_write_tolerating_duplicates

    async def when_both_insert(collection: Any, ops: Sequence[Any]) -> set[int]:
        async with asyncio.timeout(10):
            await both_there.wait()
        return await insert(collection, ops)

    monkeypatch.setattr(mongo_store, "bulk_write_tolerating_duplicates", when_both_insert)
    try:
        yield first, second
    finally:
        for client in clients:
            await client.close()


def ids(statements: list[dict[str, Any]]) -> list[str]:
    return [s["id"] for s in statements]


async def everything(store: StatementStore, **filters: Any) -> list[str]:
    page = await store.query("acme", StatementQuery(limit=1000, **filters))
    return ids(page.statements)


async def test_insert_is_idempotent_and_reports_duplicates(store: StatementStore) -> None:
    first = record(statement())
    report = await store.insert_many([first, first])
    assert report.inserted == 1
    again = await store.insert_many([first])
    assert again.inserted == 0
    assert [d.incoming.statement_id for d in again.duplicates] == [first.statement_id]
    assert again.duplicates[0].existing["id"] == first.statement_id


async def test_of_one_id_twice_in_a_batch_the_first_is_stored(store: StatementStore) -> None:
    first = record(statement(verb="passed"))
    other = record(statement(id=first.statement_id, verb="failed"))
    report = await store.insert_many([first, other])
    assert report.inserted == 1
    assert [d.incoming for d in report.duplicates] == [other]
    assert report.duplicates[0].existing == first.statement
    assert (await store.get_many("acme", [first.statement_id])) == {
        first.statement_id: first.statement
    }


async def test_get_is_tenant_scoped(store: StatementStore) -> None:
    mine = record(statement(), tenant="acme")
    theirs = record(statement(id=mine.statement_id, verb="failed"), tenant="globex")
    await store.insert_many([mine, theirs])
    assert (await store.get_many("acme", [mine.statement_id]))[mine.statement_id] == mine.statement
    other = await store.get_statement("globex", mine.statement_id, voided=False)
    assert other == theirs.statement
    assert await everything(store) == [mine.statement_id]


@pytest.mark.parametrize("void_first", [True, False])
async def test_voiding_in_either_order(store: StatementStore, void_first: bool) -> None:
    target = record(statement(), 1)
    void = record(voiding(target.statement_id), 2)
    for batch in ([void], [target]) if void_first else ([target], [void]):
        await store.insert_many(batch)
    assert await store.get_statement("acme", target.statement_id, voided=False) is None
    assert await store.get_statement("acme", target.statement_id, voided=True) is not None
    assert await everything(store) == [void.statement_id]


@pytest.mark.parametrize("void_first", [True, False])
async def test_a_statement_and_its_voider_written_at_once_by_two_writers(
    two_writers: Writers, void_first: bool
) -> None:
    """Data 2.3.2: the target ends voided whichever writer finishes second."""
    target = record(statement(), 1)
    void = record(voiding(target.statement_id, learner=2), 2)
    batches = ([void], [target]) if void_first else ([target], [void])
    first, second = two_writers
    await asyncio.gather(first.insert_many(batches[0]), second.insert_many(batches[1]))
    for store in two_writers:
        assert await store.get_statement("acme", target.statement_id, voided=False) is None
        assert await store.get_statement("acme", target.statement_id, voided=True) is not None
        assert await everything(store) == [void.statement_id]


@pytest.mark.parametrize("target_first", [True, False])
async def test_a_statement_ref_and_its_target_written_at_once_by_two_writers(
    two_writers: Writers, target_first: bool
) -> None:
    """Communication 2.1.3: the referring statement meets its target's filters whichever
    writer finishes second."""
    course = activity("course/ref-race")
    target = record(statement(learner="ben", verb="passed", obj=course), 1)
    referring = record(
        statement(learner="ann", verb="noted", obj={"objectType": REF, "id": target.statement_id}),
        2,
    )
    batches = ([target], [referring]) if target_first else ([referring], [target])
    first, second = two_writers
    await asyncio.gather(first.insert_many(batches[0]), second.insert_many(batches[1]))
    expected = [referring.statement_id, target.statement_id]
    assert await everything(first, activity=course["id"]) == expected
    assert await everything(first, agent=agent_key(agent("ben"))) == expected


@pytest.fixture
async def sole_and_killed(
    infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[tuple[MongoStatementStore, Any]]:
    """A `sole_writer` store (the persister under lrs serve) and `land_first(batch)`: the
    last insert of a killed predecessor, whose reads of the batch's links saw nothing, lands
    in the store after the sole writer read the links and before its insert."""
    client = connect(infra.mongodb_uri)
    db = client[f"contract_{uuid.uuid4().hex[:8]}"]
    sole = MongoStatementStore(db, sole_writer=True)
    await sole.create_indexes()
    insert = mongo_store.bulk_write_tolerating_duplicates

    def land_first(batch: list[AcceptedStatement]) -> None:
        async def predecessor_first(collection: Any, ops: Sequence[Any]) -> set[int]:
            monkeypatch.setattr(mongo_store, "bulk_write_tolerating_duplicates", insert)
            await insert(collection, [InsertOne(mongo_store.to_document(r)) for r in batch])
            return await insert(collection, ops)

        monkeypatch.setattr(mongo_store, "bulk_write_tolerating_duplicates", predecessor_first)

    try:
        yield sole, land_first
    finally:
        await client.close()


async def test_a_sole_writer_voids_a_target_its_killed_predecessor_stored_late(
    sole_and_killed: tuple[MongoStatementStore, Any],
) -> None:
    """Data 2.3.2: the target, inserted unvoided by the predecessor meanwhile, ends voided."""
    sole, land_first = sole_and_killed
    target = record(statement(), 1)
    void = record(voiding(target.statement_id, learner=2), 2)
    land_first([target])
    await sole.insert_many([target, void])
    assert await sole.get_statement("acme", target.statement_id, voided=False) is None
    assert await everything(sole) == [void.statement_id]


async def test_a_sole_writer_gives_its_killed_predecessors_late_referrer_the_targets_keys(
    sole_and_killed: tuple[MongoStatementStore, Any],
) -> None:
    """Communication 2.1.3: the referring statement, inserted by the predecessor without its
    target's filter keys meanwhile, meets the target's filters."""
    sole, land_first = sole_and_killed
    course = activity("course/late-referrer")
    target = record(statement(learner="ben", verb="passed", obj=course), 2)
    referring = record(
        statement(learner="ann", verb="noted", obj={"objectType": REF, "id": target.statement_id}),
        1,
    )
    land_first([referring])
    await sole.insert_many([referring, target])
    expected = [target.statement_id, referring.statement_id]
    assert await everything(sole, activity=course["id"]) == expected


async def test_a_sole_writer_voids_a_late_target_whose_voiding_statement_came_before(
    sole_and_killed: tuple[MongoStatementStore, Any],
) -> None:
    """Data 2.3.2: the voiding statement was in an earlier batch (another partition); the
    predecessor's insert of its target lands as the successor inserts the target again."""
    sole, land_first = sole_and_killed
    target = record(statement(), 1)
    void = record(voiding(target.statement_id, learner=2), 2)
    await sole.insert_many([void])
    land_first([target])
    await sole.insert_many([target])
    assert await sole.get_statement("acme", target.statement_id, voided=False) is None
    assert await everything(sole) == [void.statement_id]


async def test_a_sole_writer_gives_a_late_referrer_the_keys_of_a_target_stored_before(
    sole_and_killed: tuple[MongoStatementStore, Any],
) -> None:
    """Communication 2.1.3: the target was in an earlier batch; the predecessor's insert of
    the referring statement (without the target's keys) lands as the successor inserts it."""
    sole, land_first = sole_and_killed
    course = activity("course/late-referrer-after")
    target = record(statement(learner="ben", verb="passed", obj=course), 1)
    referring = record(
        statement(learner="ann", verb="noted", obj={"objectType": REF, "id": target.statement_id}),
        2,
    )
    await sole.insert_many([target])
    land_first([referring])
    await sole.insert_many([referring])
    expected = [referring.statement_id, target.statement_id]
    assert await everything(sole, activity=course["id"]) == expected


async def test_a_voiding_statement_is_never_voided(store: StatementStore) -> None:
    first_void = record(voiding(str(uuid.uuid4())), 1)
    second_void = record(voiding(first_void.statement_id), 2)
    await store.insert_many([first_void, second_void])
    assert await store.get_statement("acme", first_void.statement_id, voided=False) is not None


async def test_filters(store: StatementStore) -> None:
    course, other = activity("course/a"), activity("course/b")
    reg = str(uuid.uuid4())
    a = record(statement(learner="a", verb="passed", obj=course), 1)
    b = record(statement(learner="b", verb="failed", obj=other, context=False), 2)
    b.statement["context"] = {"registration": reg, "contextActivities": {"parent": [course]}}
    await store.insert_many([a, b])
    learner_a = agent_key(agent("a"))
    assert await everything(store, agent=learner_a) == [a.statement_id]
    assert await everything(store, verb=a.statement["verb"]["id"]) == [a.statement_id]
    assert await everything(store, activity=course["id"]) == [a.statement_id]
    assert await everything(store, activity=course["id"], related_activities=True) == [
        b.statement_id,
        a.statement_id,
    ]
    assert await everything(store, registration=reg) == [b.statement_id]
    assert await everything(store, agent=learner_a, verb=a.statement["verb"]["id"]) == [
        a.statement_id
    ]
    assert await everything(store, agent=learner_a, verb=b.statement["verb"]["id"]) == []
    assert await everything(
        store, activity=course["id"], related_activities=True, registration=reg
    ) == [b.statement_id]
    assert await everything(store, since=T0 + timedelta(seconds=1)) == [b.statement_id]
    assert await everything(store, until=T0 + timedelta(seconds=1)) == [a.statement_id]
    assert await everything(store, ascending=True) == [a.statement_id, b.statement_id]


async def test_related_filters_find_every_place_once(store: StatementStore) -> None:
    """Communication 2.1.3: `related_agents` widens `agent` to the authority, the context's
    instructor and team and the object; `related_activities` widens `activity` to the context
    activities. Each statement found once, however many places name the value."""
    course = activity("course/related")
    own = record(statement(learner="ann", obj=course), 1)  # ann acts; auth is the authority
    taught = record(statement(learner="bob", obj=activity("course/x")), 2)
    taught.statement["context"] = {
        "instructor": agent("ann"),
        "team": {"objectType": "Group", "member": [agent("ann"), agent("cid")]},
        "contextActivities": {"grouping": [course]},
    }
    about = record(statement(learner="ann", obj=agent("ann"), context=False), 3)  # object too
    await store.insert_many([own, taught, about])
    ann, auth = agent_key(agent("ann")), agent_key(agent("auth"))
    assert await everything(store, agent=ann) == [about.statement_id, own.statement_id]
    assert await everything(store, agent=ann, related_agents=True) == [
        about.statement_id,
        taught.statement_id,
        own.statement_id,
    ]
    everyone = [about.statement_id, taught.statement_id, own.statement_id]
    assert await everything(store, agent=auth, related_agents=True) == everyone
    assert await everything(store, agent=auth) == []
    assert await everything(store, activity=course["id"], related_activities=True) == [
        taught.statement_id,
        own.statement_id,
    ]
    assert await everything(store, activity=course["id"]) == [own.statement_id]


async def test_a_statement_ref_is_found_by_its_targets_authority_as_a_related_agent(
    store: StatementStore,
) -> None:
    """Communication 2.1.3: the referring statement meets the target's `related_agents`
    filters, the target's authority among them, but is not the authority's own statement
    (`statements/read/mine`, 4.1) unless it wrote it."""
    target = record(statement(learner="ben", context=False), 1)
    target.statement["authority"] = agent("writer")
    ref = record(statement(learner="ann", obj={"objectType": REF, "id": target.statement_id}), 2)
    await store.insert_many([target, ref])
    writer = agent_key(agent("writer"))
    both = [ref.statement_id, target.statement_id]
    assert await everything(store, agent=writer, related_agents=True) == both
    mine = await store.query("acme", StatementQuery(limit=10, authority=writer))
    assert ids(mine.statements) == [target.statement_id]


@pytest.mark.parametrize("target_first", [True, False])
async def test_statement_refs_meet_their_targets_filters(
    store: StatementStore, target_first: bool
) -> None:
    """Communication 2.1.3: a statement targeting another (even through a chain) meets the
    filters the target meets, whatever order they arrive in."""
    course = activity("course/ref")
    target = record(statement(learner="ben", verb="passed", obj=course), 1)
    middle = record(
        statement(
            learner="andrew", verb="confirmed", obj={"objectType": REF, "id": target.statement_id}
        ),
        2,
    )
    top = record(
        statement(
            learner="carol", verb="noted", obj={"objectType": REF, "id": middle.statement_id}
        ),
        3,
    )
    batches = [[target], [top], [middle]] if target_first else [[top], [middle], [target]]
    for batch in batches:
        await store.insert_many(batch)
    expected = [top.statement_id, middle.statement_id, target.statement_id]
    assert await everything(store, activity=course["id"]) == expected
    assert await everything(store, agent=agent_key(agent("ben"))) == expected
    assert await everything(store, agent=agent_key(agent("carol"))) == [top.statement_id]


async def test_paging_by_cursor_is_complete_and_disjoint(store: StatementStore) -> None:
    records = [record(statement(learner=n), n // 2) for n in range(9)]  # pairs share `stored`
    await store.insert_many(records)
    seen: list[str] = []
    query = StatementQuery(limit=2)
    while True:
        page = await store.query("acme", query)
        seen += ids(page.statements)
        if page.next_cursor is None:
            break
        query = query.after(page.next_cursor)
    assert sorted(seen) == sorted(r.statement_id for r in records)
    assert len(seen) == len(set(seen))


async def test_watermarks_only_move_forward(store: StatementStore) -> None:
    assert await store.consistent_through("topic", 2) is None
    await store.record_watermarks("topic", {0: T0, 1: T0 + timedelta(seconds=5)})
    assert await store.consistent_through("topic", 2) == T0
    await store.record_watermarks("topic", {0: T0 + timedelta(seconds=9)})
    await store.record_watermarks("topic", {0: T0 + timedelta(seconds=1)})
    assert await store.consistent_through("topic", 2) == T0 + timedelta(seconds=5)


async def test_watermarks_per_partition(store: StatementStore) -> None:
    assert await store.watermarks("topic") == {}
    await store.record_watermarks("topic", {0: T0, 3: T0 + timedelta(seconds=3)})
    await store.record_watermarks("other", {0: T0 + timedelta(seconds=9)})
    await store.record_watermarks("topic", {0: T0 - timedelta(seconds=1)})
    assert await store.watermarks("topic") == {0: T0, 3: T0 + timedelta(seconds=3)}


async def test_a_sole_writer_reuses_the_watermarks_it_read_for_a_moment(infra: Infra) -> None:
    """The persister under lrs serve reads them for every batch; it reads the store once per
    WATERMARK_REUSE_SECONDS, raised meanwhile by its own writes; after that a write it did not
    make (a killed predecessor's, landing late) is seen."""
    client = connect(infra.mongodb_uri)
    db = client[f"contract_{uuid.uuid4().hex[:8]}"]
    now = [100.0]
    sole = MongoStatementStore(db, sole_writer=True, clock=lambda: now[0])
    other = MongoStatementStore(db)
    try:
        await sole.record_watermarks("topic", {0: T0})
        assert await sole.watermarks("topic") == {0: T0}
        await other.record_watermarks("topic", {0: T0 + timedelta(seconds=5), 1: T0})
        await sole.record_watermarks("topic", {1: T0 + timedelta(seconds=1)})
        reused = {0: T0, 1: T0 + timedelta(seconds=1)}
        assert await sole.watermarks("topic") == reused
        now[0] += mongo_store.WATERMARK_REUSE_SECONDS - 0.01
        assert await sole.watermarks("topic") == reused
        assert await other.watermarks("topic") == {0: T0 + timedelta(seconds=5), 1: reused[1]}
        now[0] += 0.01
        assert await sole.watermarks("topic") == {0: T0 + timedelta(seconds=5), 1: reused[1]}
    finally:
        await client.close()


async def test_a_sole_writer_counts_a_watermark_write_that_failed_as_made(
    infra: Infra, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write whose answer was lost may have landed (and the API may announce it): what the
    sole writer reuses must not stay below it. Too high only moves a late `stored` later."""
    client = connect(infra.mongodb_uri)
    db = client[f"contract_{uuid.uuid4().hex[:8]}"]
    sole = MongoStatementStore(db, sole_writer=True, clock=lambda: 100.0)
    try:
        await sole.record_watermarks("topic", {0: T0})
        assert await sole.watermarks("topic") == {0: T0}

        async def answer_lost(*args: Any, **kwargs: Any) -> None:
            raise AutoReconnect("connection closed")

        monkeypatch.setattr(sole._watermarks, "update_one", answer_lost)
        with pytest.raises(AutoReconnect):
            await sole.record_watermarks("topic", {0: T0 + timedelta(seconds=3)})
        assert await sole.watermarks("topic") == {0: T0 + timedelta(seconds=3)}
    finally:
        await client.close()


async def test_wait_stored_returns_what_is_there(store: StatementStore) -> None:
    present = record(statement())
    await store.insert_many([present])
    missing = str(uuid.uuid4())
    found = await store.wait_stored("acme", [present.statement_id, missing], 0.3)
    assert list(found) == [present.statement_id]


async def all_pages(store: StatementStore, query: StatementQuery) -> list[str]:
    seen: list[str] = []
    while True:
        page = await store.query("acme", query)
        seen += ids(page.statements)
        if page.next_cursor is None:
            return seen
        query = query.after(page.next_cursor)


@pytest.mark.parametrize("ascending", [False, True])
@pytest.mark.parametrize("limit", [1, 2, 3, 7])
async def test_pages_follow_stored_then_id_across_ties(
    store: StatementStore, ascending: bool, limit: int
) -> None:
    """Ties on `stored` (one POST batch shares it) are broken by id, so page borders inside a
    tie never skip or repeat a statement, in both orders."""
    records = [record(statement(learner=n), n // 4) for n in range(13)]
    await store.insert_many(records)
    order = sorted(records, key=lambda r: (r.stored, r.statement_id), reverse=not ascending)
    seen = await all_pages(store, StatementQuery(limit=limit, ascending=ascending))
    assert seen == [r.statement_id for r in order]


async def test_pages_cross_years_of_silence_and_bursts(store: StatementStore) -> None:
    """Statements years apart and a burst within one millisecond: paging still finds each
    once (the store may read `stored` in windows; they must cover it without gaps), and
    `since`/`until` equal to a `stored` exclude/include it (Communication 2.1.3)."""
    far = [T0 - timedelta(days=3000), T0 - timedelta(days=2), T0, T0 + timedelta(milliseconds=1)]
    records = [
        AcceptedStatement("acme", r.statement, moment, r.actor_ifi)
        for i, moment in enumerate(far)
        for r in [record(statement(learner=f"{i}-{j}")) for j in range(3 if i == 2 else 1)]
    ]
    await store.insert_many(records)
    for ascending in (False, True):
        order = sorted(records, key=lambda r: (r.stored, r.statement_id), reverse=not ascending)
        seen = await all_pages(store, StatementQuery(limit=2, ascending=ascending))
        assert seen == [r.statement_id for r in order]
    bounded = StatementQuery(limit=2, since=far[1], until=T0, ascending=True)
    on_t0 = sorted(r.statement_id for r in records if r.stored == T0)
    assert await all_pages(store, bounded) == on_t0


@pytest.mark.parametrize("ascending", [False, True])
async def test_bounds_at_the_ends_of_time_answer_an_empty_page(
    store: StatementStore, ascending: bool
) -> None:
    """`since`/`until` at the first or last representable moment (where lrs.xapi.timefmt
    clamps years 1 and 9999) read nothing past the ends of the calendar and never fail."""
    await store.insert_many([record(statement(learner="now"))])
    first = datetime.min.replace(tzinfo=UTC)
    last = datetime.max.replace(tzinfo=UTC)
    for query in (
        StatementQuery(limit=2, since=last, ascending=ascending),
        StatementQuery(limit=2, until=first, ascending=ascending),
    ):
        assert (await store.query("acme", query)).statements == []
    everything = StatementQuery(limit=2, since=first, until=last, ascending=ascending)
    assert len((await store.query("acme", everything)).statements) == 1


@pytest.mark.parametrize("ascending", [False, True])
async def test_statements_arriving_while_paging_are_never_repeated(
    store: StatementStore, ascending: bool
) -> None:
    """Newer statements arriving between pages, and a late one stored (accepted) before the
    cursor but persisted after the first page: no page repeats one; every statement stored
    before paging began is seen once, and so is the late one where its `stored` places it."""
    before = [record(statement(learner=n), n // 2) for n in range(10)]
    await store.insert_many(before)
    query = StatementQuery(limit=3, ascending=ascending)
    page = await store.query("acme", query)
    seen = ids(page.statements)
    assert page.next_cursor is not None
    newer = [record(statement(learner=f"new{n}"), 100 + n) for n in range(3)]
    late = record(statement(learner="late"), -1 if not ascending else 50)
    await store.insert_many([*newer, late])
    seen += await all_pages(store, query.after(page.next_cursor))
    assert len(seen) == len(set(seen))
    assert {r.statement_id for r in [*before, late]} <= set(seen)


@pytest.fixture
async def mongo_db(infra: Infra) -> AsyncIterator[Any]:
    client = connect(infra.mongodb_uri)
    try:
        yield client[f"contract_{uuid.uuid4().hex[:8]}"]
    finally:
        await client.close()


async def test_a_page_examines_documents_in_proportion_to_the_page_not_the_tenant(
    mongo_db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On the real store, by its own `explain`: the first page, a `more` page, an agent page
    and a `since` page are index scans examining at most a few pages' worth of documents,
    out of thousands stored (SecantusDB limits only after it has read what the index bounds
    admit, so the bound must come from the query, docs/decisions/0015)."""
    store = MongoStatementStore(mongo_db)
    await store.create_indexes()
    now = datetime.now(UTC).replace(microsecond=0)
    records = [
        AcceptedStatement("acme", r.statement, now - timedelta(seconds=2 * n), r.actor_ifi)
        for n in range(3000)
        for r in [record(statement(learner=n % 30))]
    ]
    await mongo_db["statements"].insert_many([mongo_store.to_document(r) for r in records])
    finds: list[dict[str, Any]] = []
    cursor_type = type(mongo_db["statements"].find({}))
    original_sort = cursor_type.sort

    def recording_sort(cursor: Any, spec: Any) -> Any:
        finds.append({"find": "statements", "filter": cursor._spec, "sort": dict(spec)})
        return original_sort(cursor, spec)

    monkeypatch.setattr(cursor_type, "sort", recording_sort)
    limit = 20
    first = StatementQuery(limit=limit)
    page = await store.query("acme", first)
    assert page.next_cursor is not None
    queries = {
        "more": first.after(page.next_cursor),
        "agent": StatementQuery(limit=limit, agent=agent_key(agent(7))),
        "related agent": StatementQuery(
            limit=limit, agent=agent_key(agent(7)), related_agents=True
        ),
        "related activity": StatementQuery(
            limit=limit, activity=activity()["id"], related_activities=True
        ),
        "since": StatementQuery(limit=limit, since=now - timedelta(hours=1), ascending=True),
    }
    pages = {"first": (page, list(finds))}
    for name, query in queries.items():
        finds.clear()
        pages[name] = (await store.query("acme", query), list(finds))
    for name, (result, issued) in pages.items():
        assert len(result.statements) == limit, name
        total, scans = await examined(mongo_db, issued)
        assert scans == {"IXSCAN"}, name
        assert total <= 10 * (limit + 1), (name, total)


async def test_documents_naming_a_value_twice_are_found_once(mongo_db: Any) -> None:
    """Documents written before 2026-12-02 name the actor, the object activity and the
    authority under `ragent|` / `ractivity|` too: a related filter, which asks for any of a
    value's keys, finds each of them once (on the real store; docs/decisions/0027)."""
    store = MongoStatementStore(mongo_db)
    await store.create_indexes()
    earlier = [record(statement(learner="ann"), n) for n in range(3)]
    docs = [mongo_store.to_document(r) for r in earlier]
    for doc in docs:  # as an earlier version wrote them
        index = index_statement(docs_statement(doc))
        doc["keys"] += [f"ragent|{a}" for a in index.related_agents]
        doc["keys"] += [f"ractivity|{a}" for a in index.related_activities]
        doc["keys"] = list(dict.fromkeys(doc["keys"]))
    await mongo_db["statements"].insert_many(docs)
    newest_first = [r.statement_id for r in reversed(earlier)]
    for who in ("ann", "auth"):
        related = StatementQuery(limit=2, agent=agent_key(agent(who)), related_agents=True)
        page = await store.query("acme", related)
        assert ids(page.statements) == newest_first[:2], who
        assert page.next_cursor is not None
        assert ids((await store.query("acme", related.after(page.next_cursor))).statements) == [
            newest_first[2]
        ]
    course = StatementQuery(limit=10, activity=activity()["id"], related_activities=True)
    assert ids((await store.query("acme", course)).statements) == newest_first


def docs_statement(doc: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = orjson.loads(bytes(doc["body"]))
    return body


async def test_statements_written_before_link_keys_are_linked_at_start_up(mongo_db: Any) -> None:
    """Statements stored before docs/decisions/0028 have `voids` and `ref` under indexes of
    their own and no link keys: the next start-up gives them their link keys and drops those
    indexes, and a target or referrer arriving later is still voided or linked (Data 2.3.2,
    Communication 2.1.3), on the real store."""
    statements = mongo_db["statements"]
    target = record(statement(learner="ben"), 1)
    void = record(voiding(target.statement_id, learner=2), 2)
    course = activity("course/linked-late")
    referred = record(statement(learner="ben", verb="passed", obj=course), 3)
    referring = record(
        statement(
            learner="ann", verb="noted", obj={"objectType": REF, "id": referred.statement_id}
        ),
        4,
    )
    docs = [mongo_store.to_document(r) for r in (void, referring)]
    for doc in docs:  # as an earlier version wrote them
        doc["keys"] = [k for k in doc["keys"] if not k.startswith(mongo_store.LINK_PREFIXES)]
    await statements.create_index([("tenant", 1), ("voids", 1)], name="tenant_voids")
    await statements.create_index([("tenant", 1), ("ref", 1)], name="tenant_ref")
    await statements.insert_many(docs)
    store = MongoStatementStore(mongo_db)
    await store.create_indexes()
    names = {ix["name"] async for ix in await statements.list_indexes()}
    assert not names & mongo_store.RETIRED_LINK_INDEXES
    linked = await statements.find_one({"_id": docs[0]["_id"]})
    assert {f"voids|{target.statement_id}", f"ref|{target.statement_id}"} <= set(linked["keys"])
    await store.insert_many([target, referred])
    assert await store.get_statement("acme", target.statement_id, voided=True) is not None
    expected = [referring.statement_id, referred.statement_id]
    assert await everything(store, activity=course["id"]) == expected
    await store.create_indexes()  # again, with nothing left to link: a no-op


async def test_a_statement_ref_inherits_no_link_key_of_its_target(mongo_db: Any) -> None:
    """A StatementRef to a StatementRef takes its target's filter keys (Communication 2.1.3),
    never the id its target refers to: that link is the target's own."""
    store = MongoStatementStore(mongo_db)
    await store.create_indexes()
    first = record(statement(learner="ben"), 1)
    middle = record(statement(obj={"objectType": REF, "id": first.statement_id}), 2)
    last = record(statement(obj={"objectType": REF, "id": middle.statement_id}), 3)
    await store.insert_many([last, first, middle])
    doc = await mongo_db["statements"].find_one({"_id": f"acme/{last.statement_id}"})
    links = [k for k in doc["keys"] if k.startswith(mongo_store.LINK_PREFIXES)]
    assert links == [f"ref|{middle.statement_id}"]
    assert await everything(store, agent=agent_key(agent("ben"))) == [
        last.statement_id,
        middle.statement_id,
        first.statement_id,
    ]
