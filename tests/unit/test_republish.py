"""Republishing the latest values (lrs.wiring.republish) ends on the stored version of each key
even when a writer changes or deletes it meanwhile and publishes before our older copy lands."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from lrs.adapters.mongo_latest import Stored
from lrs.ports.events import OutgoingMessage
from lrs.wiring import republish
from lrs.wiring.republish import Latest


@dataclass(frozen=True)
class Item:
    ident: str
    version: int


@dataclass
class Store:
    """The store's latest items by id; `on_publish` runs after each publish (a writer)."""

    items: dict[str, Item]
    on_publish: Callable[[Store], None] = lambda store: None

    async def read(
        self, stored: Stored[Item], ids: Sequence[str] | None = None
    ) -> AsyncIterator[tuple[str, Item]]:
        for ident in sorted(self.items if ids is None else set(ids) & set(self.items)):
            yield ident, self.items[ident]


@dataclass
class Bus:
    store: Store
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def publish(self, topic: str, messages: Sequence[OutgoingMessage]) -> None:
        self.sent += [(topic, orjson.loads(m.value)) for m in messages]
        self.store.on_publish(self.store)

    async def tombstones(self, topic: str, keys: Sequence[bytes]) -> None:
        self.sent += [(topic, {"tombstone": key.decode()}) for key in keys]

    async def ping(self) -> None:
        return None


def record(item: Item) -> list[tuple[str, OutgoingMessage]]:
    value = orjson.dumps({"id": item.ident, "version": item.version})
    return [("values", OutgoingMessage(item.ident.encode(), value, []))]


STORED = Stored("items", lambda doc: Item(doc["_id"], doc["version"]))
KIND = Latest(STORED, "values", record)


def bump(ident: str) -> Callable[[Store], None]:
    def write(store: Store) -> None:
        store.items[ident] = Item(ident, store.items[ident].version + 1)

    return write


async def test_a_value_written_during_the_republish_is_published_again() -> None:
    store = Store({"a": Item("a", 1), "b": Item("b", 4)})
    writes = [bump("a")]  # the writer stores a's version 2 while our version 1 is on its way
    store.on_publish = lambda s: writes.pop()(s) if writes else None
    bus = Bus(store)

    count = await republish.republish(bus, store, [KIND], "p.")

    assert count == 2
    last = {value["id"]: value["version"] for _, value in bus.sent}
    assert last == {"a": 2, "b": 4}
    assert [v for _, v in bus.sent] == [
        {"id": "a", "version": 1},
        {"id": "b", "version": 4},
        {"id": "a", "version": 2},
    ]
    assert {topic for topic, _ in bus.sent} == {"p.values"}


async def test_a_value_that_keeps_changing_is_given_up_after_max_rounds() -> None:
    store = Store({"hot": Item("hot", 1)}, on_publish=bump("hot"))
    bus = Bus(store)

    await republish.republish(bus, store, [KIND], "")

    assert len(bus.sent) == republish.MAX_ROUNDS


def delete(ident: str) -> Callable[[Store], None]:
    def write(store: Store) -> None:
        store.items.pop(ident, None)

    return write


async def test_a_value_deleted_during_the_republish_gets_its_tombstone_again() -> None:
    store = Store({"a": Item("a", 1), "b": Item("b", 2)}, on_publish=delete("a"))
    bus = Bus(store)

    await republish.republish(bus, store, [KIND], "")

    assert bus.sent[-1] == ("values", {"tombstone": "a"})
    assert ("values", {"id": "b", "version": 2}) in bus.sent


async def test_a_deleted_value_gets_what_its_deleter_publishes_when_it_says() -> None:
    def gone(item: Item) -> list[tuple[str, OutgoingMessage]]:
        value = orjson.dumps({"id": item.ident, "deleted": True})
        return [("values", OutgoingMessage(item.ident.encode(), value, []))]

    store = Store({"a": Item("a", 1)}, on_publish=delete("a"))
    bus = Bus(store)

    await republish.republish(bus, store, [Latest(STORED, "values", record, gone)], "")

    assert bus.sent == [
        ("values", {"id": "a", "version": 1}),
        ("values", {"id": "a", "deleted": True}),
    ]
