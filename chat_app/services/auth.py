"""Accounts and sessions: registration, login, session checks, logout, admin operations."""

from __future__ import annotations

import logging
import math
import time
import uuid
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeVar

from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from chat_app.core import security
from chat_app.core.client_address import canonical_address
from chat_app.core.db import read_scope, session_scope
from chat_app.core.settings import get_settings
from chat_app.models.common import utcnow
from chat_app.models.user import User, UserCreate, UserPublic, normalize_email, validate_password
from chat_app.repositories import api_tokens as tokens_repo
from chat_app.repositories import login_tickets as tickets_repo
from chat_app.repositories import users as users_repo
from chat_app.services import session_cache
from chat_app.services.errors import InvalidInput, NotFound, Refused
from chat_app.services.login_throttle import DatabaseLoginThrottle, LoginThrottle
from chat_app.services.text_rules import user_text

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

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
def login_throttle() -> LoginThrottle:
    return DatabaseLoginThrottle()


def wait_message(seconds: float) -> str:
    """'Try again in …' with the wait rounded up: never a promise that is too early."""
    if seconds < 60:
        amount, unit = max(1, math.ceil(seconds)), "second"
    else:
        amount, unit = math.ceil(seconds / 60), "minute"
    return f"Too many failed attempts. Try again in {amount} {unit}{'s' if amount > 1 else ''}."


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
    wait = await throttle.retry_after(email, client_address)
    if wait is not None:
        raise Refused(wait_message(wait), retry_after=wait)
    # An email no account can have (too long; NUL, which PostgreSQL text cannot hold; a lone
    # surrogate, which no driver can encode) is an unknown email, not a database error.
    user = None
    if len(email) <= 254 and email.isprintable():
        # The connection goes back to the pool before bcrypt runs: a burst of logins must not
        # hold every pooled connection for ~0.2 s each.
        async with read_scope() as session:
            user = await users_repo.get_by_email(session, email)
    # Always pay for one bcrypt check so unknown emails answer as slowly as wrong passwords.
    # The dummy hash is made once, at full bcrypt cost: in a thread, not on the event loop.
    stored_hash = (
        user.password_hash if user is not None else await security.run_hashing(security.dummy_hash)
    )
    ok = await security.verify_password(password, stored_hash)
    if user is None or not ok or not user.is_active:
        await throttle.record_failure(email, client_address)
        raise Refused(LOGIN_FAILED)
    await throttle.record_success(email, client_address)
    return _logged_in(user)


def _token_still_valid(user: User | None, claims: security.SessionClaims) -> bool:
    if user is None or not user.is_active:
        return False
    if user.session_version != claims.session_version:
        return False
    return all(entry.get("jti") != claims.token_id for entry in user.revoked_tokens)


async def resolve_session(token: str | None) -> UserPublic | None:
    """The user a session token belongs to, or None if it is no longer good for anything.

    The database's answer is reused for up to a second (services/session_cache.py): a session
    ended elsewhere stops working within that time, one ended in this process at once.
    """
    if not token:
        return None
    found, cached = session_cache.sessions.get(token)
    if found:
        return cached
    try:
        claims = security.decode_session_token(token)
    except security.InvalidToken:
        return None
    async with read_scope() as session:
        user = await users_repo.get_by_id(session, claims.user_id)
        public = (
            UserPublic.model_validate(user, from_attributes=True)
            if _token_still_valid(user, claims)
            else None
        )
    left = (claims.expires_at - utcnow()).total_seconds()
    session_cache.sessions.put(token, public, valid_until=time.monotonic() + left)
    return public


async def exchange_login_ticket(ticket: str) -> str | None:
    """A session token for a valid, unexpired, unused login ticket whose user may still log in.

    Single use across processes: the ticket's id is recorded in the same transaction that mints
    the token, and a second redemption fails on that row's primary key.
    """
    try:
        claims = security.read_login_ticket(ticket)
    except security.InvalidToken:
        return None
    try:
        async with session_scope() as session:
            user = await users_repo.get_by_id(session, claims.user_id)
            if user is None or not user.is_active or user.session_version != claims.session_version:
                return None
            await tickets_repo.record_redemption(session, claims.ticket_id, claims.expires_at)
            token, _ = security.issue_session_token(user.id, user.session_version)
    except IntegrityError:  # already redeemed (here or by another worker)
        return None
    await _purge_redeemed_tickets()
    return token


async def _purge_redeemed_tickets() -> None:
    # Housekeeping in its own transaction, after the redemption committed: two workers purging
    # at once may deadlock on PostgreSQL, and that must never cost anyone their login.
    try:
        async with session_scope() as session:
            await tickets_repo.purge_expired(session, utcnow())
    except DBAPIError as exc:
        logger.warning("purging redeemed login tickets failed (retried next time): %s", exc)


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
    session_cache.sessions.forget_token(token)


async def logout_everywhere(user_id: uuid.UUID) -> None:
    """End every session and revoke every personal API token of this user, all at once.

    Someone who got hold of the account must not keep a way in: a token they minted would
    otherwise outlive the sessions (the UI says so before the user confirms).
    """
    async with session_scope() as session:
        await users_repo.bump_session_version(session, user_id)
        await tokens_repo.delete_all_for_owner(session, user_id)
    session_cache.sessions.forget_user(user_id)


REAUTH_FAILED = "That password is not correct."


async def confirm_password(user_id: uuid.UUID, password: object, client_address: str = "") -> None:
    """Ask a logged-in user for their password again before a sensitive action.

    A session alone is not enough to mint credentials that outlive it (a personal API token
    survives logout): whoever holds the tab must also know the password. Wrong answers count
    against the same login throttle, so this is no side door for guessing.
    """
    if not isinstance(password, str) or not password:
        raise InvalidInput("Enter your password to confirm.", {"password": "Required."})
    async with read_scope() as session:
        user = await users_repo.get_by_id(session, user_id)
    if user is None or not user.is_active:
        raise NotFound("User")
    throttle = login_throttle()
    wait = await throttle.retry_after(user.email, client_address)
    if wait is not None:
        raise Refused(wait_message(wait), retry_after=wait)
    if not await security.verify_password(password, user.password_hash):
        await throttle.record_failure(user.email, client_address)
        raise Refused(REAUTH_FAILED)


async def ended_sessions(tokens: Mapping[K, str | None]) -> set[K]:
    """Which of these session tokens no longer authenticate anyone, in one query.

    For the watchdog that ends the sockets of disabled or logged-out users (their tabs would
    otherwise keep showing what they last loaded until their next event).
    """
    claims: dict[K, security.SessionClaims] = {}
    ended: set[K] = set()
    for key, token in tokens.items():
        try:
            claims[key] = security.decode_session_token(token or "")
        except security.InvalidToken:
            ended.add(key)
    async with read_scope() as session:
        users = await users_repo.get_many(session, {c.user_id for c in claims.values()})
    ended.update(
        key for key, c in claims.items() if not _token_still_valid(users.get(c.user_id), c)
    )
    return ended


async def inactive_users(user_ids: set[uuid.UUID]) -> set[uuid.UUID]:
    """The ids among these whose account is disabled or gone."""
    async with read_scope() as session:
        users = await users_repo.get_many(session, user_ids)
    return {uid for uid in user_ids if uid not in users or not users[uid].is_active}


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
        user = await _admin_find_user(session, email)
        await users_repo.set_password(session, user, password_hash)
        # A reset answers a compromised or lost account: no token minted before it survives.
        await tokens_repo.delete_all_for_owner(session, user.id)
    session_cache.sessions.forget_user(user.id)


async def admin_set_active(email: str, active: bool) -> None:
    email = user_text(email, "email", refuse=True)
    async with session_scope() as session:
        user = await _admin_find_user(session, email)
        await users_repo.set_active(session, user, active)
    session_cache.sessions.forget_user(user.id)


async def _admin_find_user(session: AsyncSession, email: str) -> User:
    # The stored spelling first: an older row left unnormalized by migration 0004 (a collision,
    # see check-emails) must be reachable by exactly the email the report shows, never mistaken
    # for the account its normalized form belongs to.
    if len(email) > 300 or not email.isprintable():  # NUL etc.: no row can hold it
        raise NotFound("User")
    user = await users_repo.get_by_stored_email(session, email.strip())
    if user is None:
        user = await users_repo.get_by_email(session, email)
    if user is None:
        raise NotFound("User")
    return user


async def admin_clear_throttle(subject: str) -> int:
    """Forget the failed logins of an account (an email) or of a client address."""
    subject = subject.strip()
    if "@" in subject:
        subject = normalize_email(subject)
    else:
        subject = canonical_address(subject)
    if not subject:
        raise InvalidInput("Give an email address or an IP address.")
    return await login_throttle().clear(subject)


@dataclass(frozen=True)
class EmailProblem:
    email: str  # as stored
    normalized: str
    user_id: uuid.UUID
    taken_by: str | None  # the stored email of the account the normalized form belongs to


async def admin_check_emails() -> list[EmailProblem]:
    """Accounts whose stored email is not in normalized form (left so by migration 0004 because
    another account already had, or also wanted, that form). Nothing is changed here."""
    async with session_scope() as session:
        users = await users_repo.list_all(session)
    stored = {u.email for u in users}
    return [
        EmailProblem(
            email=u.email,
            normalized=normalize_email(u.email),
            user_id=u.id,
            taken_by=normalize_email(u.email) if normalize_email(u.email) in stored else None,
        )
        for u in users
        if normalize_email(u.email) != u.email
    ]


async def admin_list_users() -> list[UserPublic]:
    async with session_scope() as session:
        return [
            UserPublic.model_validate(u, from_attributes=True)
            for u in await users_repo.list_all(session)
        ]
