"""JSON from a client, parsed within bounds. Pure.

Every JSON text a request carries (a parameter such as `agent`, a paging cursor, a document or
a body) is parsed here, so that no input can exhaust the parser (Python's `json` recurses once
per nesting level and raises RecursionError on deep input) or hand the rest of the LRS a value
it cannot encode again (lone surrogates, numbers beyond a double, NaN). A text that breaks a
bound is a 400 naming the rule, never an internal error.

Depth counts nested objects and arrays: ``{}`` and ``[]`` are depth 1, ``{"a": [1]}`` depth 2,
a bare number or string depth 0.
"""

from __future__ import annotations

from typing import Any

import orjson

from lrs.xapi.errors import BadRequest, XapiError, refusal

RULE_JSON = "json"
RULE_DEPTH = "json-depth"


def json_depth(value: Any, stop_above: int | None = None) -> int:
    """The nesting depth of a parsed JSON value, walked without recursion. With `stop_above`,
    the walk ends as soon as that depth is exceeded (and returns the depth it reached)."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if stop_above is not None and deepest > stop_above:
            return deepest
        pending.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return deepest


def _too_deep(error: type[XapiError], what: str, max_depth: int) -> XapiError:
    return refusal(
        error,
        what,
        RULE_DEPTH,
        f"JSON nested more than {max_depth} levels deep (the limit, LRS_MAX_JSON_DEPTH)",
    )


def loads_bounded(
    data: str | bytes, *, max_depth: int, what: str, error: type[XapiError] = BadRequest
) -> Any:
    """`data` parsed as JSON (RFC 8259, UTF-8) no deeper than `max_depth`, else `error` (a 400
    class) naming `what` and the rule: `json` for text that is not JSON (or holds values JSON
    cannot carry portably: lone surrogates, numbers out of a double's range), `json-depth`
    for nesting beyond the limit."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # orjson's own hard limit, far above any configured one
            raise _too_deep(error, what, max_depth) from None
        raise refusal(error, what, RULE_JSON, f"is not valid JSON ({exc})") from None
    if json_depth(value, stop_above=max_depth) > max_depth:
        raise _too_deep(error, what, max_depth)
    return value
