"""What the benchmark scripts share: an xAPI HTTP client and percentiles in milliseconds."""

from __future__ import annotations

import httpx


def client(base: str, key: str, secret: str) -> httpx.AsyncClient:
    """An xAPI 1.0.3 client with Basic credentials and room for many concurrent requests."""
    return httpx.AsyncClient(
        base_url=base,
        auth=(key, secret),
        headers={"X-Experience-API-Version": "1.0.3"},
        timeout=60,
        limits=httpx.Limits(max_connections=64),
    )


def pct(values: list[float], p: float) -> float:
    """The p-quantile of durations in seconds, in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000
