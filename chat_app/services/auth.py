"""Accounts and sessions: registration, login, session checks, logout, admin operations."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from functools import lru_cache

from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from chat_app.core import security
from chat_app.core.db import session_scope
from chat_app.core.settings import get_settings
from chat_app.models.user import User, UserCreate, UserPublic, normalize_email, validate_password
from chat_app.repositories import users as users_repo
from chat_app.services.errors import InvalidInput, NotFound, Refused
from chat_app.services.text_rules import user_text
from chat_app.services.throttle import FailureThrottle

LOGIN_FAILED = "Incorrect email or password."
SESSION_EXPIRED = "Your session has ended. Please log in again."
DUPLICATE_EMAIL = "An account with this email already exists."


@dataclass(frozen=True)
class LoggedIn:
    user: UserPublic
    token: str  # bearer token for API clients
    ticket: str  # for the browser: exchanged for the HttpOnly cookie (see api/auth_routes.py)


def _logged_in(user: User) -> LoggedIn:
    token, _ = security.issue_session_token(user.id, user.session_version)
    return LoggedIn(
        user=UserPublic.model_validate(user, from_attributes=True),
        token=token,
        ticket=security.issue_login_ticket(user.id, user.session_version),
    )


@lru_cache
def login_throttle() -> FailureThrottle:
    settings = get_settings()
    return FailureThrottle(settings.login_max_failures, settings.login_failure_window_seconds)


def safe_next_path(value: object) -> str:
    """Where to go after login: only a path on this site, never an open redirect elsewhere."""
    if isinstance(value, str) and value.startswith("/") and not value.startswith(("//", "/\\")):
        return value
    return "/"


def validation_message(exc: ValidationError) -> dict[str, str]:
    fields: dict[str, str] = {}
    for error in exc.errors():
        field = str(error["loc"][0]) if error["loc"] else "form"
        message = str(error["msg"]).removeprefix("Value error, ")
        if field == "email":
            message = "Enter a valid email address." if "email" in message else message
        fields.setdefault(field, message)
    return fields


def parse_registration(email: str, display_name: str, password: str) -> UserCreate:
    # Refused, not replaced: a U+FFFD would silently become part of a login or a password.
    email = user_text(email, "email", refuse=True)
    display_name = user_text(display_name, "display_name", refuse=True)
    password = user_text(password, "password", refuse=True)
    try:
        return UserCreate(email=email, display_name=display_name, password=password)
    except ValidationError as exc:
        fields = validation_message(exc)
        raise InvalidInput(next(iter(fields.values())), fields) from exc


async def register(email: str, display_name: str, password: str) -> LoggedIn:
    if not get_settings().allow_registration:
        raise Refused("Registration is closed on this server. Ask an administrator for an account.")
    data = parse_registration(email, display_name, password)
    password_hash = await security.hash_password(data.password)
    try:
        async with session_scope() as session:
            if await users_repo.get_by_email(session, data.email) is not None:
                raise InvalidInput(DUPLICATE_EMAIL, {"email": DUPLICATE_EMAIL})
            # The first account administers the server.
            is_first = await users_repo.count(session) == 0
            user = await users_repo.create(
                session,
                email=data.email,
                display_name=data.display_name,
                password_hash=password_hash,
                is_admin=is_first,
            )
            logged_in = _logged_in(user)
    except IntegrityError as exc:  # a concurrent registration won the race for this email
        raise InvalidInput(DUPLICATE_EMAIL, {"email": DUPLICATE_EMAIL}) from exc
    return logged_in


async def login(email: str, password: str, client_address: str = "") -> LoggedIn:
    email = normalize_email(email)
    if not email or not password:
        raise InvalidInput("Enter your email and password.")
    throttle = login_throttle()
    keys = [f"account:{email}"] + ([f"address:{client_address}"] if client_address else [])
    wait = throttle.retry_after(keys)
    if wait is not None:
        minutes = max(1, math.ceil(wait / 60))
        raise Refused(
            f"Too many failed attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            retry_after=wait,
        )
    # An email no account can have (too long; NUL, which PostgreSQL text cannot hold; a lone
    # surrogate, which no driver can encode) is an unknown email, not a database error.
    user = None
    if len(email) <= 254 and email.isprintable():
        # The connection goes back to the pool before bcrypt runs: a burst of logins must not
        # hold every pooled connection for ~0.2 s each.
        async with session_scope() as session:
            user = await users_repo.get_by_email(session, email)
    # Always pay for one bcrypt check so unknown emails answer as slowly as wrong passwords.
    # The dummy hash is made once, at full bcrypt cost: in a thread, not on the event loop.
    stored_hash = (
        user.password_hash if user is not None else await security.run_hashing(security.dummy_hash)
    )
    ok = await security.verify_password(password, stored_hash)
    if user is None or not ok or not user.is_active:
        throttle.record_failure(keys)
        raise Refused(LOGIN_FAILED)
    throttle.clear(f"account:{email}")
    return _logged_in(user)


def _token_still_valid(user: User | None, claims: security.SessionClaims) -> bool:
    if user is None or not user.is_active:
        return False
    if user.session_version != claims.session_version:
        return False
    return all(entry.get("jti") != claims.token_id for entry in user.revoked_tokens)


async def resolve_session(token: str | None) -> UserPublic | None:
    """The user a session token belongs to, or None if it is no longer good for anything."""
    if not token:
        return None
    try:
        claims = security.decode_session_token(token)
    except security.InvalidToken:
        return None
    async with session_scope() as session:
        user = await users_repo.get_by_id(session, claims.user_id)
        if not _token_still_valid(user, claims):
            return None
        return UserPublic.model_validate(user, from_attributes=True)


async def exchange_login_ticket(ticket: str) -> str | None:
    """A session token for a valid, unexpired login ticket whose user may still log in."""
    try:
        user_id, session_version = security.redeem_login_ticket(ticket)
    except security.InvalidToken:
        return None
    async with session_scope() as session:
        user = await users_repo.get_by_id(session, user_id)
        if user is None or not user.is_active or user.session_version != session_version:
            return None
        token, _ = security.issue_session_token(user.id, user.session_version)
        return token


async def logout(token: str | None) -> None:
    """Revoke this one token (other devices stay logged in)."""
    if not token:
        return
    try:
        claims = security.decode_session_token(token)
    except security.InvalidToken:
        return
    async with session_scope() as session:
        await users_repo.revoke_token(session, claims.user_id, claims.token_id, claims.expires_at)


async def logout_everywhere(user_id: uuid.UUID) -> None:
    async with session_scope() as session:
        await users_repo.bump_session_version(session, user_id)


# ---- admin operations (CLI) -------------------------------------------------------------


async def admin_create_user(
    email: str, display_name: str, password: str, *, is_admin: bool = False
) -> UserPublic:
    data = parse_registration(email, display_name, password)
    password_hash = await security.hash_password(data.password)
    async with session_scope() as session:
        if await users_repo.get_by_email(session, data.email) is not None:
            raise InvalidInput(DUPLICATE_EMAIL, {"email": DUPLICATE_EMAIL})
        user = await users_repo.create(
            session,
            email=data.email,
            display_name=data.display_name,
            password_hash=password_hash,
            is_admin=is_admin,
        )
        return UserPublic.model_validate(user, from_attributes=True)


async def admin_reset_password(email: str, password: str) -> None:
    # From a terminal, undecodable bytes arrive as lone surrogates (surrogateescape).
    email = user_text(email, "email", refuse=True)
    password = user_text(password, "password", refuse=True)
    try:
        validate_password(password)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    password_hash = await security.hash_password(password)
    async with session_scope() as session:
        user = await users_repo.get_by_email(session, email)
        if user is None:
            raise NotFound("User")
        await users_repo.set_password(session, user, password_hash)


async def admin_set_active(email: str, active: bool) -> None:
    email = user_text(email, "email", refuse=True)
    async with session_scope() as session:
        user = await users_repo.get_by_email(session, email)
        if user is None:
            raise NotFound("User")
        await users_repo.set_active(session, user, active)


async def admin_list_users() -> list[UserPublic]:
    async with session_scope() as session:
        return [
            UserPublic.model_validate(u, from_attributes=True)
            for u in await users_repo.list_all(session)
        ]
