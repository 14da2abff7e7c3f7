"""Outbound HTTP that cannot be turned against the hub's own network (SSRF).

A URL given to the hub (a webhook today; a Meta, Shopify or Stripe endpoint tomorrow) may only reach public
addresses: loopback, private, link-local (cloud metadata at 169.254.169.254), shared, reserved and multicast
addresses are refused unless they fall in an explicit allow-list (`OMNIHUB_OUTBOUND_ALLOW`, e.g. a receiver
on the private network). The check is made twice: when the URL is given (`check_url`), and on every new
connection after DNS resolution, connecting to the very address that was checked (`GuardedHTTPConnection`),
so a name that later resolves elsewhere (DNS rebinding) gets nowhere.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from collections.abc import Iterable
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class OutboundRefused(OSError):
    """The target is not one the hub may reach. An OSError, so senders record it like a connection failure."""


def parse_networks(setting: str | Iterable[str]) -> tuple[Network, ...]:
    """`"10.0.0.0/8, 127.0.0.1"` → networks (a bare address is a /32 or /128). Raises ValueError."""
    items = setting.split(",") if isinstance(setting, str) else list(setting)
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip())


def is_public(address: Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_global and not address.is_multicast


class OutboundGuard:
    def __init__(self, allow: str | Iterable[str] = "") -> None:
        self.allow = parse_networks(allow)

    def allowed(self, address: Address) -> bool:
        if any(address in network for network in self.allow if network.version == address.version):
            return True
        return is_public(address)

    def resolve(self, host: str, port: int) -> str:
        """The address to connect to for `host`: the first one it resolves to that the hub may reach."""
        try:
            literal = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            if not self.allowed(literal):
                raise OutboundRefused(f"{literal} is a {_kind(literal)} address; outbound requests go to public "
                                      "addresses only (see OMNIHUB_OUTBOUND_ALLOW)")
            return str(literal)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise OutboundRefused(f"{host} does not resolve: {exc.strerror}") from None
        refused = None
        for info in infos:
            address = ipaddress.ip_address(info[4][0].split("%")[0])
            if self.allowed(address):
                return str(address)
            refused = refused or address
        raise OutboundRefused(f"{host} resolves to {refused}, a {_kind(refused)} address; outbound requests go to "
                              "public addresses only (see OMNIHUB_OUTBOUND_ALLOW)")

    def check_url(self, url: str) -> None:
        """At the time a URL is given: refuse it when its host is (or resolves only to) addresses the hub may
        not reach. A name that does not resolve now is let through: it is checked again on every connection."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            self.resolve(host, port)
        except OutboundRefused as exc:
            if "does not resolve" not in str(exc):
                raise

    def connection(self, scheme: str, host: str, port: int | None, *, timeout: float,
                   context: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
        """A keep-alive connection to `host` that connects only to an address this guard allows."""
        if scheme == "https":
            return GuardedHTTPSConnection(self, host, port, timeout=timeout, context=context)
        return GuardedHTTPConnection(self, host, port, timeout=timeout)


def _kind(address: Address | None) -> str:
    if address is None:
        return "non-public"
    for name in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(address, f"is_{name}", False):
            return name.replace("_", "-")
    return "non-public"


class GuardedHTTPConnection(http.client.HTTPConnection):
    """Connects to the checked address of its host; the Host header still names the host."""

    def __init__(self, guard: OutboundGuard, host: str, port: int | None = None, **kwargs: object) -> None:
        super().__init__(host, port, **kwargs)  # type: ignore[arg-type]
        self._guard = guard

    def _open(self) -> socket.socket:
        address = self._guard.resolve(self.host, self.port)
        sock = socket.create_connection((address, self.port), self.timeout, self.source_address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def connect(self) -> None:
        self.sock = self._open()


class GuardedHTTPSConnection(http.client.HTTPSConnection):
    """TLS to the checked address, verifying the certificate against the host's name (SNI too)."""

    def __init__(self, guard: OutboundGuard, host: str, port: int | None = None, **kwargs: object) -> None:
        super().__init__(host, port, **kwargs)  # type: ignore[arg-type]
        self._guard = guard

    def connect(self) -> None:
        address = self._guard.resolve(self.host, self.port)
        sock = socket.create_connection((address, self.port), self.timeout, self.source_address)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]
