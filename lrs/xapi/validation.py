"""Validation of xAPI statements as a client sends them (xAPI 1.0.3 and 2.0.0).

Two layers:

* a JSON Schema per version (``schemas/xapi/<version>/``, draft 2020-12), compiled once with
  ``jsonschema_rs``: types, required and forbidden properties, enumerations, IRI / UUID /
  mailto / language tag / timestamp / duration formats, the Agent and Group identification
  rules (Data 2.4.2), objectType discrimination (Data 2.4.4), voiding (Data 2.3.2), context
  rules (Data 2.4.6), authority (Data 2.4.9), attachments (Data 2.4.11);
* a few Python rules a schema cannot state (``_validation_rules``): score bounds (Data
  2.4.5.1), distinct interaction component ids (Data 2.4.4.1), real calendar dates (Data 4.5),
  repeated language subtags (RFC 5646, Data 4.2).

Any problem raises ``InvalidStatement`` listing every ``Issue`` found (JSON path + rule); the
input is never modified.
"""

from __future__ import annotations

from lrs.xapi._validation_rules import rule_issues
from lrs.xapi._validation_schema import SUPPORTED_VERSIONS, schema_issues
from lrs.xapi.errors import InvalidStatement, Issue

__all__ = ["SUPPORTED_VERSIONS", "statement_issues", "validate_statement", "validate_statements"]

MAX_ISSUES = 100


def statement_issues(doc: object, *, version: str = "1.0.3", prefix: str = "$") -> list[Issue]:
    """Every problem of one statement (empty when valid); paths start with ``prefix``."""
    issues = schema_issues(version, doc, prefix)
    if issues or not isinstance(doc, dict):
        return _dedupe(issues)
    return rule_issues(doc, prefix)


def validate_statement(doc: object, *, version: str = "1.0.3") -> None:
    """Raise ``InvalidStatement`` unless ``doc`` is a valid statement of ``version``."""
    _raise_if_any(statement_issues(doc, version=version))


def validate_statements(docs: list[object], *, version: str = "1.0.3") -> None:
    """Validate a batch; issue paths name the statement (``$[3].actor.mbox``)."""
    if not isinstance(docs, list):
        _raise_if_any(
            [
                Issue(
                    "$",
                    "statements-array",
                    "must be an array of Statements (xAPI Communication 2.1.2)",
                )
            ]
        )
        return
    issues: list[Issue] = []
    for index, doc in enumerate(docs):
        issues.extend(statement_issues(doc, version=version, prefix=f"$[{index}]"))
        if len(issues) >= MAX_ISSUES:
            break
    _raise_if_any(issues)


def _raise_if_any(issues: list[Issue]) -> None:
    if not issues:
        return
    issues = issues[:MAX_ISSUES]
    first = issues[0]
    message = f"{first.path}: {first.message}"
    if len(issues) > 1:
        message += f" (and {len(issues) - 1} more problem{'s' if len(issues) > 2 else ''})"
    raise InvalidStatement(message, details=issues)


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[str, str]] = set()
    unique: list[Issue] = []
    for issue in issues:
        key = (issue.path, issue.rule)
        if key not in seen:
            seen.add(key)
            unique.append(issue)
    return unique
