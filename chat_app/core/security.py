"""Password hashing and session tokens.

bcrypt is CPU-heavy by design (~200 ms at cost 12), so the async helpers run it in a worker
thread: a burst of logins must not freeze every other user's stream.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any, TypeVar

import bcrypt
import jwt

from chat_app.core.settings import get_settings

T = TypeVar("T")

JWT_ALGORITHM = "HS256"
SESSION_TOKEN_TYPE = "session"  # noqa: S105  (a label, not a secret)
LOGIN_TICKET_TYPE = "login-ticket"
LOGIN_TICKET_SECONDS = 30


def hash_password_sync(password: str, rounds: int | None = None) -> str:
    rounds = rounds or get_settings().bcrypt_rounds
    return bcrypt.hashpw(password.encode("utf-8"), bcrypt.gensalt(rounds)).decode("ascii")


def verify_password_sync(password: str, password_hash: str) -> bool:
    try:
        # UnicodeEncodeError (a ValueError) for lone surrogates: never a stored password either.
        encoded = password.encode("utf-8")
        if len(encoded) > 72:
            # bcrypt 5 raises here; such a password can never have been stored (see UserCreate).
            return False
        return bcrypt.checkpw(encoded, password_hash.encode("ascii"))
    except ValueError:
        return False


# bcrypt releases the GIL, so hashes run truly in parallel, and the default thread pool would run
# up to cores+4 of them at once: a burst of logins then leaves the event loop thread (which
# streams every reply) competing for CPU with all of them. One core is kept free for the loop.
_HASH_POOL = ThreadPoolExecutor(
    max_workers=max(1, (os.cpu_count() or 2) - 1), thread_name_prefix="bcrypt"
)


async def run_hashing(function: Callable[..., T], *args: Any) -> T:
    """Run CPU-heavy password work off the event loop, on the bounded hashing pool."""
    return await asyncio.get_running_loop().run_in_executor(_HASH_POOL, function, *args)


async def hash_password(password: str) -> str:
    return await run_hashing(hash_password_sync, password)


async def verify_password(password: str, password_hash: str) -> bool:
    return await run_hashing(verify_password_sync, password, password_hash)


@lru_cache
def dummy_hash() -> str:
    """A real hash of a random password, checked when the email is unknown.

    Unknown email and wrong password then cost the same bcrypt work, so timing does not reveal
    which emails have accounts.
    """
    return hash_password_sync(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class SessionClaims:
    user_id: uuid.UUID
    token_id: str
    session_version: int
    issued_at: datetime
    expires_at: datetime


class InvalidToken(Exception):
    """Expired, tampered, foreign-signed, malformed or of the wrong type."""


def _key() -> str:
    return get_settings().resolved_secret_key()


def issue_session_token(user_id: uuid.UUID, session_version: int) -> tuple[str, SessionClaims]:
    now = datetime.now(UTC).replace(microsecond=0)
    expires = now + timedelta(hours=get_settings().session_lifetime_hours)
    claims = SessionClaims(
        user_id=user_id,
        token_id=secrets.token_urlsafe(16),
        session_version=session_version,
        issued_at=now,
        expires_at=expires,
    )
    payload = {
        "sub": str(user_id),
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
        "jti": claims.token_id,
        "sv": session_version,
        "typ": SESSION_TOKEN_TYPE,
    }
    return jwt.encode(payload, _key(), algorithm=JWT_ALGORITHM), claims


def decode_session_token(token: str) -> SessionClaims:
    payload = _decode(token, SESSION_TOKEN_TYPE)
    try:
        return SessionClaims(
            user_id=uuid.UUID(payload["sub"]),
            token_id=str(payload["jti"]),
            session_version=int(payload["sv"]),
            issued_at=datetime.fromtimestamp(payload["iat"], UTC),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        )
    # OverflowError/OSError: a timestamp beyond what datetime (or the platform) can represent.
    except (KeyError, ValueError, TypeError, OverflowError, OSError) as exc:
        raise InvalidToken("malformed claims") from exc


@dataclass(frozen=True)
class TicketClaims:
    user_id: uuid.UUID
    session_version: int
    ticket_id: str  # single use: the service records it when the ticket is redeemed
    expires_at: datetime


def issue_login_ticket(user_id: uuid.UUID, session_version: int) -> str:
    """A 30-second, single-use voucher that lets the page trade a fresh login for the cookie.

    It names the user but is not a session token: the cookie endpoint mints the session token
    and sets it as an HttpOnly cookie, so the token itself never passes through page script.
    """
    now = datetime.now(UTC)
    payload = {
        "sub": str(user_id),
        "sv": session_version,
        "jti": secrets.token_urlsafe(16),
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=LOGIN_TICKET_SECONDS)).timestamp()),
        "typ": LOGIN_TICKET_TYPE,
    }
    return jwt.encode(payload, _key(), algorithm=JWT_ALGORITHM)


def read_login_ticket(ticket: str) -> TicketClaims:
    """The claims of a genuine, unexpired ticket (whether it was used is the service's check)."""
    payload = _decode(ticket, LOGIN_TICKET_TYPE)
    try:
        ticket_id = payload["jti"]
        if not isinstance(ticket_id, str) or not 16 <= len(ticket_id) <= 64:
            raise ValueError("bad ticket id")
        return TicketClaims(
            user_id=uuid.UUID(str(payload["sub"])),
            session_version=int(payload["sv"]),
            ticket_id=ticket_id,
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        )
    except (KeyError, ValueError, TypeError, OverflowError, OSError) as exc:
        raise InvalidToken("malformed ticket") from exc


def _decode(token: str, expected_type: str) -> dict[str, Any]:
    if not token or len(token) > 4096:
        raise InvalidToken("missing or oversized token")
    try:
        payload = jwt.decode(
            token,
            _key(),
            algorithms=[JWT_ALGORITHM],
            options={"require": ["exp", "iat", "typ"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if payload.get("typ") != expected_type:
        raise InvalidToken("wrong token type")
    return payload
