"""A store that stops answering on an open connection (hung, not down: no error, no close)
fails an API request with 503 within LRS_STORE_TIMEOUT_SECONDS instead of holding it for
ever. The real store, behind a TCP relay that this test can freeze."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from pymongo.uri_parser import parse_uri

from tests.conftest import Infra
from tests.support.stack import api_client, make_settings, prepare_infra, xapi_headers

pytestmark = pytest.mark.integration
ANSWER_WITHIN = 1.0  # LRS_STORE_TIMEOUT_SECONDS here
WITHIN = 15.0  # far longer than the timeout, far shorter than for ever


class FreezableRelay:
    """Relays every connection to `upstream`; once frozen, holds what either side sends."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.pumps: set[asyncio.Task[None]] = set()

    @contextlib.asynccontextmanager
    async def serving(self) -> AsyncIterator[int]:
        server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        try:
            yield server.sockets[0].getsockname()[1]
        finally:
            self.flowing.set()
            server.close()
            for pump in self.pumps:
                pump.cancel()
            await asyncio.gather(*self.pumps, return_exceptions=True)

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        store_r, store_w = await asyncio.open_connection(*self.upstream)
        for source, sink in ((client_r, store_w), (store_r, client_w)):
            pump = asyncio.create_task(self._pump(source, sink))
            self.pumps.add(pump)

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError):
            while data := await source.read(65536):
                await self.flowing.wait()
                sink.write(data)
                await sink.drain()
        sink.close()


async def test_a_read_of_a_store_that_stopped_answering_is_a_503_within_the_timeout(
    infra: Infra, module_namespace: str
) -> None:
    host, port = parse_uri(infra.mongodb_uri)["nodelist"][0]
    relay = FreezableRelay((host, port))
    async with relay.serving() as relay_port:
        uri = f"mongodb://127.0.0.1:{relay_port}/?directConnection=true"
        settings = make_settings(
            infra.kafka_bootstrap, uri, module_namespace, store_timeout_seconds=ANSWER_WITHIN
        )
        await prepare_infra(settings)
        params = {"statementId": str(uuid.uuid4())}
        async with api_client(settings) as client:
            answered = await client.get("/xapi/statements", params=params, headers=xapi_headers())
            assert answered.status_code == 404, answered.text
            relay.flowing.clear()
            loop = asyncio.get_running_loop()
            asked = loop.time()
            frozen = await asyncio.wait_for(
                client.get("/xapi/statements", params=params, headers=xapi_headers()), WITHIN
            )
            assert frozen.status_code == 503, frozen.text
            assert loop.time() - asked < WITHIN
            assert frozen.headers.get("retry-after")
            relay.flowing.set()  # the store answers again: so does the API
            again = await client.get("/xapi/statements", params=params, headers=xapi_headers())
            assert again.status_code == 404, again.text
