"""multipart/mixed parsing and building (RFC 2046 5.1.1, xAPI Communication 1.5.2)."""

from __future__ import annotations

import pytest

from lrs.xapi.errors import BadRequest
from lrs.xapi.multipart import Part, build_multipart_mixed, parse_multipart_mixed

BOUNDARY = "-------314159265358979323846"
CT = f"multipart/mixed; boundary={BOUNDARY}"


def body_of(*raw_parts: bytes, boundary: str = BOUNDARY) -> bytes:
    """A body in the shape the ADL conformance suite sends (CRLF after the close line)."""
    dash = b"--" + boundary.encode()
    chunks = [dash + b"\r\n" + part + b"\r\n" for part in raw_parts]
    return b"".join(chunks) + dash + b"--\r\n"


def test_parses_parts_headers_and_binary_body() -> None:
    binary = bytes(range(256)) + b"\r\n--not-the-boundary\r\n"
    body = body_of(
        b'Content-Type: application/json\r\n\r\n{"a": 1}',
        b"Content-Type:image/png\r\nContent-Transfer-Encoding: binary\r\n"
        b"X-Experience-API-Hash: abc\r\n\r\n" + binary,
    )
    parts = parse_multipart_mixed(CT, body)
    assert parts == [
        Part(headers={"content-type": "application/json"}, body=b'{"a": 1}'),
        Part(
            headers={
                "content-type": "image/png",
                "content-transfer-encoding": "binary",
                "x-experience-api-hash": "abc",
            },
            body=binary,
        ),
    ]


def test_spec_example_boundary_quoted_with_special_characters() -> None:
    boundary = "abcABC0123'()+_,-./:=?"
    body = b"\r\n" + body_of(b"Content-Type:application/json\r\n\r\n{}", boundary=boundary)
    parts = parse_multipart_mixed(f'multipart/mixed; boundary="{boundary}"', body)
    assert [p.body for p in parts] == [b"{}"]


def test_preamble_epilogue_padding_and_case_insensitive_type() -> None:
    body = (
        b"this is a preamble\r\n--b1 \t\r\nA: 1\r\n\r\nx\r\n--b1\r\n\r\ny\r\n--b1--  \r\n"
        b"epilogue --b1"
    )
    parts = parse_multipart_mixed("Multipart/Mixed ; charset=utf-8; BOUNDARY=b1", body)
    assert parts == [Part({"a": "1"}, b"x"), Part({}, b"y")]


def test_folded_header_and_empty_parts() -> None:
    body = body_of(b"X-Long: one\r\n two", b"", b"A: b\r\n")
    parts = parse_multipart_mixed(CT, body)
    assert parts == [Part({"x-long": "one two"}, b""), Part({}, b""), Part({"a": "b"}, b"")]


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/mixed",
        "multipart/mixed;",
        "multipart/mixed; boundary=",
        "multipart/form-data; boundary=" + BOUNDARY,
        "application/json",
        "multipart/mixed; boundary=" + "x" * 71,
        'multipart/mixed; boundary="unterminated',
        "multipart/mixed; boundary=a\u00e9b",
        'multipart/mixed; boundary="ends-with-space "',
        "multipart/mixed; junk",
    ],
)
def test_rejects_bad_content_type(content_type: str) -> None:
    with pytest.raises(BadRequest, match="RFC 2046"):
        parse_multipart_mixed(content_type, body_of(b"\r\n{}"))


def test_rejects_body_without_the_boundary() -> None:
    """XAPI-00131: the body does not use the declared boundary."""
    body = b"Content-Type: application/json\r\n\r\n{}\r\n"
    with pytest.raises(BadRequest, match="does not contain the boundary"):
        parse_multipart_mixed(CT, body)


def test_rejects_other_boundary_in_body() -> None:
    with pytest.raises(BadRequest):
        parse_multipart_mixed(CT, body_of(b"\r\n{}", boundary="other"))


def test_rejects_missing_close_delimiter() -> None:
    body = f"--{BOUNDARY}\r\nContent-Type: application/json\r\n\r\n{{}}\r\n".encode()
    with pytest.raises(BadRequest, match="close delimiter"):
        parse_multipart_mixed(CT, body)


def test_rejects_boundary_line_followed_by_text() -> None:
    body = f"--{BOUNDARY}\r\n\r\n{{}}\r\n--{BOUNDARY}junk\r\n\r\nx\r\n--{BOUNDARY}--".encode()
    with pytest.raises(BadRequest, match="CRLF"):
        parse_multipart_mixed(CT, body)


def test_rejects_body_that_is_only_a_close_delimiter() -> None:
    with pytest.raises(BadRequest, match="no parts"):
        parse_multipart_mixed(CT, f"--{BOUNDARY}--\r\n".encode())


@pytest.mark.parametrize(
    "raw_part",
    [
        b"no colon here\r\n\r\nbody",
        b"Bad Name: x\r\n\r\nbody",
        b"A: 1\r\nA: 2\r\n\r\nbody",
        b"A: \xff\xfe\r\n\r\nbody",
    ],
)
def test_rejects_broken_part_headers(raw_part: bytes) -> None:
    with pytest.raises(BadRequest, match="header"):
        parse_multipart_mixed(CT, body_of(raw_part))


def test_build_then_parse_round_trip() -> None:
    parts = [
        ({"Content-Type": "application/json"}, b'{"statements": []}'),
        (
            {"Content-Type": "application/octet-stream", "X-Experience-API-Hash": "ab"},
            b"\r\n--\x00\xff binary\r\n",
        ),
    ]
    content_type, body = build_multipart_mixed(parts)
    assert content_type.startswith("multipart/mixed; boundary=")
    parsed = parse_multipart_mixed(content_type, body)
    assert [p.body for p in parsed] == [b for _, b in parts]
    assert parsed[1].headers == {
        "content-type": "application/octet-stream",
        "x-experience-api-hash": "ab",
    }
    assert body.endswith(b"--\r\n")


def test_build_picks_a_boundary_not_in_the_data() -> None:
    content_type, body = build_multipart_mixed([({}, b"x")])
    boundary = content_type.split("boundary=")[1]
    assert boundary.isalnum()
    assert body.count(boundary.encode()) == 2


def test_build_rejects_header_injection_and_empty_input() -> None:
    with pytest.raises(ValueError, match="header"):
        build_multipart_mixed([({"X-A": "1\r\nX-B: 2"}, b"")])
    with pytest.raises(ValueError, match="part"):
        build_multipart_mixed([])
