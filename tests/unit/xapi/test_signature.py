"""Signed Statements: JWS verification (xAPI Data 2.6, xAPI 2.0 4.2.6)."""

from __future__ import annotations

import base64
import copy
import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes
from cryptography.x509.oid import NameOID

from lrs.xapi.attachments import AttachmentPayload, signed_statement_parts
from lrs.xapi.errors import InvalidStatement
from lrs.xapi.signature import verify_signature
from tests.support.jws import b64url, sign

SIGNATURE_USAGE = "http://adlnet.gov/expapi/attachments/signature"


def certificate_for(private_key: CertificateIssuerPrivateKeyTypes) -> x509.Certificate:
    """A self-signed certificate for the key (chain validation is optional in Data 2.6)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Signer")])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(private_key, hashes.SHA256())
    )


def x5c(*certificates: x509.Certificate) -> list[str]:
    from cryptography.hazmat.primitives.serialization import Encoding

    return [base64.b64encode(c.public_bytes(Encoding.DER)).decode() for c in certificates]


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def cert(key: rsa.RSAPrivateKey) -> x509.Certificate:
    return certificate_for(key)


# --- statements ----------------------------------------------------------------------------

ORIGINAL: dict[str, Any] = {
    "id": "33cff416-e331-4c9d-969e-5373a1756120",
    "actor": {"mbox": "mailto:example@example.com", "name": "Example Learner"},
    "verb": {"id": "http://adlnet.gov/expapi/verbs/experienced"},
    "object": {"id": "http://example.com/activities/video", "objectType": "Activity"},
    "timestamp": "2013-04-01T12:00:00Z",
}


def received(jws: bytes, original: dict[str, Any] = ORIGINAL) -> dict[str, Any]:
    """The statement as sent to the LRS: the original plus its signature attachment."""
    stmt = copy.deepcopy(original)
    stmt["attachments"] = [
        {
            "usageType": SIGNATURE_USAGE,
            "display": {"en-US": "Signature"},
            "contentType": "application/octet-stream",
            "length": len(jws),
            "sha2": hashlib.sha256(jws).hexdigest(),
        }
    ]
    return stmt


def assert_rejected(statement: dict[str, Any], jws: bytes, match: str) -> InvalidStatement:
    with pytest.raises(InvalidStatement, match=match) as caught:
        verify_signature(statement, jws)
    assert "Data 2.6" in caught.value.message
    assert caught.value.details
    assert "Data 2.6" in caught.value.details[0].rule
    return caught.value


# --- accepted ------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_accepts_rsa_algorithms_without_certificate(key: rsa.RSAPrivateKey, alg: str) -> None:
    """XAPI-00117: RS256, RS384 and RS512 are accepted."""
    jws = sign(ORIGINAL, key, alg)
    verify_signature(received(jws), jws)


@pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
def test_accepts_signature_verified_with_x5c(
    key: rsa.RSAPrivateKey, cert: x509.Certificate, alg: str
) -> None:
    jws = sign(ORIGINAL, key, alg, {"x5c": x5c(cert, cert)})
    verify_signature(received(jws), jws)


def test_accepts_statement_completed_by_the_lrs(key: rsa.RSAPrivateKey) -> None:
    """Properties the LRS sets (stored, authority, version) are not compared (Data 2.3.1)."""
    jws = sign(ORIGINAL, key)
    stmt = received(jws) | {
        "stored": "2024-01-01T00:00:00.000Z",
        "authority": {"mbox": "mailto:lrs@example.com"},
        "version": "1.0.3",
    }
    verify_signature(stmt, jws)


def test_accepts_trailing_newline_after_jws(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
    jws = sign(ORIGINAL, key, header={"x5c": x5c(cert)})
    verify_signature(received(jws), jws + b"\r\n")


def test_signature_attachment_found_then_verified(
    key: rsa.RSAPrivateKey, cert: x509.Certificate
) -> None:
    """End to end within the domain: the attachment's part is found, then its JWS verified."""
    jws = sign(ORIGINAL, key, header={"x5c": x5c(cert)})
    stmt = received(jws)
    sha2 = stmt["attachments"][0]["sha2"]
    payloads = {sha2: AttachmentPayload(sha2, "application/octet-stream", jws)}
    [(index, found)] = signed_statement_parts(stmt, payloads)
    assert index == 0
    verify_signature(stmt, found.data)


# --- rejected: algorithm and serialization -------------------------------------------------


@pytest.mark.parametrize("alg", ["HS256", "none", "ES256", "PS256", "rs256", "RS1"])
def test_rejects_other_algorithms(key: rsa.RSAPrivateKey, alg: str) -> None:
    """XAPI-00117: any algorithm but RS256/RS384/RS512 is rejected."""
    jws = sign(ORIGINAL, key, alg)
    assert_rejected(received(jws), jws, f"algorithm is '{alg}'")


def test_rejects_unsigned_none_token() -> None:
    header = b64url(b'{"alg":"none"}')
    jws = f"{header}.{b64url(json.dumps(ORIGINAL).encode())}.".encode()
    assert_rejected(received(jws), jws, "algorithm")


def test_rejects_header_without_alg(key: rsa.RSAPrivateKey) -> None:
    raw = f"{b64url(b'{}')}.{b64url(json.dumps(ORIGINAL).encode())}.{b64url(b'sig')}".encode()
    assert_rejected(received(raw), raw, "algorithm is None")


def test_rejects_critical_header_extensions(key: rsa.RSAPrivateKey) -> None:
    jws = sign(ORIGINAL, key, header={"crit": ["b64"], "b64": False})
    assert_rejected(received(jws), jws, "crit")


@pytest.mark.parametrize(
    "jws",
    [
        b"",
        b"only.two",
        b"a.b.c.d.e",
        b'{"payload": "e30", "signatures": []}',
        b"a b.c.d",
        "\u00e9.a.b".encode(),
        b"a+b/.c.d",
    ],
)
def test_rejects_non_compact_serialization(jws: bytes) -> None:
    """xAPI 2.0 4.2.6: JWS Compact Serialization shall be used."""
    assert_rejected(dict(ORIGINAL), jws, "Compact Serialization|base64url")


@pytest.mark.parametrize("segment", ["header", "payload", "signature"])
def test_rejects_undecodable_segment(key: rsa.RSAPrivateKey, segment: str) -> None:
    parts = sign(ORIGINAL, key).decode().split(".")
    parts[["header", "payload", "signature"].index(segment)] = "abcde"  # 5 chars: no base64
    jws = ".".join(parts).encode()
    assert_rejected(received(jws), jws, f"{segment} is not valid base64url")


def test_rejects_header_that_is_not_an_object(key: rsa.RSAPrivateKey) -> None:
    parts = sign(ORIGINAL, key).decode().split(".")
    jws = ".".join([b64url(b'["RS256"]'), *parts[1:]]).encode()
    assert_rejected(received(jws), jws, "header is not a JSON object")


# --- rejected: payload ---------------------------------------------------------------------


def test_rejects_payload_that_is_not_json(key: rsa.RSAPrivateKey) -> None:
    """XAPI-00116: the conformance suite breaks the JSON by swapping the first quote."""
    broken = json.dumps(ORIGINAL).replace('"', "'", 1).encode()
    jws = sign(broken, key)
    assert_rejected(received(jws), jws, "payload is not valid UTF-8 JSON")


@pytest.mark.parametrize("payload", [b"[1, 2]", b'"statement"', b"NaN", b'{"a": NaN}', b"\xff"])
def test_rejects_payload_that_is_not_a_statement_object(
    key: rsa.RSAPrivateKey, payload: bytes
) -> None:
    jws = sign(payload, key)
    assert_rejected(received(jws), jws, "payload")


def test_rejects_payload_not_equivalent(key: rsa.RSAPrivateKey) -> None:
    """Data 2.6: the original Statement MUST be logically equivalent to the received one."""
    other = copy.deepcopy(ORIGINAL)
    other["verb"]["id"] = "http://adlnet.gov/expapi/verbs/failed"
    jws = sign(other, key)
    error = assert_rejected(received(jws), jws, "not logically equivalent")
    assert "2.3.1" in error.details[0].rule


def test_rejects_received_statement_changed_after_signing(key: rsa.RSAPrivateKey) -> None:
    jws = sign(ORIGINAL, key)
    stmt = received(jws)
    stmt["actor"]["mbox"] = "mailto:someone.else@example.com"
    assert_rejected(stmt, jws, "not logically equivalent")


def test_comparison_failure_counts_as_not_equivalent(
    key: rsa.RSAPrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Never let a crash of the comparison escape as anything but InvalidStatement."""

    def crash(payload: Any, statement: Any) -> bool:
        raise TypeError("unhashable type: 'dict'")

    monkeypatch.setattr("lrs.xapi.signature.signature_equivalent", crash)
    jws = sign(ORIGINAL, key)
    assert_rejected(received(jws), jws, "not logically equivalent")


# --- rejected: X.509 -----------------------------------------------------------------------


def test_rejects_tampered_payload_when_x5c_present(
    key: rsa.RSAPrivateKey, cert: x509.Certificate
) -> None:
    """The payload still equals the statement, but it is not what was signed."""
    header, _, signature = sign(ORIGINAL, key, header={"x5c": x5c(cert)}).decode().split(".")
    tampered = copy.deepcopy(ORIGINAL)
    tampered["verb"]["id"] = "http://adlnet.gov/expapi/verbs/passed"
    jws = f"{header}.{b64url(json.dumps(tampered).encode())}.{signature}".encode()
    assert_rejected(received(jws, tampered), jws, "does not verify")


def test_rejects_tampered_signature_when_x5c_present(
    key: rsa.RSAPrivateKey, cert: x509.Certificate
) -> None:
    header, payload, signature = sign(ORIGINAL, key, header={"x5c": x5c(cert)}).decode().split(".")
    flipped = bytearray(base64.urlsafe_b64decode(signature + "=="))
    flipped[10] ^= 1
    jws = f"{header}.{payload}.{b64url(bytes(flipped))}".encode()
    assert_rejected(received(jws), jws, "does not verify")


def test_rejects_x5c_of_another_key(other_key: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
    jws = sign(ORIGINAL, other_key, header={"x5c": x5c(cert)})
    assert_rejected(received(jws), jws, "does not verify")


def test_rejects_x5c_with_alg_mismatch(key: rsa.RSAPrivateKey, cert: x509.Certificate) -> None:
    """Signed with SHA-256 but declared RS512."""
    header, payload, signature = sign(ORIGINAL, key, header={"x5c": x5c(cert)}).decode().split(".")
    header = b64url(json.dumps({"alg": "RS512", "x5c": x5c(cert)}).encode())
    jws = f"{header}.{payload}.{signature}".encode()
    assert_rejected(received(jws), jws, "does not verify")


def test_rejects_x5c_with_non_rsa_certificate(key: rsa.RSAPrivateKey) -> None:
    ec_cert = certificate_for(ec.generate_private_key(ec.SECP256R1()))
    jws = sign(ORIGINAL, key, header={"x5c": x5c(ec_cert)})
    assert_rejected(received(jws), jws, "RSA key")


@pytest.mark.parametrize(
    "chain",
    [[], "MIIB", [7], ["not base64!"], [base64.b64encode(b"not a certificate").decode()]],
)
def test_rejects_malformed_x5c(key: rsa.RSAPrivateKey, chain: Any) -> None:
    jws = sign(ORIGINAL, key, header={"x5c": chain})
    assert_rejected(received(jws), jws, "x5c")


# --- the example of the specification (xAPI 1.0.3 Data, Appendix D) -----------------------

SPEC_STATEMENT: dict[str, Any] = {
    "version": "1.0.0",
    "id": "33cff416-e331-4c9d-969e-5373a1756120",
    "actor": {
        "mbox": "mailto:example@example.com",
        "name": "Example Learner",
        "objectType": "Agent",
    },
    "verb": {
        "id": "http://adlnet.gov/expapi/verbs/experienced",
        "display": {"en-US": "experienced"},
    },
    "object": {
        "id": "https://www.youtube.com/watch?v=xh4kIiH3Sm8",
        "objectType": "Activity",
        "definition": {
            "name": {"en-US": "Tax Tips & Information : How to File a Tax Return "},
            "description": {
                "en-US": "Filing a tax return will require filling out either a 1040, "
                "1040A or 1040EZ form"
            },
        },
    },
    "timestamp": "2013-04-01T12:00:00Z",
    "attachments": [
        {
            "usageType": "http://adlnet.gov/expapi/attachments/signature",
            "display": {"en-US": "Signature"},
            "description": {"en-US": "A test signature"},
            "contentType": "application/octet-stream",
            "length": 4235,
            "sha2": "672fa5fa658017f1b72d65036f13379c6ab05d4ab3b6664908d8acf0b6a0c634",
        }
    ],
}

SPEC_JWS = (
    "ew0KICAgICJhbGciOiAiUlMyNTYiLA0KICAgICJ4NWMiOiBbDQogICAgICAgICJNSUlEQVRDQ0FtcWdBd0lCQWdJ"
    "SkFNQjFjc051QTYra01BMEdDU3FHU0liM0RRRUJCUVVBTUhFeEN6QUpCZ05WQkFZVEFsVlRNUkl3RUFZRFZRUUlF"
    "d2xVWlc1dVpYTnpaV1V4R0RBV0JnTlZCQW9URDBWNFlXMXdiR1VnUTI5dGNHRnVlVEVRTUE0R0ExVUVBeE1IUlho"
    "aGJYQnNaVEVpTUNBR0NTcUdTSWIzRFFFSkFSWVRaWGhoYlhCc1pVQmxlR0Z0Y0d4bExtTnZiVEFlRncweE16QTBN"
    "RFF4TlRJNE16QmFGdzB4TkRBME1EUXhOVEk0TXpCYU1JR1dNUXN3Q1FZRFZRUUdFd0pWVXpFU01CQUdBMVVFQ0JN"
    "SlZHVnVibVZ6YzJWbE1SRXdEd1lEVlFRSEV3aEdjbUZ1YTJ4cGJqRVlNQllHQTFVRUNoTVBSWGhoYlhCc1pTQkRi"
    "MjF3WVc1NU1SQXdEZ1lEVlFRTEV3ZEZlR0Z0Y0d4bE1SQXdEZ1lEVlFRREV3ZEZlR0Z0Y0d4bE1TSXdJQVlKS29a"
    "SWh2Y05BUWtCRmhObGVHRnRjR3hsUUdWNFlXMXdiR1V1WTI5dE1JR2ZNQTBHQ1NxR1NJYjNEUUVCQVFVQUE0R05B"
    "RENCaVFLQmdRRGp4dlpYRjMwV0w0b0tqWllYZ1IwWnlhWCt1M3k2K0pxVHFpTmtGYS9WVG5ldDZMeTJPVDZabW1j"
    "SkVQbnEzVW5ld3BIb09RK0dmaGhUa1cxM2owNmo1aU5uNG9iY0NWV1RMOXlYTnZKSCtLbyt4dTRZbC95U1BScklQ"
    "eVRqdEhkRzBNMlh6SWxtbUxxbStDQVMrS0NiSmVINHRmNTQza0lXQzVwQzVwM2NWUUlEQVFBQm8zc3dlVEFKQmdO"
    "VkhSTUVBakFBTUN3R0NXQ0dTQUdHK0VJQkRRUWZGaDFQY0dWdVUxTk1JRWRsYm1WeVlYUmxaQ0JEWlhKMGFXWnBZ"
    "MkYwWlRBZEJnTlZIUTRFRmdRVVZzM3Y1YWZFZE9lb1llVmFqQVFFNHYwV1MxUXdId1lEVlIwakJCZ3dGb0FVeVZJ"
    "YzN5dnJhNEVCejIwSTRCRjM5SUFpeEJrd0RRWUpLb1pJaHZjTkFRRUZCUUFEZ1lFQWdTL0ZGNUQwSG5qNDRydlQ2"
    "a2duM2tKQXZ2MmxqL2Z5anp0S0lyWVMzM2xqWEduNmdHeUE0cXRiWEEyM1ByTzR1Yy93WUNTRElDRHBQb2JoNjJ4"
    "VENkOXFPYktoZ3dXT2kwNVBTQkxxVXUzbXdmQWUxNUxKQkpCcVBWWjRLMGtwcGVQQlU4bTZhSVpvSDU3TC85dDRP"
    "b2FMOHlLcy9xaktGZUkxT0ZXWnh2QT0iLA0KICAgICAgICAiTUlJRE56Q0NBcUNnQXdJQkFnSUpBTUIxY3NOdUE2"
    "K2pNQTBHQ1NxR1NJYjNEUUVCQlFVQU1IRXhDekFKQmdOVkJBWVRBbFZUTVJJd0VBWURWUVFJRXdsVVpXNXVaWE56"
    "WldVeEdEQVdCZ05WQkFvVEQwVjRZVzF3YkdVZ1EyOXRjR0Z1ZVRFUU1BNEdBMVVFQXhNSFJYaGhiWEJzWlRFaU1D"
    "QUdDU3FHU0liM0RRRUpBUllUWlhoaGJYQnNaVUJsZUdGdGNHeGxMbU52YlRBZUZ3MHhNekEwTURReE5USTFOVE5h"
    "RncweU16QTBNREl4TlRJMU5UTmFNSEV4Q3pBSkJnTlZCQVlUQWxWVE1SSXdFQVlEVlFRSUV3bFVaVzV1WlhOelpX"
    "VXhHREFXQmdOVkJBb1REMFY0WVcxd2JHVWdRMjl0Y0dGdWVURVFNQTRHQTFVRUF4TUhSWGhoYlhCc1pURWlNQ0FH"
    "Q1NxR1NJYjNEUUVKQVJZVFpYaGhiWEJzWlVCbGVHRnRjR3hsTG1OdmJUQ0JuekFOQmdrcWhraUc5dzBCQVFFRkFB"
    "T0JqUUF3Z1lrQ2dZRUExc0JuQldQWjBmN1dKVUZUSnk1KzAxU2xTNVo2RERENlV5ZTl2SzlBeWNnVjVCMytXQzhI"
    "QzV1NWg5MU11akFDMUFSUFZVT3RzdlBSczQ1cUtORklnSUdSWEtQQXdaamF3RUkyc0NKUlNLVjQ3aTZCOGJEdjRX"
    "a3VHdlFhdmVaR0kwcWxtTjVSMUVpbTJnVUl0UmoxaGdjQzlyUWF2amxuRktEWTJybFhHdWtDQXdFQUFhT0IxakNC"
    "MHpBZEJnTlZIUTRFRmdRVXlWSWMzeXZyYTRFQnoyMEk0QkYzOUlBaXhCa3dnYU1HQTFVZEl3U0JtekNCbUlBVXlW"
    "SWMzeXZyYTRFQnoyMEk0QkYzOUlBaXhCbWhkYVJ6TUhFeEN6QUpCZ05WQkFZVEFsVlRNUkl3RUFZRFZRUUlFd2xV"
    "Wlc1dVpYTnpaV1V4R0RBV0JnTlZCQW9URDBWNFlXMXdiR1VnUTI5dGNHRnVlVEVRTUE0R0ExVUVBeE1IUlhoaGJY"
    "QnNaVEVpTUNBR0NTcUdTSWIzRFFFSkFSWVRaWGhoYlhCc1pVQmxlR0Z0Y0d4bExtTnZiWUlKQU1CMWNzTnVBNitq"
    "TUF3R0ExVWRFd1FGTUFNQkFmOHdEUVlKS29aSWh2Y05BUUVGQlFBRGdZRUFEaHdUZWJHazczNXlLaG04RHFDeHZO"
    "bkVaME54c1lFWU9qZ1JHMXlYVGxXNXBFNjkxZlNINUFaK1Q2ZnB3cFpjV1k1UVlrb042RG53ak94R2tTZlFDMy95"
    "R21jVURLQlB3aVo1TzJzOUMrZkUxa1VFbnJYMlhlYTRhZ1ZuZ016UjhEUTZvT2F1TFdxZWhEQitnMkVOV1JMb1Zn"
    "UyttYTUvWWNzMEdUeXJFQ1k9Ig0KICAgIF0NCn0.ew0KICAgICJ2ZXJzaW9uIjogIjEuMC4wIiwNCiAgICAiaWQi"
    "OiAiMzNjZmY0MTYtZTMzMS00YzlkLTk2OWUtNTM3M2ExNzU2MTIwIiwNCiAgICAiYWN0b3IiOiB7DQogICAgICAg"
    "ICJtYm94IjogIm1haWx0bzpleGFtcGxlQGV4YW1wbGUuY29tIiwNCiAgICAgICAgIm5hbWUiOiAiRXhhbXBsZSBM"
    "ZWFybmVyIiwNCiAgICAgICAgIm9iamVjdFR5cGUiOiAiQWdlbnQiDQogICAgfSwNCiAgICAidmVyYiI6IHsNCiAg"
    "ICAgICAgImlkIjogImh0dHA6Ly9hZGxuZXQuZ292L2V4cGFwaS92ZXJicy9leHBlcmllbmNlZCIsDQogICAgICAg"
    "ICJkaXNwbGF5Ijogew0KICAgICAgICAgICAgImVuLVVTIjogImV4cGVyaWVuY2VkIg0KICAgICAgICB9DQogICAg"
    "fSwNCiAgICAib2JqZWN0Ijogew0KICAgICAgICAiaWQiOiAiaHR0cHM6Ly93d3cueW91dHViZS5jb20vd2F0Y2g_"
    "dj14aDRrSWlIM1NtOCIsDQogICAgICAgICJvYmplY3RUeXBlIjogIkFjdGl2aXR5IiwNCiAgICAgICAgImRlZmlu"
    "aXRpb24iOiB7DQogICAgICAgICAgICAibmFtZSI6IHsNCiAgICAgICAgICAgICAgICAiZW4tVVMiOiAiVGF4IFRp"
    "cHMgJiBJbmZvcm1hdGlvbiA6IEhvdyB0byBGaWxlIGEgVGF4IFJldHVybiAiDQogICAgICAgICAgICB9LA0KICAg"
    "ICAgICAgICAgImRlc2NyaXB0aW9uIjogew0KICAgICAgICAgICAgICAgICJlbi1VUyI6ICJGaWxpbmcgYSB0YXgg"
    "cmV0dXJuIHdpbGwgcmVxdWlyZSBmaWxsaW5nIG91dCBlaXRoZXIgYSAxMDQwLCAxMDQwQSBvciAxMDQwRVogZm9y"
    "bSINCiAgICAgICAgICAgIH0NCiAgICAgICAgfQ0KICAgIH0sDQogICAgInRpbWVzdGFtcCI6ICIyMDEzLTA0LTAx"
    "VDEyOjAwOjAwWiINCn0.FWuwaPhwUbkk7h9sKW5zSvjsYNugvxJ-TrVaEgt_DCUT0bmKhQScRrjMB6P9O50uznPw"
    "T66oF1NnU_G0HVhRzS5voiXE-y7tT3z0M3-8A6YK009Bk_digVUul-HA4Fpd5IjoBBGe3yzaQ2ZvzarvRuipvNEQ"
    "CI0onpfuZZJQ0d8"
)
SPEC_JWS_BYTES = SPEC_JWS.encode("ascii")


def test_spec_example_signed_statement_verifies() -> None:
    """Appendix D: RS256 with an x5c chain (a 2013 certificate, SHA-1 signed: not validated)."""
    assert hashlib.sha256(SPEC_JWS_BYTES).hexdigest() == SPEC_STATEMENT["attachments"][0]["sha2"]
    verify_signature(SPEC_STATEMENT, SPEC_JWS_BYTES)


def test_spec_example_with_one_character_changed_fails() -> None:
    header, payload, signature = SPEC_JWS.split(".")
    changed = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    jws = f"{header}.{payload}.{changed}".encode()
    assert_rejected(SPEC_STATEMENT, jws, "does not verify")
