"""Webhooks and forwarding on the real broker and store (docs/webhooks.md, docs/decisions/0016):
statements reach a loopback receiver exactly once by delivery id after it was down and after
the delivery worker died mid-delivery; signatures verify with the documented snippet; a dead
receiver delays nobody else; internal targets are refused; dead letters replay; forwarding into
a second LRS keeps the ids and records conflicts."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema_rs
import orjson
import pytest
import uvicorn
from prometheus_client import REGISTRY
from pymongo.asynchronous.database import AsyncDatabase

from consumers.webhooks import DeliveryConfig, DeliveryPool
from lrs import topics
from lrs.adapters.mongo_webhooks import MongoWebhookStore
from lrs.entry import admin_cli
from lrs.entry.cli import _parser
from lrs.entry.embedded import free_port
from lrs.settings import LrsSettings
from lrs.webhooks.model import Attempt, Item
from lrs.webhooks.signing import delivery_id
from lrs.wiring.api import create_connected_app
from lrs.wiring.consumers import CONSUMERS
from tests.conftest import Infra, unique_name
from tests.support.factories import agent, statement
from tests.support.polling import eventually
from tests.support.processes import consumer_process, reaped
from tests.support.stack import (
    KEY,
    SECRET,
    api_client,
    database,
    make_settings,
    prepare_infra,
    running_consumer,
    running_persister,
    xapi_headers,
)
from tests.support.webhooks import Receiver, hanging_server, running_receiver

pytestmark = pytest.mark.integration
DOCS = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
SCHEMA = DOCS.parents[1] / "schemas" / "events" / "webhook-delivery.v1.json"
FAST = {
    "webhooks_allow_private_targets": True,
    "webhooks_retry_initial_seconds": 0.05,
    "webhooks_retry_max_seconds": 0.3,
    "webhooks_poll_seconds": 0.05,
    "webhooks_timeout_seconds": 5.0,
    "webhooks_lease_seconds": 6.0,
}
Db = AsyncDatabase[dict[str, Any]]


def documented_verifier() -> Callable[[str, dict[str, str], bytes], bool]:
    """The verification snippet of docs/webhooks.md, run as it is printed."""
    text = DOCS.read_text()
    marker = text.index("<!-- verification-snippet")
    code = re.search(r"```python\n(.*?)```", text[marker:], re.S)
    assert code is not None
    scope: dict[str, Any] = {}
    exec(compile(code.group(1), str(DOCS), "exec"), scope)
    verifier: Callable[[str, dict[str, str], bytes], bool] = scope["verify_webhook"]
    return verifier


@pytest.fixture
async def settings(infra: Infra) -> LrsSettings:
    settings = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("w"), **FAST)
    await prepare_infra(settings)
    return settings


@dataclass
class Pool:
    task: asyncio.Task[None]
    stop: asyncio.Event

    async def kill(self) -> None:
        """Cancel the workers wherever they are (mid-request included), as SIGKILL would
        leave the store: no outcome of the request in flight is recorded."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task

    async def close(self) -> None:
        if not self.task.done():
            self.stop.set()
            await asyncio.wait_for(self.task, 30)


@contextlib.asynccontextmanager
async def delivery_pool(db: Db, config: DeliveryConfig) -> AsyncIterator[Pool]:
    stop = asyncio.Event()
    pool = Pool(
        asyncio.create_task(DeliveryPool(MongoWebhookStore(db), config, now).run(stop)), stop
    )
    try:
        yield pool
    finally:
        await pool.close()


def now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Lrs:
    settings: LrsSettings
    api: httpx.AsyncClient
    db: Db

    async def subscribe(self, **body: Any) -> dict[str, Any]:
        answer = await self.api.post("/admin/webhooks", json=body, headers=xapi_headers())
        assert answer.status_code == 201, answer.text
        created: dict[str, Any] = answer.json()
        return created

    async def post(self, statements: list[dict[str, Any]]) -> None:
        answer = await self.api.post("/xapi/statements", json=statements, headers=xapi_headers())
        assert answer.status_code == 200, answer.text

    async def admin(self, path: str) -> Any:
        url = f"/admin/webhooks/{path}".rstrip("/")
        answer = await self.api.get(url, headers=xapi_headers())
        assert answer.status_code == 200, answer.text
        return answer.json()


@contextlib.asynccontextmanager
async def lrs_with_webhooks(settings: LrsSettings) -> AsyncIterator[Lrs]:
    """API, persister and the webhooks consumer (recording only: pools are started apart)."""
    async with database(settings) as db:
        handler = CONSUMERS["webhooks"].build(db, settings)
        async with (
            running_persister(settings),
            running_consumer(settings, handler, topics.STORED_STATEMENTS),
            api_client(settings) as api,
        ):
            yield Lrs(settings, api, db)


def learner_statements(learners: int, each: int) -> list[dict[str, Any]]:
    """Each learner's statements with increasing timestamps (to check their order)."""
    return [
        statement(learner, "experienced", timestamp=f"2026-11-20T10:{n:02d}:00Z")
        for n in range(each)
        for learner in range(1, learners + 1)
    ]


def delivered_once(receiver: Receiver, wanted: set[str]) -> Callable[[], Any]:
    async def probe() -> set[str]:
        kept = receiver.processed().values()
        return wanted - {s["id"] for r in kept for s in r.statements}

    return probe


def delivered_metric(outcome: str) -> float:
    labels = {"kind": "webhook", "outcome": outcome}
    return REGISTRY.get_sample_value("lrs_webhook_deliveries_total", labels) or 0.0


def times_each(receiver: Receiver) -> Counter[str]:
    return Counter(s["id"] for r in receiver.processed().values() for s in r.statements)


async def test_every_statement_arrives_once_in_order_after_the_receiver_was_down(
    settings: LrsSettings,
) -> None:
    verify = documented_verifier()
    before = {o: delivered_metric(o) for o in ("delivered", "failed")}
    async with lrs_with_webhooks(settings) as lrs:
        with running_receiver("down") as receiver:
            sub = await lrs.subscribe(url=receiver.url)
            docs = learner_statements(learners=3, each=8)
            async with delivery_pool(lrs.db, DeliveryConfig.of(settings)):
                for n in range(0, len(docs), 6):
                    await lrs.post(docs[n : n + 6])
                refused = await eventually(
                    lambda: asyncio.sleep(0, receiver.snapshot()), lambda r: len(r) >= 5
                )
                assert len(refused) >= 5
                assert all(r.status == 503 for r in refused)
                receiver.mode = "up"
                missing = await eventually(delivered_once(receiver, {d["id"] for d in docs}))
                assert missing == set()
                status = await eventually(  # recorded after the receiver's answer
                    lambda: lrs.admin(f"{sub['id']}/status"),
                    lambda s: s["open_deliveries"] == 0 and s["pending_items"] == 0,
                )
        assert set(times_each(receiver).values()) == {1}
        assert sorted(times_each(receiver)) == sorted(d["id"] for d in docs)
        schema = orjson.loads(SCHEMA.read_bytes())
        for r in receiver.snapshot():
            jsonschema_rs.validate(schema, orjson.loads(r.body))
            assert verify(sub["secret"], r.headers, r.body)
            assert not verify("another-secret-of-16+", r.headers, r.body)
        # per learner, in the order they were stored
        arrived = [s for r in receiver.processed().values() for s in r.statements]
        for learner in ("learner1", "learner2", "learner3"):
            times = [s["timestamp"] for s in arrived if learner in s["actor"]["mbox"]]
            assert times == sorted(times)
            assert len(times) == 8
        assert status["failures_total"] >= 5
        assert delivered_metric("failed") - before["failed"] >= 5
        assert delivered_metric("delivered") - before["delivered"] == status["delivered_total"]
        assert status["last_success_at"] is not None
        assert status["pending_items"] == 0
        assert status["dead_deliveries"] == 0


async def test_a_delivery_cut_off_mid_request_is_resent_with_the_same_id(
    settings: LrsSettings,
) -> None:
    async with lrs_with_webhooks(settings) as lrs:
        with running_receiver("hold") as receiver:
            sub = await lrs.subscribe(url=receiver.url)
            docs = learner_statements(learners=2, each=3)
            await lrs.post(docs)
            async with delivery_pool(lrs.db, DeliveryConfig.of(settings)) as first:
                held = await eventually(lambda: asyncio.sleep(0, receiver.holding.is_set()), bool)
                assert held
                await first.kill()
            receiver.mode = "up"
            receiver.release.set()  # the receiver kept the batch; its answer reaches no one
            cut = await eventually(lambda: asyncio.sleep(0, receiver.snapshot()), bool)
            cut_id = cut[0].delivery_id
            async with delivery_pool(lrs.db, DeliveryConfig.of(settings)):
                missing = await eventually(delivered_once(receiver, {d["id"] for d in docs}))
                again = await eventually(
                    lambda: asyncio.sleep(0, receiver.snapshot()),
                    lambda r: sum(x.delivery_id == cut_id for x in r) >= 2,
                )
                log = await eventually(  # recorded after the receiver's answer
                    lambda: lrs.admin(f"{sub['id']}/deliveries"),
                    lambda d: {x["state"] for x in d} == {"delivered"},
                )
        assert missing == set()
        assert (
            next(x.statements for x in again if x.delivery_id == cut_id)
            == [x.statements for x in again if x.delivery_id == cut_id][1]
        )
        assert set(times_each(receiver).values()) == {1}
        assert {d["state"] for d in log} == {"delivered"}
        assert cut_id in {d["id"] for d in log}


async def test_two_delivery_processes_send_each_delivery_once(settings: LrsSettings) -> None:
    """Workers of two processes (two `webhooks` consumer instances): the lease lets one send
    a subscription at a time, so no delivery is sent twice."""
    async with lrs_with_webhooks(settings) as lrs:
        with running_receiver("up") as receiver:
            await lrs.subscribe(url=receiver.url)
            docs = learner_statements(learners=2, each=6)
            config = DeliveryConfig.of(settings)
            async with delivery_pool(lrs.db, config), delivery_pool(lrs.db, config):
                for n in range(0, len(docs), 2):
                    await lrs.post(docs[n : n + 2])
                missing = await eventually(delivered_once(receiver, {d["id"] for d in docs}))
        assert missing == set()
        sent = Counter(r.delivery_id for r in receiver.snapshot())
        assert set(sent.values()) == {1}


async def test_a_dead_receiver_does_not_delay_another_subscription(
    settings: LrsSettings,
) -> None:
    async with lrs_with_webhooks(settings) as lrs:
        with running_receiver("up") as receiver, hanging_server() as dead_url:
            await lrs.subscribe(url=receiver.url)
            dead = await lrs.subscribe(url=dead_url)
            docs = learner_statements(learners=2, each=5)
            # the dead one's request would hang for 10 minutes
            config = replace(DeliveryConfig.of(settings), timeout_seconds=600, lease_seconds=900)
            async with delivery_pool(lrs.db, config):
                for doc in docs:
                    await lrs.post([doc])
                missing = await eventually(delivered_once(receiver, {d["id"] for d in docs}))
                dead_status = await lrs.admin(f"{dead['id']}/status")
        assert missing == set()
        assert dead_status["delivered_total"] == 0
        assert dead_status["open_deliveries"] + dead_status["pending_items"] >= 1


async def test_internal_targets_are_refused_unless_allowed(settings: LrsSettings) -> None:
    strict = settings.model_copy(update={"webhooks_allow_private_targets": False})
    async with api_client(strict) as api:
        for url, rule in (
            ("http://127.0.0.1:9/hook", "loopback"),
            ("http://169.254.169.254/latest/meta-data", "link-local"),
            ("http://10.0.0.7/hook", "private"),
            ("http://localhost:9/hook", "loopback"),
        ):
            answer = await api.post("/admin/webhooks", json={"url": url}, headers=xapi_headers())
            assert answer.status_code == 400, answer.text
            message = answer.json()["error"]["message"]
            assert rule in message
            assert "LRS_WEBHOOKS_ALLOW_PRIVATE_TARGETS" in message
        answer = await api.post(
            "/admin/webhooks", json={"url": "gopher://x"}, headers=xapi_headers()
        )
        assert answer.status_code == 400
        answer = await api.get("/admin/webhooks", headers=xapi_headers())
        assert answer.status_code == 200
        assert answer.json() == []


async def test_the_target_is_checked_again_at_delivery(settings: LrsSettings) -> None:
    async with lrs_with_webhooks(settings) as lrs:
        with running_receiver("up") as receiver:
            sub = await lrs.subscribe(url=receiver.url)  # allowed when created
            await lrs.post([statement()])
            strict = replace(DeliveryConfig.of(settings), allow_private=False)
            async with delivery_pool(lrs.db, strict):
                log = await eventually(
                    lambda: lrs.admin(f"{sub['id']}/deliveries"),
                    lambda d: bool(d) and d[0]["attempts"] >= 2,
                )
        assert receiver.snapshot() == []
        assert "loopback" in log[0]["last_error"]
        assert log[0]["state"] == "open"


async def test_dead_letters_are_kept_and_replayed_with_their_ids(settings: LrsSettings) -> None:
    brief = replace(DeliveryConfig.of(settings), retry_for_seconds=0.3)
    async with lrs_with_webhooks(settings) as lrs:
        with running_receiver("down") as receiver:
            sub = await lrs.subscribe(url=receiver.url)
            docs = learner_statements(learners=1, each=2)
            await lrs.post(docs)
            async with delivery_pool(lrs.db, brief):
                # the two statements may be sent as one delivery or two: wait for all of them
                dead = await eventually(
                    lambda: lrs.admin(f"{sub['id']}/deliveries?state=dead"),
                    lambda found: sum(d["items"] for d in found) == len(docs),
                )
                receiver.mode = "up"
                replay = await lrs.api.post(
                    f"/admin/webhooks/{sub['id']}/replay", json={}, headers=xapi_headers()
                )
                assert replay.status_code == 200
                assert replay.json() == {"replayed": len(dead)}
                missing = await eventually(delivered_once(receiver, {d["id"] for d in docs}))
            status = await lrs.admin(f"{sub['id']}/status")
        assert missing == set()
        assert {r.delivery_id for r in receiver.processed().values()} == {d["id"] for d in dead}
        assert status["dead_deliveries"] == 0


async def test_pause_resume_delete(settings: LrsSettings) -> None:
    async with lrs_with_webhooks(settings) as lrs:
        with running_receiver("up") as receiver:
            sub = await lrs.subscribe(url=receiver.url, label="crm")
            headers = xapi_headers()
            paused = await lrs.api.post(f"/admin/webhooks/{sub['id']}/pause", headers=headers)
            assert paused.status_code == 200
            assert paused.json()["paused"] is True
            docs = learner_statements(learners=1, each=2)
            async with delivery_pool(lrs.db, DeliveryConfig.of(settings)):
                await lrs.post(docs)
                pending = await eventually(
                    lambda: lrs.admin(f"{sub['id']}/status"), lambda s: s["pending_items"] == 2
                )
                assert pending["pending_items"] == 2
                assert receiver.snapshot() == []
                await lrs.api.post(f"/admin/webhooks/{sub['id']}/resume", headers=headers)
                missing = await eventually(delivered_once(receiver, {d["id"] for d in docs}))
                assert missing == set()
            listed = await lrs.admin("")
            assert [s["id"] for s in listed] == [sub["id"]]
            assert "secret" not in listed[0]
            gone = await lrs.api.delete(f"/admin/webhooks/{sub['id']}", headers=headers)
            assert gone.status_code == 204
            again = await lrs.api.get(f"/admin/webhooks/{sub['id']}", headers=headers)
            assert again.status_code == 404


async def test_a_batch_replayed_after_its_delivery_was_written_adds_nothing(
    settings: LrsSettings,
) -> None:
    """The consumer's batch replayed (a crash before its commit) after the worker already made
    a delivery of its items: the items are dropped, not sent in a second delivery."""
    async with database(settings) as db:
        store = MongoWebhookStore(db)
        await store.create_indexes()
        items = [
            Item("s1", "default", f"lrs.statements.stored/0/{n}", now(), 0, n, "statement", {})
            for n in range(3)
        ]
        await store.add_items(items)
        first = await store.next_delivery("s1", 10, delivery_id)
        assert first is not None
        assert len(first.items) == 3
        await store.add_items(items)  # the replayed batch
        again = await store.next_delivery("s1", 10, delivery_id)
        assert again is not None
        assert again.id == first.id
        await store.delivered(first, Attempt(ok=True, status=200), now())
        assert await store.next_delivery("s1", 10, delivery_id) is None
        assert (await store.status("s1")).pending_items == 0
        assert await store.prune(now() - timedelta(hours=1)) == 0  # within the retention
        assert await store.prune(now() + timedelta(seconds=1)) == 1
        assert await store.deliveries("s1") == []
        await store.add_items(items)  # recorded for a subscription deleted meanwhile
        assert (await store.status("s1")).pending_items == 3
        await store.drop_orphans()
        assert (await store.status("s1")).pending_items == 0


@contextlib.asynccontextmanager
async def served_over_http(settings: LrsSettings) -> AsyncIterator[str]:
    """A second LRS's API on a loopback port (its persister runs too); its base URL."""
    port = free_port()
    config = uvicorn.Config(
        create_connected_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
    )
    server = uvicorn.Server(config)
    async with running_persister(settings):
        task = asyncio.create_task(server.serve())
        try:
            await eventually(lambda: asyncio.sleep(0, server.started), bool, within=30)
            yield f"http://127.0.0.1:{port}"
        finally:
            server.should_exit = True
            await asyncio.wait_for(task, 30)


async def test_forwarding_keeps_ids_and_records_conflicts(
    settings: LrsSettings, infra: Infra
) -> None:
    other = make_settings(infra.kafka_bootstrap, infra.mongodb_uri, unique_name("f"), **FAST)
    await prepare_infra(other)
    clash_id = str(uuid.uuid4())
    async with (
        served_over_http(other) as other_url,
        lrs_with_webhooks(settings) as lrs,
        httpx.AsyncClient(base_url=other_url) as peer,
    ):
        there = statement(9, "failed", id=clash_id)  # the same id, other content
        answer = await peer.post("/xapi/statements", json=[there], headers=xapi_headers())
        assert answer.status_code == 200, answer.text
        sub = await lrs.subscribe(
            url=f"{other_url}/xapi", kind="forward", username=KEY, secret=SECRET
        )
        docs = [*learner_statements(learners=2, each=2), statement(1, id=clash_id)]
        async with delivery_pool(lrs.db, DeliveryConfig.of(settings)):
            await lrs.post(docs)

            async def absent() -> list[str]:
                found = []
                for d in docs[:-1]:
                    got = await peer.get(
                        "/xapi/statements",
                        params={"statementId": d["id"]},
                        headers=xapi_headers(),
                    )
                    if got.status_code != 200:
                        found.append(d["id"])
                return found

            assert await eventually(absent) == []
            log = await eventually(
                lambda: lrs.admin(f"{sub['id']}/deliveries"),
                lambda d: bool(d) and all(x["state"] == "delivered" for x in d),
            )
        kept = await peer.get(
            "/xapi/statements", params={"statementId": clash_id}, headers=xapi_headers()
        )
        status = await lrs.admin(f"{sub['id']}/status")
    assert kept.json()["verb"]["id"].endswith("failed")  # the target's own is kept
    assert [c for d in log for c in d["conflicts"]] == [clash_id]
    assert status["conflicts_total"] == 1


async def test_progress_subscriptions_get_the_learners_progress(settings: LrsSettings) -> None:
    with running_receiver("up") as receiver:
        await progress_delivered(settings, receiver)


async def progress_delivered(settings: LrsSettings, receiver: Receiver) -> None:
    async with lrs_with_webhooks(settings) as lrs:
        sub = await lrs.subscribe(
            url=receiver.url,
            filter={"progress": True, "statements": False, "actors": [agent(2)]},
        )
        progress = CONSUMERS["progress"].build(lrs.db, settings)
        progress_hooks = CONSUMERS["webhooks-learner-progress"].build(lrs.db, settings)
        async with (
            running_consumer(settings, progress, topics.STORED_STATEMENTS),
            running_consumer(settings, progress_hooks, topics.LEARNER_PROGRESS),
            delivery_pool(lrs.db, DeliveryConfig.of(settings)),
        ):
            await lrs.post([statement(1, "passed"), statement(2, "passed")])

            async def learners() -> set[str]:
                bodies = [orjson.loads(r.body) for r in receiver.processed().values()]
                return {p["value"]["learner"] for b in bodies for p in b["progress"]}

            seen = await eventually(learners, bool)
            status = await eventually(  # the worker records it after the receiver's answer
                lambda: lrs.admin(f"{sub['id']}/status"), lambda s: s["delivered_total"] >= 1
            )
    assert seen == {"mbox:mailto:learner2@example.org"}
    assert all(orjson.loads(r.body)["statements"] == [] for r in receiver.snapshot())
    assert status["delivered_total"] >= 1


async def test_forwarding_cannot_ask_for_progress(settings: LrsSettings) -> None:
    async with api_client(settings) as api:
        body = {
            "url": "http://127.0.0.1:9/xapi",
            "kind": "forward",
            "username": "k",
            "secret": "s",
            "filter": {"progress": True},
        }
        answer = await api.post("/admin/webhooks", json=body, headers=xapi_headers())
    assert answer.status_code == 400
    assert "progress" in answer.json()["error"]["message"]


FAST_ENV = {key: str(value).lower() for key, value in FAST.items()}


async def test_the_webhooks_process_killed_mid_delivery_resends_it_with_the_same_id(
    settings: LrsSettings,
) -> None:
    """`lrs consume webhooks` (recording and delivering) killed with SIGKILL while a receiver
    holds its request; a new process resends that delivery with the same id once the lease
    runs out, and every statement is kept once by delivery id."""
    async with running_persister(settings), api_client(settings) as api:
        with running_receiver("hold") as receiver:
            answer = await api.post(
                "/admin/webhooks", json={"url": receiver.url}, headers=xapi_headers()
            )
            assert answer.status_code == 201, answer.text
            docs = learner_statements(learners=3, each=4)
            with reaped(consumer_process(settings, "webhooks", **FAST_ENV)) as first:
                posted = await api.post("/xapi/statements", json=docs, headers=xapi_headers())
                assert posted.status_code == 200, posted.text
                held = await eventually(
                    lambda: asyncio.sleep(0, receiver.holding.is_set()), bool, within=120
                )
                assert held
                first.send_signal(signal.SIGKILL)
                first.wait(10)
            receiver.mode = "up"
            receiver.release.set()  # the receiver kept the batch; its answer reaches no one
            cut = await eventually(lambda: asyncio.sleep(0, receiver.snapshot()), bool)
            cut_id = cut[0].delivery_id
            with reaped(consumer_process(settings, "webhooks", **FAST_ENV)):
                missing = await eventually(
                    delivered_once(receiver, {d["id"] for d in docs}), within=120
                )
                again = await eventually(
                    lambda: asyncio.sleep(0, receiver.snapshot()),
                    lambda r: sum(x.delivery_id == cut_id for x in r) >= 2,
                )
    assert missing == set()
    resent = [x.statements for x in again if x.delivery_id == cut_id]
    assert len(resent) >= 2
    assert resent[0] == resent[1]
    assert set(times_each(receiver).values()) == {1}


async def test_the_cli_manages_subscriptions(
    settings: LrsSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    async def cli(*argv: str) -> str:
        capsys.readouterr()
        args = _parser().parse_args(["webhooks", *argv])
        assert await asyncio.to_thread(admin_cli.run, args, settings) == 0
        return capsys.readouterr().out

    created = await cli(
        "create", "http://127.0.0.1:9/hook", "--tenant", "default", "--filter", '{"verbs": ["v"]}'
    )
    sub_id = created.split("\t")[0]
    assert "secret: " in created
    listed = await cli("list", "--tenant", "default")
    assert sub_id in listed
    assert '"verbs":["v"]' in listed
    assert "\tpaused\t" in await cli("pause", sub_id)
    assert "\tactive\t" in await cli("resume", sub_id)
    assert "pending_items: 0" in await cli("status", sub_id)
    assert await cli("deliveries", sub_id) == ""
    assert "replayed: 0" in await cli("replay", sub_id)
    await cli("delete", sub_id)
    assert sub_id not in await cli("list")


async def test_only_the_admin_scope_manages_subscriptions_and_bad_bodies_are_400(
    settings: LrsSettings,
) -> None:
    async with api_client(settings) as api:
        await api.post("/admin/tenants", json={"name": "default"}, headers=xapi_headers())
        body = {"tenant": "default", "scopes": ["all"], "label": "no admin"}
        created = await api.post("/admin/credentials", json=body, headers=xapi_headers())
        assert created.status_code == 201, created.text
        plain = xapi_headers(key=created.json()["key"], secret=created.json()["secret"])
        hook = {"url": "http://127.0.0.1:9/hook"}
        assert (await api.post("/admin/webhooks", json=hook, headers=plain)).status_code == 403
        assert (await api.get("/admin/webhooks", headers=plain)).status_code == 403
        no_auth = {"X-Experience-API-Version": "1.0.3"}
        assert (await api.get("/admin/webhooks", headers=no_auth)).status_code == 401
        for bad in (
            {},
            {"url": "http://127.0.0.1:9/", "kind": "carrier-pigeon"},
            {"url": "http://127.0.0.1:9/", "secret": "short"},
            {"url": "http://127.0.0.1:9/", "filter": {"verbs": "x"}},
            {"url": "http://127.0.0.1:9/", "kind": "forward"},
        ):
            answer = await api.post("/admin/webhooks", json=bad, headers=xapi_headers())
            assert answer.status_code == 400, (bad, answer.text)
        missing = await api.post("/admin/webhooks/nope/pause", headers=xapi_headers())
        assert missing.status_code == 404
        state = await api.get("/admin/webhooks/nope/deliveries?state=lost", headers=xapi_headers())
        assert state.status_code == 400


async def test_erasing_a_learner_drops_their_unsent_events(settings: LrsSettings) -> None:
    """docs/erasure.md: what a subscription has not sent yet about an erased learner is
    dropped from its outbox and open deliveries; the other learners' events still go."""
    async with lrs_with_webhooks(settings) as lrs:
        with running_receiver("down") as receiver:
            await lrs.subscribe(url=receiver.url)
            docs = learner_statements(learners=2, each=3)
            async with delivery_pool(lrs.db, DeliveryConfig.of(settings)):
                await lrs.post(docs)
                await eventually(
                    lambda: asyncio.sleep(0, receiver.snapshot()), lambda r: len(r) >= 2
                )
                erased = await lrs.api.delete(
                    "/admin/agents",
                    params={"agent": orjson.dumps(agent(1)).decode()},
                    headers=xapi_headers(),
                )
                assert erased.status_code == 200, erased.text
                receiver.mode = "up"
                others = {d["id"] for d in docs if "learner2" in d["actor"]["mbox"]}
                missing = await eventually(delivered_once(receiver, others))
            left = [
                await lrs.db[name].find({}).to_list(None)
                for name in ("webhook_items", "webhook_deliveries")
            ]
    assert missing == set()
    kept = [s for r in receiver.processed().values() for s in r.statements]
    assert {s["id"] for s in kept} == others
    assert "learner1@example.org" not in repr(left)
