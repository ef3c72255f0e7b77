"""Statement requests with Attachments (xAPI Communication 1.5.2, Data 2.4.11, Data 2.6)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from lrs.xapi.attachments import (
    AttachmentPayload,
    check_attachments,
    signed_statement_parts,
    split_statement_request,
)
from lrs.xapi.errors import BadRequest, InvalidStatement
from lrs.xapi.multipart import build_multipart_mixed

TEXT = b"here is a simple attachment"
TEXT_SHA = hashlib.sha256(TEXT).hexdigest()
SIGNATURE = "http://adlnet.gov/expapi/attachments/signature"
BOUNDARY = "-------314159265358979323846"
CT = f"multipart/mixed; boundary={BOUNDARY}"


def attachment(sha2: str = TEXT_SHA, **extra: Any) -> dict[str, Any]:
    return {
        "usageType": "http://example.com/attachment-usage/test",
        "display": {"en-US": "A test attachment"},
        "contentType": "text/plain",
        "length": len(TEXT),
        "sha2": sha2,
        **extra,
    }


def statement(*attachments: dict[str, Any]) -> dict[str, Any]:
    return {
        "actor": {"mbox": "mailto:a@example.com"},
        "verb": {"id": "http://adlnet.gov/expapi/verbs/answered"},
        "object": {"id": "http://example.com/activity"},
        "attachments": list(attachments),
    }


def raw_request(*raw_parts: bytes) -> bytes:
    """Hand-written body, as the ADL conformance suite builds them."""
    dash = b"--" + BOUNDARY.encode()
    return b"".join(dash + b"\r\n" + p + b"\r\n" for p in raw_parts) + dash + b"--\r\n"


def json_part(document: Any) -> bytes:
    return b"Content-Type: application/json\r\n\r\n" + json.dumps(document).encode()


def data_part(data: bytes, sha2: str, encoding: str | None = "binary") -> bytes:
    head = b"Content-Type: text/plain\r\n"
    if encoding is not None:
        head += f"Content-Transfer-Encoding: {encoding}\r\n".encode()
    return head + f"X-Experience-API-Hash: {sha2}\r\n\r\n".encode() + data


def payload(data: bytes, sha2: str | None = None) -> AttachmentPayload:
    digest = sha2 if sha2 is not None else hashlib.sha256(data).hexdigest()
    return AttachmentPayload(sha2=digest, content_type="text/plain", data=data)


# --- split_statement_request ----------------------------------------------------------------


def test_split_spec_example_request() -> None:
    """The example of xAPI Communication 1.5.2, with its quoted boundary."""
    boundary = "abcABC0123'()+_,-./:=?"
    stmt = statement(attachment())
    body = (
        f"--{boundary}\r\nContent-Type:application/json\r\n\r\n{json.dumps(stmt)}\r\n"
        f"--{boundary}\r\nContent-Type:text/plain\r\nContent-Transfer-Encoding:binary\r\n"
        f"X-Experience-API-Hash:{TEXT_SHA}\r\n\r\n{TEXT.decode()}\r\n--{boundary}--"
    ).encode()
    statement_json, payloads = split_statement_request(
        f'multipart/mixed; boundary="{boundary}"', body
    )
    assert json.loads(statement_json) == stmt
    assert payloads == {TEXT_SHA: AttachmentPayload(TEXT_SHA, "text/plain", TEXT)}
    check_attachments([json.loads(statement_json)], payloads)


def test_split_built_request_with_binary_data_and_uppercase_hash() -> None:
    data = bytes(range(256)) * 4
    sha2 = hashlib.sha512(data).hexdigest()
    content_type, body = build_multipart_mixed(
        [
            ({"Content-Type": "application/json; charset=utf-8"}, b"[]"),
            (
                {
                    "Content-Type": "image/png",
                    "Content-Transfer-Encoding": "BINARY",
                    "X-Experience-API-Hash": sha2.upper(),
                },
                data,
            ),
        ]
    )
    statement_json, payloads = split_statement_request(content_type, body)
    assert statement_json == b"[]"
    assert payloads == {sha2: AttachmentPayload(sha2, "image/png", data)}


def test_split_statement_only_request() -> None:
    """Communication 1.5.2: multipart/mixed need not carry any Attachment."""
    statement_json, payloads = split_statement_request(CT, raw_request(json_part({})))
    assert (statement_json, payloads) == (b"{}", {})


def test_split_keeps_one_copy_of_repeated_data() -> None:
    body = raw_request(json_part({}), data_part(TEXT, TEXT_SHA), data_part(TEXT, TEXT_SHA))
    _, payloads = split_statement_request(CT, body)
    assert list(payloads) == [TEXT_SHA]


def assert_part_refused(exc: BadRequest, number: int, rule: str) -> None:
    """The refusal names the part and the rule, like every other 400 (`bad_request`)."""
    (issue,) = exc.details
    assert (issue.path, issue.rule) == (f"multipart/mixed part {number}", rule), exc.details
    assert exc.message.startswith(f"multipart/mixed part {number}: "), exc.message
    assert "Communication 1.5.2" in exc.message, exc.message


def test_split_rejects_same_hash_with_other_data() -> None:
    body = raw_request(json_part({}), data_part(TEXT, TEXT_SHA), data_part(b"x", TEXT_SHA))
    with pytest.raises(BadRequest, match="same hash") as refused:
        split_statement_request(CT, body)
    assert_part_refused(refused.value, 3, "part-hash-conflict")


@pytest.mark.parametrize(
    "first",
    [
        b"Content-Type: text/plain\r\n\r\n{}",  # XAPI-00134
        b"\r\n{}",
        b"Content-Type: application/jsonx\r\n\r\n{}",
    ],
)
def test_split_rejects_first_part_not_json(first: bytes) -> None:
    with pytest.raises(BadRequest, match=r"part 1: .*application/json") as refused:
        split_statement_request(CT, raw_request(first, data_part(TEXT, TEXT_SHA)))
    assert_part_refused(refused.value, 1, "statements-part-type")


@pytest.mark.parametrize("encoding", [None, "base64", "8bit"])
def test_split_rejects_part_without_binary_transfer_encoding(encoding: str | None) -> None:
    """XAPI-00135: Content-Transfer-Encoding: binary is required on attachment parts."""
    body = raw_request(json_part({}), data_part(TEXT, TEXT_SHA, encoding))
    with pytest.raises(BadRequest, match=r"part 2: .*Content-Transfer-Encoding: binary") as refused:
        split_statement_request(CT, body)
    assert_part_refused(refused.value, 2, "part-transfer-encoding")


def test_split_rejects_part_without_hash_header() -> None:
    """XAPI-00132 / XAPI-00133: a second JSON part has no X-Experience-API-Hash."""
    second = b"Content-Type: application/json\r\nContent-Transfer-Encoding: binary\r\n\r\n{}"
    with pytest.raises(BadRequest, match=r"part 2: .*X-Experience-API-Hash") as refused:
        split_statement_request(CT, raw_request(json_part({}), second))
    assert_part_refused(refused.value, 2, "part-hash")


@pytest.mark.parametrize(
    "content_type",
    ["multipart/form-data; boundary=" + BOUNDARY, "multipart/mixed;", "application/json"],
)
def test_split_rejects_wrong_content_type_or_no_boundary(content_type: str) -> None:
    """XAPI-00127 / XAPI-00131."""
    with pytest.raises(BadRequest):
        split_statement_request(content_type, raw_request(json_part({})))


def test_split_rejects_part_missing_its_boundary_line() -> None:
    """XAPI-00130: the attachment part is glued to the JSON part; the JSON is then broken,
    and the attachment is missing, which check_attachments reports."""
    stmt = statement(attachment())
    glued = json_part(stmt) + b"\r\n" + data_part(TEXT, TEXT_SHA)
    statement_json, payloads = split_statement_request(CT, raw_request(glued))
    assert payloads == {}
    with pytest.raises(json.JSONDecodeError):
        json.loads(statement_json)
    with pytest.raises(InvalidStatement):
        check_attachments([stmt], payloads)


# --- check_attachments ----------------------------------------------------------------------


def test_check_accepts_matching_parts_and_file_urls() -> None:
    other = b"other data"
    other_sha = hashlib.sha384(other).hexdigest()
    statements = [
        statement(attachment(), attachment(fileUrl="http://example.com/f", sha2="00" * 32)),
        statement(attachment(sha2=other_sha.upper())),
        {"object": {"objectType": "SubStatement", "attachments": [attachment()]}},
    ]
    check_attachments(statements, {TEXT_SHA: payload(TEXT), other_sha: payload(other)})


def test_check_accepts_no_attachments_and_file_urls_only_without_parts() -> None:
    """Communication 1.5.1: fileUrl-only attachments need no parts."""
    check_attachments([statement(), statement(attachment(fileUrl="http://e.com/f"))], {})
    check_attachments([{"actor": {}}], {})


def test_check_accepts_referenced_part_even_with_file_url() -> None:
    check_attachments([statement(attachment(fileUrl="http://e.com/f"))], {TEXT_SHA: payload(TEXT)})


def test_check_rejects_attachment_without_part() -> None:
    """XAPI-00129: an attachment's data is missing."""
    second = hashlib.sha256(b"second").hexdigest()
    with pytest.raises(InvalidStatement, match="no fileUrl") as caught:
        check_attachments(
            [statement(attachment(), attachment(sha2=second))], {TEXT_SHA: payload(TEXT)}
        )
    assert [issue.path for issue in caught.value.details] == ["$[0].attachments[1].sha2"]
    assert "Communication 1.5.2" in caught.value.details[0].rule


def test_check_rejects_substatement_attachment_without_part() -> None:
    stmt = {"object": {"objectType": "SubStatement", "attachments": [attachment()]}}
    with pytest.raises(InvalidStatement) as caught:
        check_attachments([stmt], {})
    assert caught.value.details[0].path == "$[0].object.attachments[0].sha2"


def test_check_rejects_attachment_with_missing_sha2_and_no_file_url() -> None:
    broken = attachment()
    del broken["sha2"]
    with pytest.raises(InvalidStatement):
        check_attachments([statement(broken)], {})


def test_check_rejects_extra_part() -> None:
    """XAPI-00128: a part no attachment refers to."""
    extra = b"excess"
    extra_sha = hashlib.sha256(extra).hexdigest()
    with pytest.raises(InvalidStatement, match="not the data of any Attachment") as caught:
        check_attachments(
            [statement(attachment())],
            {TEXT_SHA: payload(TEXT), extra_sha: payload(extra)},
        )
    assert len(caught.value.details) == 1


def test_check_rejects_wrong_hash() -> None:
    """XAPI-00132: the declared hash is not the SHA-2 of the data."""
    wrong = "b018994f8bbe0f08992a65c48c8c8c56f09e9baceaa6227ed85c90ae52b73c89"
    with pytest.raises(InvalidStatement, match="SHA-2 is different"):
        check_attachments([statement(attachment(sha2=wrong))], {wrong: payload(TEXT, wrong)})


@pytest.mark.parametrize("sha2", ["abc", hashlib.sha1(TEXT).hexdigest(), "zz" * 32, TEXT_SHA + "0"])
def test_check_rejects_hash_that_is_not_sha2(sha2: str) -> None:
    with pytest.raises(InvalidStatement, match="not a hex SHA"):
        check_attachments([statement(attachment(sha2=sha2))], {sha2: payload(TEXT, sha2)})


@pytest.mark.parametrize("algorithm", ["sha224", "sha256", "sha384", "sha512"])
def test_check_verifies_each_sha2_length(algorithm: str) -> None:
    good = hashlib.new(algorithm, TEXT).hexdigest()
    check_attachments([statement(attachment(sha2=good))], {good: payload(TEXT, good)})
    with pytest.raises(InvalidStatement):
        check_attachments([statement(attachment(sha2=good))], {good: payload(b"x", good)})


def test_check_ignores_malformed_shapes_left_to_the_validator() -> None:
    check_attachments([{"attachments": "nope"}, {"attachments": [1, "x"]}], {})


# --- signed_statement_parts -----------------------------------------------------------------


def signature_attachment(
    sha2: str, content_type: str = "application/octet-stream"
) -> dict[str, Any]:
    return attachment(sha2=sha2, usageType=SIGNATURE, contentType=content_type)


def test_signed_parts_found_by_index() -> None:
    jws = b"header.payload.signature"
    jws_sha = hashlib.sha256(jws).hexdigest()
    stmt = statement(attachment(), signature_attachment(jws_sha))
    found = signed_statement_parts(stmt, {TEXT_SHA: payload(TEXT), jws_sha: payload(jws)})
    assert found == [(1, payload(jws))]


def test_unsigned_statement_has_no_signed_parts() -> None:
    assert signed_statement_parts(statement(attachment()), {TEXT_SHA: payload(TEXT)}) == []
    assert signed_statement_parts({"attachments": None}, {}) == []


@pytest.mark.parametrize("content_type", ["text/plain; charset=ascii", "application/json", 7])
def test_signed_parts_reject_wrong_content_type(content_type: Any) -> None:
    """XAPI-00115: the signature attachment MUST be application/octet-stream."""
    jws = b"a.b.c"
    jws_sha = hashlib.sha256(jws).hexdigest()
    stmt = statement(signature_attachment(jws_sha, content_type))
    with pytest.raises(InvalidStatement, match=r"application/octet-stream.*Data 2\.6") as caught:
        signed_statement_parts(stmt, {jws_sha: payload(jws)})
    assert caught.value.details[0].path == "$.attachments[0].contentType"


def test_signed_parts_reject_signature_without_part() -> None:
    stmt = statement(signature_attachment("ab" * 32))
    with pytest.raises(InvalidStatement, match="part"):
        signed_statement_parts(stmt, {})
