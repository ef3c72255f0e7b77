"""A small blocking HTTP client for `lrs import` (standard library only): Basic credentials,
the xAPI version header, JSON bodies, and a few retries of what a busy LRS answers (429, 502,
503, 504, connection errors) with a growing pause."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

RETRIED_STATUSES = frozenset({429, 502, 503, 504})


class TransferError(Exception):
    """Why an import cannot go on (printed to the user as is)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> Any:
        try:
            return orjson.loads(self.body)
        except orjson.JSONDecodeError as exc:
            raise TransferError(f"the answer is not JSON: {self.body[:200]!r}") from exc

    def message(self) -> str:
        """The error envelope's message (docs/decisions: lrs.api.errors), else the raw body."""
        try:
            doc = orjson.loads(self.body)
            return str(doc["error"]["message"])
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return self.body[:300].decode("utf-8", "replace")


def basic_auth(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class XapiHttp:
    """Requests to one xAPI endpoint with one credential."""

    authorization: str | None
    version: str = "1.0.3"
    timeout: float = 120.0
    attempts: int = 6
    pause: Callable[[float], None] = field(default=time.sleep)

    def get(self, url: str) -> Answer:
        return self._with_retries("GET", url, None, self.version)

    def post_json(self, url: str, body: Any, version: str | None = None) -> Answer:
        return self._with_retries("POST", url, orjson.dumps(body), version or self.version)

    def _with_retries(self, method: str, url: str, body: bytes | None, version: str) -> Answer:
        for attempt in range(self.attempts):
            last = attempt == self.attempts - 1
            try:
                answer = self._once(method, url, body, version)
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                if last:
                    raise TransferError(f"{method} {url}: {exc}") from exc
            else:
                if answer.status not in RETRIED_STATUSES or last:
                    return answer
            self.pause(min(0.5 * 2**attempt, 10.0))
        raise AssertionError("unreachable")

    def _once(self, method: str, url: str, body: bytes | None, version: str) -> Answer:
        request = urllib.request.Request(url, data=body, method=method)
        request.add_header("X-Experience-API-Version", version)
        request.add_header("Accept", "application/json")
        if body is not None:
            request.add_header("Content-Type", "application/json")
        if self.authorization:
            request.add_header("Authorization", self.authorization)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return Answer(response.status, response.read())
        except urllib.error.HTTPError as error:
            with error:
                return Answer(error.code, error.read())
