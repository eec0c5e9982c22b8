"""The client's address and scheme for an HTTP request (see core/client_address.py)."""

from __future__ import annotations

from starlette.requests import Request

from chat_app.core.client_address import client_address, forwarded_https

_FORWARDED = ("x-forwarded-for", "x-forwarded-proto")


def _forwarded_headers(request: Request) -> dict[str, str]:
    # Starlette's .get() returns only the first of repeated headers; the rightmost entries are
    # the ones our proxy wrote, so every copy is kept, in order.
    return {name: ", ".join(request.headers.getlist(name)) for name in _FORWARDED}


def _peer(request: Request) -> str:
    return request.client.host if request.client else ""


def request_client_address(request: Request) -> str:
    return client_address(_peer(request), _forwarded_headers(request))


def request_is_https(request: Request) -> bool:
    return forwarded_https(request.url.scheme, _peer(request), _forwarded_headers(request))
