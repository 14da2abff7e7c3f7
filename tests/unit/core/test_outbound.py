"""The outbound guard: which addresses a URL given to the hub may reach (no database, no network but /etc/hosts)."""

from __future__ import annotations

import pytest

from omnihub.core.outbound import OutboundGuard, OutboundRefused, parse_networks


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.8.8", "10.1.2.3", "172.16.0.1", "192.168.1.1",
                                  "169.254.169.254", "100.64.0.1", "0.0.0.0", "224.0.0.1", "::1", "[::1]",
                                  "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "localhost"])
def test_loopback_private_link_local_and_metadata_addresses_are_refused(host: str) -> None:
    with pytest.raises(OutboundRefused):
        OutboundGuard().resolve(host, 80)


@pytest.mark.parametrize("host", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_reached(host: str) -> None:
    assert OutboundGuard().resolve(host, 443) == host.strip("[]")


def test_the_allow_list_opens_exactly_its_networks() -> None:
    guard = OutboundGuard("127.0.0.1/32, 10.20.0.0/16")
    assert guard.resolve("127.0.0.1", 80) == "127.0.0.1"
    assert guard.resolve("10.20.3.4", 80) == "10.20.3.4"
    for refused in ("127.0.0.2", "10.21.0.1", "169.254.169.254"):
        with pytest.raises(OutboundRefused):
            guard.resolve(refused, 80)


def test_check_url_refuses_a_name_for_a_private_address_and_lets_an_unresolvable_one_wait() -> None:
    with pytest.raises(OutboundRefused):
        OutboundGuard().check_url("http://localhost:8080/hook")
    OutboundGuard().check_url("https://receiver.invalid/hook")  # checked again when connecting


def test_a_bad_allow_entry_is_an_error() -> None:
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/8, not-a-network")
