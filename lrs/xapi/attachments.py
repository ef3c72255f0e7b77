"""Statements with Attachments: the multipart/mixed Statement request and its parts.

xAPI Data 2.4.11 (Attachments) and xAPI Communication 1.5.2 (Multipart/Mixed): the first
part holds the Statement(s) as ``application/json``; every other part holds the raw data
of one Attachment, named by the SHA-2 of that data in its ``X-Experience-API-Hash``
header. The LRS matches parts with Attachment Objects by that hash and "MUST not do so any
other way" (Communication 1.5.2).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lrs.xapi.errors import BadRequest, InvalidStatement, Issue, bad_request
from lrs.xapi.multipart import Part, parse_multipart_mixed, split_media_type

SIGNATURE_USAGE_TYPE = "http://adlnet.gov/expapi/attachments/signature"
SIGNATURE_CONTENT_TYPE = "application/octet-stream"
HASH_HEADER = "x-experience-api-hash"
# RFC 2045 5.2: a part without Content-Type is "text/plain; charset=us-ascii".
DEFAULT_PART_CONTENT_TYPE = "text/plain; charset=us-ascii"
# The rules a part of the request is refused by (Communication 1.5.2).
STATEMENTS_PART = "statements-part-type"
PART_ENCODING = "part-transfer-encoding"
PART_HASH = "part-hash"
PART_HASH_CONFLICT = "part-hash-conflict"

_COMM_152 = "xAPI Communication 1.5.2"
_DATA_2411 = "xAPI Data 2.4.11"
_DATA_26 = "xAPI Data 2.6"
_HEX_RE = re.compile(r"[0-9a-f]+")
# SHA-2 digests by hex length (Communication 1.5.2: SHA-256, SHA-384 or SHA-512 SHOULD be
# used; SHA-224 is a SHA-2 digest too and cannot be mistaken for another by its length).
_SHA2_BY_HEX_LENGTH: dict[int, Callable[[bytes], Any]] = {
    56: hashlib.sha224,
    64: hashlib.sha256,
    96: hashlib.sha384,
    128: hashlib.sha512,
}


@dataclass(frozen=True)
class AttachmentPayload:
    """The raw data of one Attachment, as received in a part (hash lower-cased)."""

    sha2: str
    content_type: str
    data: bytes


# --- splitting the request -----------------------------------------------------------------


def split_statement_request(
    content_type: str, body: bytes
) -> tuple[bytes, dict[str, AttachmentPayload]]:
    """Split a multipart/mixed Statement request into (statement JSON, payloads by sha2).

    xAPI Communication 1.5.2, "Requirements for Attachment Statement Batches":

    * "The first part of the multipart document MUST contain the Statements themselves,
      with type application/json" - so the first part needs that Content-Type; a second
      JSON part without a hash header is refused by the next rule;
    * "MUST include an X-Experience-API-Hash parameter in each part's header after the
      first (Statements) part";
    * "MUST include a Content-Transfer-Encoding parameter with a value of binary in each
      part's header after the first (Statements) part".

    Raises `BadRequest`; whether the hashes are right is `check_attachments`' business.
    """
    parts = parse_multipart_mixed(content_type, body)
    _check_statement_part(parts[0])
    payloads: dict[str, AttachmentPayload] = {}
    for number, part in enumerate(parts[1:], start=2):
        payload = _attachment_payload(number, part)
        known = payloads.get(payload.sha2)
        if known is not None and known.data != payload.data:
            raise _bad_part(
                number, PART_HASH_CONFLICT, "declares the same hash as an earlier part, other data"
            )
        payloads.setdefault(payload.sha2, payload)
    return parts[0].body, payloads


def _bad_part(number: int, rule: str, problem: str) -> BadRequest:
    """A part of the request breaking `rule` (`bad_request`: named part, rule and message)."""
    return bad_request(
        f"multipart/mixed part {number}",
        rule,
        f"{problem} ({_COMM_152}, Requirements for Attachment Statement Batches)",
    )


def _check_statement_part(part: Part) -> None:
    """Communication 1.5.2: the first part MUST be the Statements, type application/json."""
    declared = part.headers.get("content-type")
    if declared is None:
        raise _bad_part(
            1, STATEMENTS_PART, "has no Content-Type; the Statements part MUST be application/json"
        )
    essence, _ = split_media_type(declared)
    if essence != "application/json":
        raise _bad_part(
            1,
            STATEMENTS_PART,
            f"has Content-Type {essence!r}; the Statements part MUST be application/json",
        )


def _attachment_payload(number: int, part: Part) -> AttachmentPayload:
    """Communication 1.5.2: each later part MUST carry the hash and binary transfer encoding."""
    encoding = part.headers.get("content-transfer-encoding")
    if encoding is None or encoding.strip().lower() != "binary":
        raise _bad_part(
            number, PART_ENCODING, "MUST have the header 'Content-Transfer-Encoding: binary'"
        )
    sha2 = part.headers.get(HASH_HEADER, "").strip().lower()
    if not sha2:
        raise _bad_part(number, PART_HASH, "MUST have an X-Experience-API-Hash header")
    content_type = part.headers.get("content-type") or DEFAULT_PART_CONTENT_TYPE
    return AttachmentPayload(sha2=sha2, content_type=content_type, data=part.body)


# --- matching attachments and parts --------------------------------------------------------


def check_attachments(
    statements: Sequence[Mapping[str, Any]], payloads: Mapping[str, AttachmentPayload]
) -> None:
    """Match the Attachment Objects of a request with its parts; raise `InvalidStatement`.

    * Communication 1.5.2: an LRS "MUST reject batches of Statements having Attachments that
      neither contain a fileUrl nor match a received Attachment part based on their hash";
    * every part after the first is the raw data of an Attachment "and forms a logical
      part of the Statement": a part no Attachment refers to is refused;
    * Communication 1.5.2: the LRS matches data to an Attachment "by comparing the SHA-2 of
      the raw data to the SHA-2 declared in the header": the declared hash MUST be the
      real SHA-2 (SHA-224/256/384/512, chosen by its length) of the part's bytes.

    Attachments of a SubStatement are matched the same way as the Statement's own. For an
    ``application/json`` request pass no payloads: every Attachment then needs a fileUrl
    (Communication 1.5.1). Issue paths index ``statements``: ``$[0].attachments[1].sha2``.
    """
    issues: list[Issue] = []
    referenced: set[str] = set()
    for path, attachment in _attachments_of_batch(statements):
        sha2 = _declared_sha2(attachment)
        if sha2 is not None:
            referenced.add(sha2)
        if "fileUrl" not in attachment and (sha2 is None or sha2 not in payloads):
            issues.append(_missing_part(path))
    for sha2, payload in payloads.items():
        if sha2 not in referenced:
            issues.append(_unreferenced_part(sha2))
        issues.extend(_hash_issues(sha2, payload.data))
    if issues:
        raise InvalidStatement(
            f"The Attachments do not match the parts of the request: {issues[0].message}",
            details=issues,
        )


def _attachments_of_batch(
    statements: Sequence[Mapping[str, Any]],
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for index, statement in enumerate(statements):
        if not isinstance(statement, Mapping):
            continue
        yield from _attachments_at(f"$[{index}]", statement)
        target = statement.get("object")
        if isinstance(target, Mapping) and target.get("objectType") == "SubStatement":
            yield from _attachments_at(f"$[{index}].object", target)


def _attachments_at(
    prefix: str, statement: Mapping[str, Any]
) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(path, attachment) for each Attachment Object; malformed shapes are the validator's."""
    attachments = statement.get("attachments")
    if not isinstance(attachments, list):
        return
    for index, attachment in enumerate(attachments):
        if isinstance(attachment, Mapping):
            yield f"{prefix}.attachments[{index}]", attachment


def _declared_sha2(attachment: Mapping[str, Any]) -> str | None:
    sha2 = attachment.get("sha2")
    return sha2.strip().lower() if isinstance(sha2, str) and sha2.strip() else None


def _missing_part(path: str) -> Issue:
    return Issue(
        path=f"{path}.sha2",
        rule=f"{_COMM_152}: an Attachment without fileUrl MUST match a received part by hash",
        message=f"the Attachment at {path} has no fileUrl and no part of the request carries "
        f"its sha2 in an X-Experience-API-Hash header ({_COMM_152}, {_DATA_2411})",
    )


def _unreferenced_part(sha2: str) -> Issue:
    return Issue(
        path="$",
        rule=f"{_COMM_152}: each part after the first is the raw data of an Attachment",
        message=f"the part with X-Experience-API-Hash {sha2} is not the data of any "
        f"Attachment of the Statement(s) ({_COMM_152})",
    )


def _hash_issues(sha2: str, data: bytes) -> list[Issue]:
    rule = f"{_COMM_152}: an Attachment part is matched by the SHA-2 of its raw data"
    digest = _SHA2_BY_HEX_LENGTH.get(len(sha2))
    if digest is None or not _HEX_RE.fullmatch(sha2):
        message = (
            f"the X-Experience-API-Hash {sha2[:140]!r} is not a hex SHA-224, SHA-256, "
            f"SHA-384 or SHA-512 digest ({_COMM_152})"
        )
        return [Issue(path="$", rule=rule, message=message)]
    if digest(data).hexdigest() != sha2:
        message = (
            f"the part declared with X-Experience-API-Hash {sha2} has data whose "
            f"SHA-2 is different ({_COMM_152})"
        )
        return [Issue(path="$", rule=rule, message=message)]
    return []


# --- signatures ----------------------------------------------------------------------------


def signed_statement_parts(
    statement: Mapping[str, Any], payloads: Mapping[str, AttachmentPayload]
) -> list[tuple[int, AttachmentPayload]]:
    """The JWS signature Attachments of one Statement: (index in ``attachments``, payload).

    xAPI Data 2.6: a Signed Statement "MUST include a JSON web signature (JWS) ... as an
    Attachment with a usageType of http://adlnet.gov/expapi/attachments/signature and a
    contentType of application/octet-stream". An Attachment with that usageType but
    another contentType, or whose JWS is not among the parts (so it cannot be verified,
    as the LRS MUST do), is refused with `InvalidStatement`.
    """
    found: list[tuple[int, AttachmentPayload]] = []
    attachments = statement.get("attachments")
    if not isinstance(attachments, list):
        return found
    for index, attachment in enumerate(attachments):
        if isinstance(attachment, Mapping) and attachment.get("usageType") == (
            SIGNATURE_USAGE_TYPE
        ):
            found.append((index, _signature_payload(index, attachment, payloads)))
    return found


def _signature_payload(
    index: int, attachment: Mapping[str, Any], payloads: Mapping[str, AttachmentPayload]
) -> AttachmentPayload:
    path = f"$.attachments[{index}]"
    content_type = attachment.get("contentType")
    if not isinstance(content_type, str) or _essence(content_type) != SIGNATURE_CONTENT_TYPE:
        raise _signature_error(
            f"{path}.contentType",
            f"a signature Attachment MUST have the contentType {SIGNATURE_CONTENT_TYPE}, "
            f"not {content_type!r}",
        )
    sha2 = _declared_sha2(attachment)
    payload = payloads.get(sha2) if sha2 is not None else None
    if payload is None:
        raise _signature_error(
            f"{path}.sha2",
            "the JWS of a signature Attachment MUST be sent as a part of the multipart/mixed "
            "request so that the LRS can verify it",
        )
    return payload


def _essence(content_type: str) -> str:
    return content_type.partition(";")[0].strip().lower()


def _signature_error(path: str, problem: str) -> InvalidStatement:
    rule = f"{_DATA_26}: Signature Requirements"
    message = f"Malformed signed Statement: {problem} ({_DATA_26}, Signature Requirements)"
    return InvalidStatement(message, details=[Issue(path=path, rule=rule, message=message)])
