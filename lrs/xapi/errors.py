"""Domain errors of the LRS.

They carry no HTTP: `lrs.api.errors` maps each class to a status code and renders one
error envelope. Each error has a stable machine-readable ``code`` and a human message that
names the rule that failed; ``details`` lists individual problems (JSON path + rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem found in a request: where (a JSON path such as ``$.actor.mbox``) and why."""

    path: str
    rule: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "rule": self.rule, "message": self.message}


class XapiError(Exception):
    """Base of every error the LRS reports to a client."""

    code = "error"

    def __init__(self, message: str, details: list[Issue] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = list(details or [])

    def details_as_dicts(self) -> list[dict[str, Any]]:
        return [issue.as_dict() for issue in self.details]


class InvalidStatement(XapiError):
    """A statement breaks a rule of the xAPI Data specification."""

    code = "invalid_statement"


class BadRequest(XapiError):
    """A request is malformed: parameters, headers, body encoding (xAPI Communication 3.2)."""

    code = "bad_request"


class InvalidDocument(XapiError):
    """A document (State, Activity/Agent Profile) request breaks a rule of the spec."""

    code = "invalid_document"


class DuplicateStatementId(XapiError):
    """Two statements in one request share an id."""

    code = "duplicate_statement_id"


class StatementConflict(XapiError):
    """A statement id already exists with different content (Communication 2.1.1, 409)."""

    code = "statement_conflict"


class UnsupportedVersion(XapiError):
    """The X-Experience-API-Version header is missing or names a version we do not serve."""

    code = "unsupported_version"


class Unauthenticated(XapiError):
    """No credentials, or credentials that are unknown, wrong, expired or revoked."""

    code = "unauthenticated"


class Forbidden(XapiError):
    """Valid credentials without the scope the request needs."""

    code = "forbidden"


class NotFound(XapiError):
    """The requested statement or document does not exist (for this tenant)."""

    code = "not_found"


class PayloadTooLarge(XapiError):
    """The request body exceeds the configured limit."""

    code = "payload_too_large"


class PreconditionFailed(XapiError):
    """If-Match / If-None-Match did not hold (412)."""

    code = "precondition_failed"


class Conflict(XapiError):
    """A write that would silently overwrite another's change (409), e.g. a PUT without ETag."""

    code = "conflict"


class TooManyRequests(XapiError):
    """Too many failed attempts from one client; it may try again after `retry_after` s."""

    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, details: list[Issue] | None = None):
        super().__init__(message, details)
        self.retry_after = retry_after


class Unavailable(XapiError):
    """A dependency (broker, store, persister) did not answer in time; nothing was acknowledged."""

    code = "unavailable"


E = TypeVar("E", bound=XapiError)


def refusal(error: type[E], where: str, rule: str, message: str) -> E:
    """The one way a named rule is refused: `error` with the message ``"<where>: <message>"``
    and one Issue (where, rule, message) in its details."""
    return error(f"{where}: {message}", [Issue(where, rule, message)])


def bad_request(where: str, rule: str, message: str) -> BadRequest:
    """A 400 Bad Request naming `where` (a parameter, a header, a part of the body) and the
    `rule` that failed (Communication 3.2)."""
    return refusal(BadRequest, where, rule, message)
