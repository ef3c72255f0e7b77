"""multipart/mixed bodies (RFC 2046 section 5.1), as used by the Statement Resource.

xAPI Communication 1.5.2: a request or response that can carry Attachments uses
``multipart/mixed``; it "MUST conform to the definition of multipart/mixed in RFC 2046".
This module only knows RFC 2046; what the parts mean for xAPI lives in
`lrs.xapi.attachments`. Everything is in memory (the API layer caps body sizes).

Grammar followed by the parser (RFC 2046 5.1.1)::

    body      := [preamble CRLF] "--" boundary padding CRLF part
                 *(CRLF "--" boundary padding CRLF part)
                 CRLF "--" boundary "--" padding [CRLF epilogue]
    part      := [header-lines] CRLF content
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from lrs.xapi.errors import BadRequest, bad_request

CRLF = b"\r\n"
_SPEC = "xAPI Communication 1.5.2 / RFC 2046 5.1.1"
# RFC 2046 5.1.1: boundary := 0*69<bchars> bcharsnospace, at most 70 characters.
_BOUNDARY_RE = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_PADDING = b" \t"


@dataclass(frozen=True)
class Part:
    """One body part: its header fields (names lower-cased) and its raw content."""

    headers: Mapping[str, str]
    body: bytes


def _malformed(message: str) -> BadRequest:
    return bad_request("multipart/mixed body", "multipart-syntax", f"{message} ({_SPEC})")


# --- Content-Type header -------------------------------------------------------------------


def split_media_type(value: str) -> tuple[str, dict[str, str]]:
    """Split ``type/subtype; name=value; name="quoted value"`` into (lower-cased type, params).

    Parameter names are lower-cased; quoted values are unquoted (RFC 2045 5.1). Raises
    `BadRequest` when the header cannot be parsed.
    """
    essence, _, rest = value.partition(";")
    params: dict[str, str] = {}
    while rest.strip():
        name, sep, rest = rest.partition("=")
        if not sep or not name.strip():
            raise _malformed(f"cannot parse the media type parameters of {value!r}")
        param_value, rest = _param_value(rest.lstrip(), value)
        params[name.strip().lower()] = param_value
    return essence.strip().lower(), params


def _param_value(text: str, header: str) -> tuple[str, str]:
    """Read one parameter value (token or quoted-string); return it and the remaining text."""
    if not text.startswith('"'):
        token, _, rest = text.partition(";")
        return token.strip(), rest
    chars: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            chars.append(text[index + 1])
            index += 2
            continue
        if char == '"':
            rest = text[index + 1 :].lstrip()
            if rest and not rest.startswith(";"):
                raise _malformed(f"unexpected text after a quoted parameter in {header!r}")
            return "".join(chars), rest[1:]
        chars.append(char)
        index += 1
    raise _malformed(f"unterminated quoted parameter in {header!r}")


def boundary_of(content_type: str) -> str:
    """The boundary of a ``multipart/mixed`` Content-Type header.

    xAPI Communication 1.5.2 requires ``multipart/mixed`` conforming to RFC 2046, which
    makes the boundary parameter mandatory (5.1.1) and limits it to 1-70 ``bchars``.
    """
    essence, params = split_media_type(content_type)
    if essence != "multipart/mixed":
        raise _malformed(f"the Content-Type is {essence!r}, not 'multipart/mixed'")
    boundary = params.get("boundary")
    if boundary is None:
        raise _malformed("the Content-Type header has no boundary parameter")
    if not _BOUNDARY_RE.fullmatch(boundary):
        raise _malformed("the boundary must be 1-70 characters from the RFC 2046 'bchars' set")
    return boundary


# --- body ----------------------------------------------------------------------------------


def parse_multipart_mixed(content_type: str, body: bytes) -> list[Part]:
    """Split a ``multipart/mixed`` body into its parts (RFC 2046 5.1.1, xAPI Comm. 1.5.2).

    Raises `BadRequest` when the Content-Type is not multipart/mixed, has no usable
    boundary, the body does not start with a boundary line (after an optional preamble),
    a delimiter line is malformed, the close delimiter is missing, or a part's header
    block is broken.
    """
    dash_boundary = b"--" + boundary_of(content_type).encode("ascii")
    position = _first_delimiter_end(body, dash_boundary)
    delimiter = CRLF + dash_boundary
    parts: list[Part] = []
    while True:
        end = body.find(delimiter, position)
        if end < 0:
            raise _malformed("the close delimiter '--<boundary>--' is missing")
        parts.append(_parse_part(body[position:end]))
        closed, position = _after_delimiter(body, end + len(delimiter))
        if closed:
            return parts


def _first_delimiter_end(body: bytes, dash_boundary: bytes) -> int:
    """Offset just after the first boundary line; the preamble before it is ignored."""
    if body.startswith(dash_boundary):
        start = 0
    else:
        found = body.find(CRLF + dash_boundary)
        if found < 0:
            raise _malformed("the body does not contain the boundary declared in the Content-Type")
        start = found + len(CRLF)
    closed, position = _after_delimiter(body, start + len(dash_boundary))
    if closed:
        raise _malformed("the body has no parts")
    return position


def _after_delimiter(body: bytes, offset: int) -> tuple[bool, int]:
    """After ``--boundary``: (True, _) for the close delimiter, else (False, part start)."""
    if body.startswith(b"--", offset):
        return True, len(body)
    index = offset
    while index < len(body) and body[index] in _PADDING:
        index += 1
    if not body.startswith(CRLF, index):
        raise _malformed("a boundary line must end with CRLF (the boundary occurs inside a part?)")
    return False, index + len(CRLF)


def _parse_part(raw: bytes) -> Part:
    """One body part: header lines, an empty line, then the content (RFC 2046 5.1.1).

    ``body-part := MIME-part-headers [CRLF *OCTET]``: headers and content are both optional.
    """
    if not raw:
        return Part(headers={}, body=b"")
    if raw.startswith(CRLF):
        return Part(headers={}, body=raw[len(CRLF) :])
    head, sep, content = raw.partition(CRLF + CRLF)
    if not sep:  # header fields only, no content
        return Part(headers=_parse_headers(raw.removesuffix(CRLF)), body=b"")
    return Part(headers=_parse_headers(head), body=content)


def _parse_headers(head: bytes) -> dict[str, str]:
    """Header fields of a part; names lower-cased, folded lines unfolded (RFC 5322 2.2)."""
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        raise _malformed("part header fields must be UTF-8 text") from None
    headers: dict[str, str] = {}
    for line in _unfold(text.split("\r\n")):
        name, sep, value = line.partition(":")
        name = name.strip().lower()
        if not sep or not _HEADER_NAME_RE.fullmatch(name):
            raise _malformed(f"invalid part header line {line[:80]!r}")
        if name in headers:
            raise _malformed(f"the part header field {name!r} appears more than once")
        headers[name] = value.strip()
    return headers


def _unfold(lines: list[str]) -> list[str]:
    unfolded: list[str] = []
    for line in lines:
        if line[:1] in (" ", "\t") and unfolded:
            unfolded[-1] += " " + line.strip()
        else:
            unfolded.append(line)
    return unfolded


# --- building ------------------------------------------------------------------------------


def build_multipart_mixed(parts: Sequence[tuple[Mapping[str, str], bytes]]) -> tuple[str, bytes]:
    """Serialize parts as ``multipart/mixed``; return (Content-Type header value, body).

    Used for Statement results with attachments (xAPI Communication 1.5.2: "An LRS MUST
    include Attachments in the Transmission Format described above when requested").
    The boundary is random, alphanumeric and checked not to occur in any part.
    """
    if not parts:
        raise ValueError("a multipart/mixed body needs at least one part")
    boundary = _fresh_boundary([body for _, body in parts])
    dash_boundary = b"--" + boundary.encode("ascii")
    chunks: list[bytes] = []
    for headers, body in parts:
        chunks += [dash_boundary, CRLF, _header_block(headers), CRLF, body, CRLF]
    chunks += [dash_boundary, b"--", CRLF]
    return f"multipart/mixed; boundary={boundary}", b"".join(chunks)


def _fresh_boundary(bodies: Sequence[bytes]) -> str:
    while True:
        boundary = "xapi" + secrets.token_hex(24)
        marker = boundary.encode("ascii")
        if not any(marker in body for body in bodies):
            return boundary


def _header_block(headers: Mapping[str, str]) -> bytes:
    lines: list[bytes] = []
    for name, value in headers.items():
        if not _HEADER_NAME_RE.fullmatch(name) or "\r" in value or "\n" in value:
            raise ValueError(f"invalid part header {name!r}")
        lines.append(f"{name}: {value}".encode() + CRLF)
    return b"".join(lines)
