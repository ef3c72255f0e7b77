"""Which target URLs a subscription may have (SSRF guard).

A target must be an http(s) URL with a host; unless private targets are allowed
(`LRS_WEBHOOKS_ALLOW_PRIVATE_TARGETS`), none of the addresses its host resolves to may be
loopback, link-local, private, unspecified, multicast or reserved. The check runs when the
subscription is created and again before every delivery (DNS answers change). Resolving is the
caller's business; this module only judges a URL and a list of addresses.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from lrs.xapi.errors import BadRequest

MAX_URL_CHARS = 2048


def target_host(url: str) -> tuple[str, int]:
    """The host and port of a target URL; BadRequest naming the rule it breaks."""
    if len(url) > MAX_URL_CHARS:
        raise BadRequest(f"webhook target: the URL is longer than {MAX_URL_CHARS} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BadRequest(f"webhook target: not a URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest("webhook target: must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise BadRequest("webhook target: credentials go in the subscription, not the URL")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def refused_address(address: str) -> str | None:
    """Why an address may not be a target (the rule's name), or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for rule, hit in (
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("private", ip.is_private),
        ("unspecified", ip.is_unspecified),
        ("multicast", ip.is_multicast),
        ("reserved", ip.is_reserved),
    ):
        if hit:
            return rule
    return None


def check_addresses(host: str, addresses: Iterable[str], allow_private: bool) -> None:
    """BadRequest when the host resolves to nothing, or (unless allowed) to a refused range."""
    found = list(addresses)
    if not found:
        raise BadRequest(f"webhook target: host {host!r} does not resolve")
    if allow_private:
        return
    for address in found:
        rule = refused_address(address)
        if rule is not None:
            raise BadRequest(
                f"webhook target: host {host!r} resolves to {address}, a {rule} address;"
                " such targets are refused unless LRS_WEBHOOKS_ALLOW_PRIVATE_TARGETS is set"
            )


@dataclass(frozen=True)
class Pinned:
    """A request to a target sent to the address that was checked (no second DNS lookup that
    could answer differently: DNS rebinding): the URL names the address, the Host header and
    the TLS server name (certificate check included) name the host."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]


def pinned(url: str, address: str) -> Pinned:
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    host_header = parts.netloc.rpartition("@")[2]
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return Pinned(urlunsplit(parts._replace(netloc=netloc)), {"Host": host_header}, extensions)
