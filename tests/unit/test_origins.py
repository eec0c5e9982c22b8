"""Which pages count as the app (chat_app/core/origins.py) and the settings that name them."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chat_app.core.origins import is_trusted_origin, origin_of, request_origin
from chat_app.core.settings import OriginSettings

OWN = "http://127.0.0.1:3000"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://Chat.Example.com", "https://chat.example.com"),
        ("https://chat.example.com:443/path?q=1", "https://chat.example.com"),
        ("http://chat.example.com:80", "http://chat.example.com"),
        ("http://127.0.0.1:3000/", "http://127.0.0.1:3000"),
        ("http://[::1]:3000", "http://[::1]:3000"),
        ("ftp://chat.example.com", None),
        ("javascript:alert(1)", None),
        ("https://", None),
        ("https://user:pw@chat.example.com", None),
        ("http://127.0.0.1:99999", None),
        ("not a url", None),
        ("", None),
    ],
)
def test_origin_of_normalizes_or_refuses(url: str, expected: str | None) -> None:
    assert origin_of(url) == expected


def test_request_origin_maps_websocket_schemes() -> None:
    assert request_origin("ws", "127.0.0.1:3000") == OWN
    assert request_origin("wss", "chat.example.com") == "https://chat.example.com"
    assert request_origin("http", None) is None


# Same *site* as the app (so a SameSite=Lax cookie is sent) but another origin, and others.
FOREIGN = [
    "http://127.0.0.1:3001",  # another port of the same host
    "http://127.0.0.1",  # the same host on its default port
    "https://127.0.0.1:3000",  # another scheme
    "http://localhost:3000",  # another name for the same machine
    "http://evil.127.0.0.1.nip.io:3000",
    "http://127.0.0.1:3000.evil.example",
    "http://127.0.0.1:3000@evil.example",
    "null",
    "NULL",
    "",
    "file://",
    "chrome-extension://abcdef",
]


@pytest.mark.parametrize("origin", FOREIGN)
def test_without_app_url_only_the_requested_origin_is_trusted(origin: str) -> None:
    assert not is_trusted_origin(origin, trusted=(), own_origin=OWN)


def test_without_app_url_the_requested_origin_is_trusted() -> None:
    assert is_trusted_origin(OWN, trusted=(), own_origin=OWN)
    assert is_trusted_origin("HTTP://127.0.0.1:3000", trusted=(), own_origin=OWN)
    assert not is_trusted_origin(OWN, trusted=(), own_origin=None)


SIBLINGS = [
    "https://evil.example.com",  # a sibling subdomain
    "https://chat.example.com.evil.example",
    "http://chat.example.com",  # the same host without TLS
    "https://chat.example.com:8443",
    "https://sub.chat.example.com",
    "null",
]


@pytest.mark.parametrize("origin", SIBLINGS)
def test_with_app_url_nothing_else_is_trusted(origin: str) -> None:
    trusted = OriginSettings(app_url="https://chat.example.com").trusted_origins
    # Not even when the request was addressed to it (a proxy may pass any Host header on).
    assert not is_trusted_origin(origin, trusted=trusted, own_origin=origin_of(origin))


def test_with_app_url_the_app_and_the_allowed_origins_are_trusted() -> None:
    settings = OriginSettings(
        app_url="https://chat.example.com/",
        allowed_origins="https://chat.example.org, http://intranet:8080",
    )
    assert settings.trusted_origins == (
        "https://chat.example.com",
        "https://chat.example.org",
        "http://intranet:8080",
    )
    for origin in settings.trusted_origins:
        # The Host a proxy forwards does not matter once APP_URL is set.
        assert is_trusted_origin(origin, trusted=settings.trusted_origins, own_origin=OWN)
    assert not is_trusted_origin(OWN, trusted=settings.trusted_origins, own_origin=OWN)


@pytest.mark.parametrize("value", ["chat.example.com", "ftp://x", "https://", "*"])
def test_settings_refuse_what_is_not_an_origin(value: str) -> None:
    with pytest.raises(ValidationError, match="not an http"):
        OriginSettings(app_url=value)
    with pytest.raises(ValidationError, match="not an http"):
        OriginSettings(allowed_origins=f"https://ok.example, {value}")
