"""Schema half of statement validation: load the xAPI JSON Schemas, compile them, explain errors.

The schemas live in ``schemas/xapi/<version>/*.json`` (draft 2020-12). Every ``$ref`` between
them uses an ``https://lrs.local/...`` ``$id``; all of them are handed to the validator as a
local registry, so nothing is ever fetched over the network.

A schema node that checks one rule of the specification carries three annotations the
validators ignore: ``x-rule`` (a stable kebab-case rule name), ``x-message`` and ``x-spec`` (the
section of the xAPI specification). An error is explained by the node holding the keyword that
failed (``absolute_keyword_location``); errors from plain structural keywords fall back to the
generic rules of xAPI Data 2.2 (wrong type, null value, property not allowed).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import jsonschema_rs

from lrs.xapi.errors import Issue

SUPPORTED_VERSIONS = ("1.0.3", "2.0.0")
SCHEMA_BASE_URI = "https://lrs.local/schemas/xapi/"
SCHEMA_FILES = ("common", "actor", "activity", "result", "context", "attachment", "statement")
_DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "schemas" / "xapi"

# Fallback explanations, by failing keyword: (rule, message, spec section).
_GENERIC: dict[str, tuple[str, str, str]] = {
    "additionalProperties": (
        "no-additional-properties",
        "this property is not allowed by the specification",
        "Data 2.2",
    ),
    "required": ("required-property", "a required property is missing", "Data 2.2"),
}
_NULL = ("no-null-values", "null values are not allowed outside extensions", "Data 2.2")


def schema_root() -> Path:
    """Folder holding one sub-folder of schemas per version (``LRS_XAPI_SCHEMA_DIR`` overrides)."""
    override = os.environ.get("LRS_XAPI_SCHEMA_DIR")
    return Path(override) if override else _DEFAULT_ROOT


def schema_uri(version: str, name: str) -> str:
    return f"{SCHEMA_BASE_URI}{version}/{name}.json"


@lru_cache(maxsize=len(SUPPORTED_VERSIONS))
def load_schemas(version: str) -> dict[str, dict[str, Any]]:
    """All schema documents of ``version``, keyed by their ``$id``."""
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"unsupported xAPI version {version!r}")
    docs: dict[str, dict[str, Any]] = {}
    for name in SCHEMA_FILES:
        path = schema_root() / version / f"{name}.json"
        doc = json.loads(path.read_text(encoding="utf-8"))
        docs[doc["$id"]] = doc
    return docs


@lru_cache(maxsize=len(SUPPORTED_VERSIONS))
def compiled(version: str) -> Any:
    """The compiled jsonschema-rs validator of a statement (built once, on first use)."""
    docs = load_schemas(version)
    root = docs[schema_uri(version, "statement")]
    registry = jsonschema_rs.Registry(list(docs.items()))
    return jsonschema_rs.Draft202012Validator(root, registry=registry)


def schema_issues(version: str, doc: object, prefix: str) -> list[Issue]:
    """Every schema violation of ``doc``, explained (empty when the schema accepts it)."""
    validator = compiled(version)
    try:
        if validator.is_valid(doc):
            return []
    except (ValueError, TypeError, RecursionError):
        return [Issue(prefix, "not-json", "is not a JSON document (xAPI Data 2.2)")]
    issues: list[Issue] = []
    for error in validator.iter_errors(doc):
        issues.extend(_explain(version, error, prefix))
    return issues


def _explain(version: str, error: Any, prefix: str) -> list[Issue]:
    kind = error.kind
    name: str = kind.name
    parts: list[str | int] = list(error.instance_path)
    if name == "propertyNames":
        inner = kind.error
        parts.append(str(inner.instance))
        return [_issue(version, inner, kind.error.kind.name, parts, prefix)]
    if name == "additionalProperties":
        return [_issue(version, error, name, [*parts, key], prefix) for key in kind.unexpected]
    if name == "required":
        parts.append(kind.property)
    return [_issue(version, error, name, parts, prefix)]


def _issue(version: str, error: Any, keyword: str, parts: list[str | int], prefix: str) -> Issue:
    rule, message, spec = _rule_for(version, error, keyword)
    return Issue(json_path(prefix, parts), rule, f"{message} (xAPI {spec})")


def _rule_for(version: str, error: Any, keyword: str) -> tuple[str, str, str]:
    if keyword == "type" and error.instance is None:
        return _NULL
    node = _node_at(version, error.absolute_keyword_location)
    if node is not None and "x-rule" in node:
        return node["x-rule"], node["x-message"], node["x-spec"]
    if keyword == "type":
        expected = " or ".join(str(t) for t in error.kind.types)
        return "wrong-type", f"must be of type {expected}", "Data 2.2"
    generic = _GENERIC.get(keyword)
    if generic is not None:
        return generic
    return "schema", str(error.message), "Data 2.2"


@lru_cache(maxsize=4096)
def _node_at(version: str, location: str | None) -> dict[str, Any] | None:
    """The schema object holding the keyword at ``location`` (``<$id>#/json/pointer/keyword``)."""
    if not location or "#" not in location:
        return None
    uri, pointer = location.split("#", 1)
    node: Any = load_schemas(version).get(uri)
    tokens = [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]
    if len(tokens) >= 2 and tokens[-2] == "dependentRequired":
        tokens = tokens[:-1]  # the failing keyword is dependentRequired itself
    for token in tokens[:-1]:
        if isinstance(node, list):
            node = node[int(token)]
        elif isinstance(node, dict):
            node = node.get(token)
        else:
            return None
    return node if isinstance(node, dict) else None


def json_path(prefix: str, parts: list[str | int]) -> str:
    """``$`` + parts as a JSON path: ``$.actor.mbox``, ``$.object.definition.choices[2]``."""
    out = [prefix]
    for part in parts:
        if isinstance(part, int):
            out.append(f"[{part}]")
        elif part.isidentifier():
            out.append(f".{part}")
        else:
            out.append(f"[{json.dumps(part, ensure_ascii=False)}]")
    return "".join(out)
