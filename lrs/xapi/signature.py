"""Signed Statements: verify the JWS carried by a signature Attachment.

xAPI Data 2.6 (1.0.3) and xAPI 2.0 (IEEE 9274.1.1) 4.2.6 "Statement Signing": the JWS
(RFC 7515) is the Attachment's raw data; it uses JWS Compact Serialization (a SHOULD in
1.0.3, a "shall" in 2.0) and the algorithm RS256, RS384 or RS512; its payload is the
JSON serialization of the Statement before the signature was added. "The LRS MUST reject
requests to store Statements that contain malformed signatures, with 400 Bad Request".

Verification steps the LRS MUST perform (Data 2.6, LRS Requirements):

1. decode the JWS and load the signed Statement from its payload;
2. validate that the original Statement is logically equivalent to the received one;
3. if the JWS header includes an X.509 certificate, validate the signature against it;
4. validate the signature requirements above (algorithm, serialization).

The X.509 check "is intended as a way to catch mistakes in the signature, not as a
security measure": the certificate chain is not validated (optional per the spec), and a
JWS without ``x5c`` cannot be checked cryptographically, so only steps 1, 2 and 4 apply.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from lrs.xapi.equivalence import signature_equivalent
from lrs.xapi.errors import InvalidStatement, Issue

_DATA_26 = "xAPI Data 2.6"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}
_B64URL_RE = re.compile(r"[A-Za-z0-9_-]*")
_MAX_JWS_BYTES = 1 << 24


def verify_signature(statement: Mapping[str, Any], jws: bytes) -> None:
    """Verify the JWS of a signed Statement (Data 2.6); raise `InvalidStatement` if malformed."""
    header_b64, payload_b64, signature_b64 = _compact_segments(jws)
    header = _json_segment(header_b64, "header")
    alg = _algorithm(header)
    payload = _json_segment(payload_b64, "payload")
    signature = _b64url_decode(signature_b64, "signature")
    certificate = _x5c_certificate(header)
    if certificate is not None:
        signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
        _verify_with_certificate(certificate, alg, signing_input, signature)
    _check_equivalent(payload, statement)


def _fail(problem: str, requirement: str) -> NoReturn:
    rule = f"{_DATA_26}: {requirement}"
    message = f"Malformed statement signature: {problem} ({rule})"
    raise InvalidStatement(
        message, details=[Issue(path="$.attachments", rule=rule, message=message)]
    )


def _compact_segments(jws: bytes) -> tuple[str, str, str]:
    """Data 2.6 / 2.0 4.2.6: JWS Compact Serialization, ``header.payload.signature``."""
    requirement = "the signature is a JWS in Compact Serialization (RFC 7515 7.1)"
    if len(jws) > _MAX_JWS_BYTES:
        _fail("the JWS is too large", requirement)
    try:
        text = jws.decode("ascii").strip()
    except UnicodeDecodeError:
        _fail("the JWS is not ASCII text", requirement)
    segments = text.split(".")
    if len(segments) != 3 or not all(_B64URL_RE.fullmatch(s) for s in segments):
        _fail("the JWS is not three base64url segments separated by '.'", requirement)
    return segments[0], segments[1], segments[2]


def _b64url_decode(segment: str, what: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        _fail(f"the JWS {what} is not valid base64url", "the signature is a JWS (RFC 7515)")


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _json_segment(segment: str, what: str) -> dict[str, Any]:
    """Decode a JSON object segment; the payload MUST be a valid JSON serialization."""
    requirement = (
        "the JWS payload MUST be a valid JSON serialization of the complete Statement"
        if what == "payload"
        else "the JWS header is a JSON object (RFC 7515 4)"
    )
    raw = _b64url_decode(segment, what)
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        _fail(f"the JWS {what} is not valid UTF-8 JSON", requirement)
    if not isinstance(value, dict):
        _fail(f"the JWS {what} is not a JSON object", requirement)
    return value


def _algorithm(header: Mapping[str, Any]) -> str:
    """Data 2.6: "The JWS signature MUST use an algorithm of RS256, RS384, or RS512"."""
    requirement = 'the JWS signature MUST use an algorithm of "RS256", "RS384", or "RS512"'
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in _HASHES:
        _fail(f"the JWS algorithm is {alg!r}", requirement)
    if "crit" in header:  # RFC 7515 4.1.11: we understand no extension, so must reject
        _fail("the JWS header lists critical extensions ('crit')", "RFC 7515 4.1.11")
    return alg


def _x5c_certificate(header: Mapping[str, Any]) -> x509.Certificate | None:
    """The signer's certificate: the first of ``x5c`` (RFC 7515 4.1.6, standard base64 DER)."""
    if "x5c" not in header:
        return None
    requirement = 'the "x5c" header holds the signer\'s X.509 certificate chain'
    chain = header["x5c"]
    if not isinstance(chain, list) or not chain or not isinstance(chain[0], str):
        _fail('"x5c" is not a non-empty array of base64 certificates', requirement)
    try:
        der = base64.b64decode(chain[0], validate=True)
        return x509.load_der_x509_certificate(der)
    except (binascii.Error, ValueError):
        _fail('the first "x5c" entry is not a base64 DER X.509 certificate', requirement)


def _verify_with_certificate(
    certificate: x509.Certificate, alg: str, signing_input: bytes, signature: bytes
) -> None:
    """Data 2.6: "If the JWS header includes an X.509 certificate, validate the signature"."""
    requirement = "if the JWS header includes an X.509 certificate, validate the signature"
    try:
        public_key = certificate.public_key()
    except ValueError:
        _fail("the certificate's public key cannot be read", requirement)
    if not isinstance(public_key, rsa.RSAPublicKey):
        _fail(f"{alg} needs an RSA key but the certificate holds another kind", requirement)
    try:
        public_key.verify(signature, signing_input, padding.PKCS1v15(), _HASHES[alg]())
    except InvalidSignature:
        _fail("the signature does not verify with the x5c certificate's key", requirement)


def _check_equivalent(payload: Mapping[str, Any], statement: Mapping[str, Any]) -> None:
    """Data 2.6: "Validate that the original Statement is logically equivalent"."""
    try:
        equivalent = signature_equivalent(payload, statement)
    except (TypeError, ValueError, KeyError, AttributeError, RecursionError):
        equivalent = False  # a payload too malformed to compare is not the same Statement
    if not equivalent:
        _fail(
            "the signed Statement in the JWS payload is not logically equivalent to the "
            "Statement received",
            "validate that the original Statement is logically equivalent to the received "
            "Statement (Statement Comparison Requirements, 2.3.1)",
        )
