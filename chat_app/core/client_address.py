"""Who is on the other end of a request: the client's address and whether it came over HTTPS.

The one place that reads ``X-Forwarded-For`` and ``X-Forwarded-Proto``. Both are written by
whoever sends the request, so they mean something only when the TCP peer is one of our own
reverse proxies (``TRUSTED_PROXIES``); from anyone else they are ignored, or rotating them
would give a guesser a fresh address (and a fresh login throttle) with every request.

The Reflex websocket and the HTTP API both call ``client_address``; the application server
must pass the real TCP peer through untouched (scripts/start.sh turns off gunicorn/uvicorn's own
forwarded-header handling, which trusts 127.0.0.1 by default).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from chat_app.core.settings import IPNetwork, get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_address(text: str) -> IPAddress | None:
    """An IP address from its text form (also ``[v6]:port`` and ``v4:port``); None if not one."""
    text = text.strip()
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 203.0.113.7:51234
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped  # ::ffff:192.0.2.1 is 192.0.2.1
    return address


def canonical_address(text: str) -> str:
    """The one spelling of an address (``2001:DB8::0:1`` → ``2001:db8::1``); "" if not one."""
    address = parse_address(text)
    return str(address) if address is not None else ""


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name), "")
    return value


def client_address(
    peer: str, headers: Mapping[str, str], proxies: Sequence[IPNetwork] | None = None
) -> str:
    """The client's address: the TCP peer, unless that is a trusted proxy.

    Behind trusted proxies, ``X-Forwarded-For`` is read from the right (each proxy appends the
    address it received from): the first entry that is not itself a trusted proxy is the
    client. Entries left of it were written by the client and prove nothing. A repeated header
    must be passed joined with ", " (in order), as proxies and Reflex do.
    """
    if proxies is None:
        proxies = get_settings().trusted_proxy_networks
    current = parse_address(peer)
    if current is None:
        return ""  # no IP peer (a unix socket, a test client): no address to throttle by
    if not proxies or not _trusted(current, proxies):
        return str(current)
    for entry in reversed(_header(headers, "x-forwarded-for").split(",")):
        hop = parse_address(entry)
        if hop is None:
            break  # garbage where an address should be: trust nothing further left
        current = hop
        if not _trusted(current, proxies):
            break
    return str(current)


def forwarded_https(
    scheme: str, peer: str, headers: Mapping[str, str], proxies: Sequence[IPNetwork] | None = None
) -> bool:
    """Whether the browser's side of the connection is HTTPS (the proxy may speak plain HTTP)."""
    if scheme in ("https", "wss"):
        return True
    if proxies is None:
        proxies = get_settings().trusted_proxy_networks
    address = parse_address(peer)
    if address is None or not proxies or not _trusted(address, proxies):
        return False
    # The last value is the one our own proxy wrote (nginx's proxy_set_header replaces it).
    proto = _header(headers, "x-forwarded-proto").split(",")[-1].strip().lower()
    return proto == "https"
