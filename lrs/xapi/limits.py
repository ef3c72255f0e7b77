"""What the pipeline can hold: limits a request's statements must keep before they are accepted.

An accepted statement travels through the broker (one record per statement), the store (one
document per statement, per Activity, per Agent) and the progress consumers (learner and team
ids in records and documents). Each has a size it cannot exceed, so the edge refuses, with a
message naming the limit and its setting, what would stop the pipeline after acceptance:

* statements per request (Communication 3.2: 413 Request Entity Too Large);
* the JSON size of one statement (Communication 3.2: "The LRS MUST reject with 413 ... any
  request ... where the size of the ... Statement ... is larger than the maximum allowed");
* the nesting depth of a statement (400): the JSON encoder stops at 255 levels;
* the length of identifiers and names (400): IRIs, mbox, openid, account name and homePage,
  Agent and Group names, every object key (extension IRIs, language tags). Language map
  values, `result.response` and extension values are text, bounded by the statement size.

Pure: the limits are passed in (`lrs.settings` holds their configured values).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from lrs.xapi._validation_schema import json_path
from lrs.xapi.bounded_json import json_depth
from lrs.xapi.definitions import EXTENSIONS
from lrs.xapi.errors import InvalidStatement, Issue, PayloadTooLarge

DEFAULT_MAX_STATEMENTS = 1000
DEFAULT_MAX_STATEMENT_BYTES = 512 * 1024
DEFAULT_MAX_JSON_DEPTH = 64
DEFAULT_MAX_IDENTIFIER_CHARS = 4096

# Properties whose string values (or list of strings) identify or name something.
IDENTIFIER_PROPERTIES = frozenset(
    {
        "id",
        "name",
        "mbox",
        "mbox_sha1sum",
        "openid",
        "homePage",
        "objectType",
        "type",
        "moreInfo",
        "interactionType",
        "usageType",
        "fileUrl",
        "contentType",
        "sha2",
        "platform",
        "language",
        "registration",
        "relevantTypes",
        "version",
        "timestamp",
        "stored",
    }
)
LANGUAGE_MAPS = frozenset({"display", "name", "description"})  # every map of a statement


@dataclass(frozen=True, slots=True)
class StatementLimits:
    """The limits `check_statement_limits` applies (defaults: those of `lrs.settings`)."""

    max_statements: int = DEFAULT_MAX_STATEMENTS
    max_statement_bytes: int = DEFAULT_MAX_STATEMENT_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    max_identifier_chars: int = DEFAULT_MAX_IDENTIFIER_CHARS


DEFAULT_LIMITS = StatementLimits()


class _Breach(Exception):
    """A limit broken somewhere below; each enclosing level adds its key to `parts`."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message
        self.parts: list[str | int] = []


def check_statement_limits(raws: Sequence[Any], limits: StatementLimits) -> None:
    """Raise PayloadTooLarge (413) for too many or too large statements, InvalidStatement (400)
    for too deep ones or too long identifiers; the first broken limit is reported."""
    if len(raws) > limits.max_statements:
        raise PayloadTooLarge(
            f"{len(raws)} statements in one request exceed the limit of {limits.max_statements}"
            " (LRS_MAX_STATEMENTS_PER_REQUEST; Communication 3.2)",
            [Issue("$", "statements-per-request", f"at most {limits.max_statements}")],
        )
    for index, raw in enumerate(raws):
        _check_statement(raw, limits, f"$[{index}]")


def _check_statement(raw: object, limits: StatementLimits, prefix: str) -> None:
    """The cheap path first (ingest is the hot path): the compact JSON of a statement with no
    more brackets than the depth limit cannot nest deeper, and one no longer than the
    identifier limit cannot hold a longer string; only other statements are walked."""
    try:
        encoded: bytes | None = orjson.dumps(raw)
    except orjson.JSONEncodeError:  # deeper than the encoder goes: the walk says where
        encoded = None
    if encoded is None or _may_breach_structure(encoded, limits):
        issue = structure_issue(raw, limits, prefix)
        if issue is not None:
            raise InvalidStatement(f"{issue.path}: {issue.message}", [issue])
    if encoded is None:  # not deep, yet not encodable: never seen from a parsed JSON body
        raise InvalidStatement(f"{prefix}: is not a JSON document (xAPI Data 2.2)")
    if len(encoded) > limits.max_statement_bytes:
        raise PayloadTooLarge(
            f"{prefix}: the statement's JSON is {len(encoded)} bytes, over the limit of"
            f" {limits.max_statement_bytes} (LRS_MAX_STATEMENT_BYTES; Communication 3.2)",
            [Issue(prefix, "statement-size", f"at most {limits.max_statement_bytes} bytes")],
        )


def _may_breach_structure(encoded: bytes, limits: StatementLimits) -> bool:
    if len(encoded) > limits.max_identifier_chars:
        return True
    return encoded.count(b"{") + encoded.count(b"[") > limits.max_json_depth


def structure_issue(doc: object, limits: StatementLimits, prefix: str = "$") -> Issue | None:
    """The first too deep level or too long identifier of a JSON value, or None."""
    try:
        _walk(doc, 1, None, limits)
    except _Breach as breach:
        return Issue(_path(prefix, reversed(breach.parts)), breach.rule, breach.message)
    return None


def _walk(value: object, depth: int, key: str | None, limits: StatementLimits) -> None:
    """Check a container at `depth` (the statement is 1) held under property `key`."""
    if depth > limits.max_json_depth:
        raise _too_deep(limits)
    if isinstance(value, dict):
        _walk_object(value, depth, key, limits)
    elif isinstance(value, list):
        for position, item in enumerate(value):
            try:
                _walk_item(item, depth, key, limits)
            except _Breach as breach:
                breach.parts.append(position)
                raise


def _walk_object(
    value: dict[str, Any], depth: int, key: str | None, limits: StatementLimits
) -> None:
    text_values = key in LANGUAGE_MAPS
    for name, item in value.items():
        try:
            if len(name) > limits.max_identifier_chars:
                raise _too_long(limits, "key")
            if key == EXTENSIONS:  # any JSON (Data 4.1): only its nesting is bounded
                room = limits.max_json_depth - depth
                if json_depth(item, stop_above=room) > room:
                    raise _too_deep(limits)
            elif not text_values:
                _walk_item(item, depth, name, limits)
        except _Breach as breach:
            breach.parts.append(name)
            raise


def _walk_item(item: object, depth: int, key: str | None, limits: StatementLimits) -> None:
    if isinstance(item, dict | list):
        _walk(item, depth + 1, key, limits)
    elif (
        isinstance(item, str)
        and key in IDENTIFIER_PROPERTIES
        and len(item) > limits.max_identifier_chars
    ):
        raise _too_long(limits, "value")


def _too_deep(limits: StatementLimits) -> _Breach:
    return _Breach(
        "json-depth",
        f"nests deeper than {limits.max_json_depth} levels of objects and arrays"
        " (LRS_MAX_JSON_DEPTH)",
    )


def _too_long(limits: StatementLimits, what: str) -> _Breach:
    return _Breach(
        "identifier-length",
        f"this {what} is longer than {limits.max_identifier_chars} characters, the limit for"
        " identifiers, names and keys (LRS_MAX_IDENTIFIER_CHARS)",
    )


def _path(prefix: str, parts: Iterator[str | int]) -> str:
    """The JSON path of a breach; keys cut to 64 characters (a breach may be a huge key)."""
    return json_path(prefix, [p if isinstance(p, int) else p[:64] for p in parts])
