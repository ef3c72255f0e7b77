"""Signatures, delivery ids and the SSRF rule (pure)."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from lrs.webhooks.signing import delivery_id, item_key, signature, verify
from lrs.webhooks.targets import check_addresses, pinned, refused_address, target_host
from lrs.xapi.errors import BadRequest


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"statements":[]}'
    expected = hmac.new(b"s3cret-s3cret-s3cret", b"1700000000." + body, hashlib.sha256)
    assert signature("s3cret-s3cret-s3cret", 1700000000, body) == "v1=" + expected.hexdigest()
    assert verify(
        "s3cret-s3cret-s3cret",
        1700000000,
        body,
        signature("s3cret-s3cret-s3cret", 1700000000, body),
    )
    assert not verify(
        "s3cret-s3cret-s3cret",
        1700000001,
        body,
        signature("s3cret-s3cret-s3cret", 1700000000, body),
    )


def test_a_delivery_id_depends_on_the_subscription_and_its_items_only() -> None:
    keys = [item_key("lrs.statements.stored", 0, n) for n in range(3)]
    assert delivery_id("sub-a", keys) == delivery_id("sub-a", list(keys))
    assert delivery_id("sub-a", keys) != delivery_id("sub-b", keys)
    assert delivery_id("sub-a", keys) != delivery_id("sub-a", keys[:2])


@pytest.mark.parametrize(
    ("address", "rule"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("192.168.0.10", "private"),
        ("172.16.5.4", "private"),
        ("::ffff:127.0.0.1", "loopback"),
        ("0.0.0.0", "private"),
        ("224.0.0.1", "multicast"),
    ],
)
def test_internal_addresses_are_refused_naming_the_range(address: str, rule: str) -> None:
    assert refused_address(address) == rule


def test_public_addresses_pass() -> None:
    assert refused_address("93.184.216.34") is None
    assert refused_address("2606:2800:220:1:248:1893:25c8:1946") is None
    check_addresses("example.org", ["93.184.216.34"], allow_private=False)


def test_one_internal_address_among_several_is_enough_to_refuse() -> None:
    with pytest.raises(BadRequest, match=r"loopback.*LRS_WEBHOOKS_ALLOW_PRIVATE_TARGETS"):
        check_addresses("both.example", ["93.184.216.34", "127.0.0.1"], allow_private=False)
    check_addresses("both.example", ["93.184.216.34", "127.0.0.1"], allow_private=True)


def test_a_host_that_does_not_resolve_is_refused() -> None:
    with pytest.raises(BadRequest, match="does not resolve"):
        check_addresses("nowhere.invalid", [], allow_private=True)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("ftp://example.org/x", "http:// or https://"),
        ("https:///path", "http:// or https://"),
        ("https://user:pw@example.org/", "credentials go in the subscription"),
        ("https://example.org:99999/", "not a URL"),
    ],
)
def test_bad_urls_are_refused_naming_the_rule(url: str, rule: str) -> None:
    with pytest.raises(BadRequest, match=rule):
        target_host(url)


def test_default_ports() -> None:
    assert target_host("https://example.org/hook") == ("example.org", 443)
    assert target_host("http://example.org:8080/hook") == ("example.org", 8080)


def test_a_pinned_request_goes_to_the_checked_address_for_the_host() -> None:
    to = pinned("https://hooks.example.org/lrs?x=1", "93.184.216.34")
    assert to.url == "https://93.184.216.34/lrs?x=1"
    assert to.headers == {"Host": "hooks.example.org"}
    assert to.extensions == {"sni_hostname": "hooks.example.org"}
    plain = pinned("http://hooks.example.org:8080/h", "2606:2800:220:1::1")
    assert plain.url == "http://[2606:2800:220:1::1]:8080/h"
    assert plain.headers == {"Host": "hooks.example.org:8080"}
    assert plain.extensions == {}
