"""Web origins: which pages may act with a user's session.

A browser sends the session cookie with every request to this host, whatever page asked for it,
as long as that page is on the same *site*: another port of the same host, or a sibling
subdomain, counts. The ``Origin`` header (and ``Sec-Fetch-Site``) tells who asked; these pure
functions decide whether that asker is the app itself.
"""

from __future__ import annotations

from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of an http(s) URL, lower-cased, default port dropped; else None."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or parts.username or parts.password:
        return None
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if port is None or port == _DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def request_origin(scheme: str, host_header: str | None) -> str | None:
    """The origin a request was addressed to, from its scheme and ``Host`` header."""
    if not host_header:
        return None
    scheme = {"ws": "http", "wss": "https"}.get(scheme, scheme)
    return origin_of(f"{scheme}://{host_header}")


def is_trusted_origin(
    origin: str | None, *, trusted: tuple[str, ...], own_origin: str | None
) -> bool:
    """Whether a page of ``origin`` is the app.

    ``trusted`` are the configured origins (APP_URL, ALLOWED_ORIGINS); when none are configured
    the app trusts only the origin the request itself was addressed to (``own_origin``), which is
    the same-origin rule browsers use. ``null`` (sandboxed frames, ``file:`` pages, some
    redirects) is never trusted.
    """
    if not origin or origin.strip().lower() == "null":
        return False
    normalized = origin_of(origin)
    if normalized is None:
        return False
    if trusted:
        return normalized in trusted
    return own_origin is not None and normalized == own_origin
