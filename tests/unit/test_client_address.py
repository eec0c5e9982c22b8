"""core/client_address.py: forwarded headers count only from configured proxies (issue 8 #9)."""

from __future__ import annotations

import ipaddress

import pytest

from chat_app.core.client_address import canonical_address, client_address, forwarded_https

NONE: list = []
LOOPBACK = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")]
CHAIN = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.0.0.0/8")]

FORWARDED_VALUES = [
    "198.51.100.1",
    "198.51.100.1, 10.0.0.2",
    "unknown",
    "",
    " , ,",
    "::1",
    "127.0.0.1",
    "2001:db8::1",
    "1.2.3.4:5678",
    "a" * 10_000,
    "\x00",
    "203.0.113.9, 127.0.0.1",
]


@pytest.mark.parametrize("forwarded", FORWARDED_VALUES)
@pytest.mark.parametrize("peer", ["127.0.0.1", "::1", "203.0.113.7", "10.1.2.3"])
def test_without_trusted_proxies_the_peer_is_the_client(peer: str, forwarded: str) -> None:
    headers = {"x-forwarded-for": forwarded, "X-Forwarded-For": forwarded}
    assert client_address(peer, headers, NONE) == peer


@pytest.mark.parametrize("forwarded", FORWARDED_VALUES)
def test_an_untrusted_peer_cannot_speak_for_anyone_else(forwarded: str) -> None:
    assert client_address("203.0.113.7", {"x-forwarded-for": forwarded}, LOOPBACK) == (
        "203.0.113.7"
    )


@pytest.mark.parametrize(
    ("peer", "forwarded", "expected"),
    [
        ("127.0.0.1", "198.51.100.1", "198.51.100.1"),
        # The client may write anything in front; the proxy's own entry is the rightmost one.
        ("127.0.0.1", "192.0.2.1, 192.0.2.2, 198.51.100.1", "198.51.100.1"),
        # Proxies in a chain are skipped from the right until the first untrusted hop.
        ("10.0.0.5", "198.51.100.1, 10.0.0.9, 127.0.0.1", "198.51.100.1"),
        ("127.0.0.1", "::ffff:198.51.100.1", "198.51.100.1"),
        ("127.0.0.1", "[2001:DB8::1]:443", "2001:db8::1"),
        ("127.0.0.1", "198.51.100.1:51234", "198.51.100.1"),
        # Garbage where an address should be: trust stops at the last good hop.
        ("127.0.0.1", "198.51.100.1, unknown", "127.0.0.1"),
        ("10.0.0.5", "198.51.100.1, garbage, 10.0.0.9", "10.0.0.9"),
        ("127.0.0.1", "", "127.0.0.1"),
        # Everything trusted: the leftmost proxy is as far as anything is known.
        ("10.0.0.5", "10.0.0.7, 10.0.0.6", "10.0.0.7"),
    ],
)
def test_behind_trusted_proxies_the_forwarded_client_counts(
    peer: str, forwarded: str, expected: str
) -> None:
    assert client_address(peer, {"x-forwarded-for": forwarded}, CHAIN) == expected


def test_header_names_are_case_insensitive_and_settings_are_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from chat_app.core.settings import get_settings

    assert client_address("127.0.0.1", {"X-Forwarded-For": "198.51.100.1"}) == "127.0.0.1"
    monkeypatch.setenv("TRUSTED_PROXIES", "127.0.0.0/8")
    get_settings.cache_clear()
    assert client_address("127.0.0.1", {"X-Forwarded-For": "198.51.100.1"}) == "198.51.100.1"


@pytest.mark.parametrize("peer", ["", "testclient", "unix:/run/app.sock", "999.1.1.1"])
def test_a_peer_that_is_no_ip_gives_no_address(peer: str) -> None:
    assert client_address(peer, {"x-forwarded-for": "198.51.100.1"}, LOOPBACK) == ""


@pytest.mark.parametrize(
    ("scheme", "peer", "proto", "proxies", "expected"),
    [
        ("https", "203.0.113.7", "", NONE, True),
        ("wss", "203.0.113.7", "", NONE, True),
        ("http", "127.0.0.1", "https", NONE, False),  # nobody trusted
        ("http", "203.0.113.7", "https", LOOPBACK, False),  # not our proxy
        ("http", "127.0.0.1", "https", LOOPBACK, True),
        ("http", "127.0.0.1", "HTTPS", LOOPBACK, True),
        ("http", "127.0.0.1", "http", LOOPBACK, False),
        ("http", "127.0.0.1", "https, http", LOOPBACK, False),  # our proxy's value is last
        ("http", "127.0.0.1", "", LOOPBACK, False),
    ],
)
def test_forwarded_https(scheme: str, peer: str, proto: str, proxies: list, expected: bool) -> None:
    assert forwarded_https(scheme, peer, {"x-forwarded-proto": proto}, proxies) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2001:DB8:0::0:1", "2001:db8::1"),
        (" 203.0.113.5 ", "203.0.113.5"),
        ("::ffff:203.0.113.5", "203.0.113.5"),
        ("example.com", ""),
        ("", ""),
    ],
)
def test_canonical_address(text: str, expected: str) -> None:
    assert canonical_address(text) == expected
