"""A lone Agent (or Group), checked by the same schema rules as an Agent inside a statement
(``schemas/xapi/<version>/actor.json#/$defs/agent``, xAPI Data 2.4.2.1): the rules behind every
`agent` parameter (`lrs.xapi.params`) and every team member (`lrs.progress.registry`)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema_rs

from lrs.xapi._validation_schema import _explain, load_schemas, schema_uri
from lrs.xapi.errors import BadRequest, Issue
from lrs.xapi.limits import DEFAULT_LIMITS, StatementLimits, structure_issue


@lru_cache(maxsize=4)
def _validator(version: str, definition: str) -> Any:
    docs = load_schemas(version)
    root = {"$ref": schema_uri(version, "actor") + f"#/$defs/{definition}"}
    registry = jsonschema_rs.Registry(list(docs.items()))
    return jsonschema_rs.Draft202012Validator(root, registry=registry)


def agent_issues(
    doc: object,
    version: str,
    prefix: str = "$",
    *,
    limits: StatementLimits,
    group_allowed: bool = False,
) -> list[Issue]:
    """Every problem of `doc` as an Agent (or, when allowed, an Agent or a Group) of xAPI
    `version`, by the rules of the statement schema and the depth and identifier lengths
    statements keep (`limits`, the configured ones: an Agent a statement may hold can be
    queried; empty when valid)."""
    validator = _validator(version, "actor" if group_allowed else "agent")
    try:
        if validator.is_valid(doc):
            too_long = structure_issue(doc, limits, prefix)
            return [too_long] if too_long else []
    except (ValueError, TypeError, RecursionError):
        return [Issue(prefix, "not-json", "is not a JSON document (xAPI Data 2.2)")]
    return [
        issue for error in validator.iter_errors(doc) for issue in _explain(version, error, prefix)
    ]


def validate_agent(doc: object, version: str, limits: StatementLimits = DEFAULT_LIMITS) -> None:
    """Raise BadRequest unless `doc` is a valid Agent (Data 2.4.2.1: exactly one IFI, ...)
    within `limits` (the configured ones; the defaults where a caller has no settings)."""
    issues = agent_issues(doc, version, "agent", limits=limits)
    if issues:
        first = issues[0]
        raise BadRequest(f"{first.path}: {first.message}", issues)
