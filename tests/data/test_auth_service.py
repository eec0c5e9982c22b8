"""The auth service against real databases (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from chat_app.core import security
from chat_app.core.db import session_scope
from chat_app.core.settings import get_settings
from chat_app.models.common import utcnow
from chat_app.models.login_records import RedeemedLoginTicket
from chat_app.models.user import normalize_email
from chat_app.repositories import users as users_repo
from chat_app.services import api_tokens, auth
from chat_app.services.errors import InvalidInput, Refused
from tests.conftest import unique_email

PASSWORD = "correct horse battery"


async def user_count() -> int:
    async with session_scope() as session:
        return await users_repo.count(session)


# ---- registration ------------------------------------------------------------------------


async def test_register_normalizes_email_and_first_user_is_admin(db: str) -> None:
    first = await auth.register("  Ann.Smith@Example.COM ", "Ann", PASSWORD)
    assert first.user.email == "ann.smith@example.com"
    assert first.user.is_admin
    assert first.user.is_active
    second = await auth.register("bob@example.com", "Bob", PASSWORD)
    assert not second.user.is_admin
    async with session_scope() as session:
        stored = await users_repo.get_by_email(session, "ANN.SMITH@example.com")
    assert stored is not None
    assert stored.email == "ann.smith@example.com"
    assert stored.password_hash != PASSWORD
    assert security.verify_password_sync(PASSWORD, stored.password_hash)
    # The result carries a working token and a ticket that trades for one.
    assert (await auth.resolve_session(first.token)).id == first.user.id  # type: ignore[union-attr]
    assert await auth.exchange_login_ticket(first.ticket) is not None


@pytest.mark.parametrize("again", ["dup@example.com", "DUP@EXAMPLE.COM", " Dup@Example.com "])
async def test_duplicate_email_in_any_case_is_refused(db: str, again: str) -> None:
    await auth.register("dup@example.com", "First", PASSWORD)
    with pytest.raises(InvalidInput) as exc:
        await auth.register(again, "Second", "another password")
    assert exc.value.fields == {"email": auth.DUPLICATE_EMAIL}
    assert await user_count() == 1
    # The first account is untouched: its password still works.
    assert (await auth.login("dup@example.com", PASSWORD)).user.display_name == "First"


async def test_registration_closed(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ALLOW_REGISTRATION", "false")
    get_settings.cache_clear()
    with pytest.raises(Refused, match="Registration is closed"):
        await auth.register(unique_email(), "Ann", PASSWORD)
    assert await user_count() == 0


@pytest.mark.parametrize(
    ("email", "name", "password", "field", "message"),
    [
        ("", "Ann", PASSWORD, "email", "valid email"),
        ("ann@example.com", "", PASSWORD, "display_name", "at least 1 character"),
        ("ann@example.com", "Ann", "", "password", "at least 8 characters"),
        ("not-an-email", "Ann", PASSWORD, "email", "valid email"),
        ("ann@", "Ann", PASSWORD, "email", "valid email"),
        ("@example.com", "Ann", PASSWORD, "email", "valid email"),
        ("ann@@example.com", "Ann", PASSWORD, "email", "valid email"),
        ("ann example@example.com", "Ann", PASSWORD, "email", "valid email"),
        ("a" * 250 + "@example.com", "Ann", PASSWORD, "email", "valid email"),
        ("ann@example.com", "A" * 81, PASSWORD, "display_name", "at most 80 characters"),
        ("ann@example.com", "   ", PASSWORD, "display_name", "cannot be blank"),
        ("ann@example.com", "Ann", "1234567", "password", "at least 8 characters"),
        ("ann@example.com", "Ann", "a" * 73, "password", "at most 72 bytes"),
        ("ann@example.com", "Ann", "😀" * 30, "password", "at most 72 bytes"),
        ("ann@example.com", "Ann\x00", PASSWORD, "display_name", "cannot hold"),
        ("ann@example.com", "Ann\x07Bell", PASSWORD, "display_name", "control characters"),
        ("ann@example.com", "\x1b[31mRed", PASSWORD, "display_name", "control characters"),
        ("ann@example.com", "Ann\x7fDel", PASSWORD, "display_name", "control characters"),
        ("ann@example.com", "Ann\x9bCSI", PASSWORD, "display_name", "control characters"),
        ("ann@example.com", "Ann\ud800", PASSWORD, "display_name", "cannot hold"),
    ],
    ids=[
        "empty-email",
        "empty-name",
        "empty-password",
        "malformed-email",
        "no-domain",
        "no-local-part",
        "two-ats",
        "space-in-email",
        "email-over-254",
        "name-over-80",
        "blank-name",
        "password-7",
        "password-73-bytes",
        "password-30-emoji",
        "nul-in-name",
        "bell-in-name",
        "escape-in-name",
        "del-in-name",
        "c1-csi-in-name",
        "lone-surrogate-in-name",
    ],
)
async def test_bad_registration_input(
    db: str, email: str, name: str, password: str, field: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        await auth.register(email, name, password)
    assert field in exc.value.fields, exc.value.fields
    assert message in exc.value.fields[field]
    assert exc.value.message  # a displayable summary, never empty
    assert await user_count() == 0


async def test_all_empty_reports_every_field(db: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        await auth.register("", "", "")
    assert set(exc.value.fields) == {"email", "display_name", "password"}
    assert await user_count() == 0


@pytest.mark.parametrize(
    "name",
    [
        "Zoë Ångström-Øster",
        "李小龍",
        "مرحبا بالعالم",  # right-to-left
        "👩‍💻 Ada",  # emoji with a zero-width joiner
        "Robert'); DROP TABLE users;--",
        "<script>alert('x')</script>",
        '<img src=x onerror="alert(1)"> & "quotes"',
        "100% _under_ \\back\\slash",
    ],
)
async def test_display_name_stored_verbatim(db: str, name: str) -> None:
    email = unique_email()
    registered = await auth.register(email, name, PASSWORD)
    assert registered.user.display_name == name
    async with session_scope() as session:
        stored = await users_repo.get_by_email(session, email)
    assert stored is not None
    assert stored.display_name == name
    assert (await auth.login(email, PASSWORD)).user.display_name == name
    assert await user_count() == 1  # the users table is still there, with one row


async def test_display_name_whitespace_collapsed(db: str) -> None:
    registered = await auth.register(unique_email(), "  Ann \t\n  Lee ", PASSWORD)
    assert registered.user.display_name == "Ann Lee"


# ---- login -------------------------------------------------------------------------------


async def test_login_round_trip_is_case_insensitive(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    logged_in = await auth.login("  ANN@example.com", PASSWORD)
    assert logged_in.user.id == registered.user.id
    assert (await auth.resolve_session(logged_in.token)).id == registered.user.id  # type: ignore[union-attr]


async def test_unknown_email_and_wrong_password_look_the_same(db: str) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    with pytest.raises(Refused) as unknown:
        await auth.login("nobody@example.com", PASSWORD)
    with pytest.raises(Refused) as wrong:
        await auth.login("ann@example.com", "wrong password")
    assert unknown.value.message == wrong.value.message == auth.LOGIN_FAILED


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("a" * 300 + "@example.com", PASSWORD),
        ("ann\x00@example.com", PASSWORD),  # PostgreSQL text cannot hold NUL
        ("\ud800@example.com", PASSWORD),  # not encodable as UTF-8
        ("ann@example.com", "\ud800" * 8),
        ("ann@example.com", "x" * 10_000),
        ("'; DROP TABLE users;--", PASSWORD),
        ("%", PASSWORD),
    ],
    ids=[
        "long-email",
        "nul-email",
        "surrogate-email",
        "surrogate-password",
        "huge-password",
        "sql",
        "like-wildcard",
    ],
)
async def test_unusable_login_input_is_a_plain_failure(db: str, email: str, password: str) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    with pytest.raises(Refused) as exc:
        await auth.login(email, password)
    assert exc.value.message == auth.LOGIN_FAILED
    assert await user_count() == 1


@pytest.mark.parametrize(
    ("email", "password"), [("", PASSWORD), ("ann@example.com", ""), (" ", "")]
)
async def test_login_with_missing_fields(db: str, email: str, password: str) -> None:
    with pytest.raises(InvalidInput, match="Enter your email and password"):
        await auth.login(email, password)


async def test_disabled_user_cannot_log_in(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    await auth.admin_set_active("ann@example.com", False)
    with pytest.raises(Refused) as exc:
        await auth.login("ann@example.com", PASSWORD)
    assert exc.value.message == auth.LOGIN_FAILED
    # Disabling also ended the session the user already had.
    assert await auth.resolve_session(registered.token) is None
    await auth.admin_set_active("ann@example.com", True)
    assert (await auth.login("ann@example.com", PASSWORD)).user.is_active


# ---- throttling --------------------------------------------------------------------------

# The schedule itself, per account and per address: tests/data/test_login_throttle.py.


async def test_success_before_the_limit_resets_the_account_count(db: str) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    for _ in range(4):
        with pytest.raises(Refused):
            await auth.login("ann@example.com", "wrong")
    await auth.login("ann@example.com", PASSWORD)
    for _ in range(4):
        with pytest.raises(Refused, match=re.escape(auth.LOGIN_FAILED)):
            await auth.login("ann@example.com", "wrong")
    assert await auth.login("ann@example.com", PASSWORD)


# ---- sessions ----------------------------------------------------------------------------


async def test_resolve_session(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    user = await auth.resolve_session(registered.token)
    assert user is not None
    assert user.email == "ann@example.com"
    assert not hasattr(user, "password_hash")
    assert await auth.resolve_session(None) is None
    assert await auth.resolve_session("") is None
    assert await auth.resolve_session("garbage") is None
    assert await auth.resolve_session(registered.ticket) is None  # a ticket is not a session


async def test_token_of_a_deleted_user_resolves_to_none(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    async with session_scope() as session:
        user = await users_repo.get_by_email(session, "ann@example.com")
        assert user is not None
        await users_repo.delete(session, user)
    assert await auth.resolve_session(registered.token) is None
    assert await auth.exchange_login_ticket(registered.ticket) is None


async def test_logout_revokes_only_that_token(db: str) -> None:
    await auth.register("ann@example.com", "Ann", PASSWORD)
    laptop = await auth.login("ann@example.com", PASSWORD)
    phone = await auth.login("ann@example.com", PASSWORD)
    await auth.logout(laptop.token)
    assert await auth.resolve_session(laptop.token) is None
    assert await auth.resolve_session(phone.token) is not None
    # Logging out twice, or with junk, is harmless.
    await auth.logout(laptop.token)
    await auth.logout("garbage")
    await auth.logout(None)
    assert await auth.resolve_session(phone.token) is not None


async def test_logout_everywhere_ends_every_session(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    tokens = [registered.token] + [
        (await auth.login("ann@example.com", PASSWORD)).token for _ in range(2)
    ]
    await auth.logout_everywhere(registered.user.id)
    for token in tokens:
        assert await auth.resolve_session(token) is None
    # Logging in again afterwards works.
    fresh = await auth.login("ann@example.com", PASSWORD)
    assert await auth.resolve_session(fresh.token) is not None


async def test_password_reset_ends_old_sessions(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    other = await auth.login("ann@example.com", PASSWORD)
    await auth.admin_reset_password("ANN@example.com", "brand new password")
    assert await auth.resolve_session(registered.token) is None
    assert await auth.resolve_session(other.token) is None
    with pytest.raises(Refused):
        await auth.login("ann@example.com", PASSWORD)
    assert await auth.login("ann@example.com", "brand new password")


async def test_exchange_login_ticket(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    token = await auth.exchange_login_ticket(registered.ticket)
    assert token is not None
    assert (await auth.resolve_session(token)).id == registered.user.id  # type: ignore[union-attr]
    # A session token is not a ticket; junk is nothing.
    assert await auth.exchange_login_ticket(registered.token) is None
    for junk in ("", "garbage", "a.b.c", "x" * 5000):
        assert await auth.exchange_login_ticket(junk) is None
    # After "log out everywhere" an unused ticket from before is worthless too.
    await auth.logout_everywhere(registered.user.id)
    assert await auth.exchange_login_ticket(registered.ticket) is None
    assert await auth.resolve_session(token) is None


async def test_ticket_of_a_disabled_user_is_refused(db: str) -> None:
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    await auth.admin_set_active("ann@example.com", False)
    assert await auth.exchange_login_ticket(registered.ticket) is None


# ---- look-alike emails are one account (issue 8 #14) ------------------------------------------


def full_width(text: str) -> str:
    """The full-width forms (U+FF21...U+FF5A) of ASCII letters: what NFKC folds back."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalpha() else c for c in text)


LOOK_ALIKES = [
    ("ann@example.com", "ANN@EXAMPLE.COM"),
    ("ann@example.com", full_width("ann@example.com")),
    ("kate@example.com", "\u212aate@example.com"),  # KELVIN SIGN for K
    ("fiona@example.com", "\ufb01ona@example.com"),  # the "fi" ligature
    ("strasse@example.de", "straße@example.de"),  # ß case-folds to ss
    ("ann@bücher.de", "ann@xn--bcher-kva.de"),  # the punycode of the same domain
    ("ann@bücher.de", "Ann@BÜCHER.de"),
    ("ann@xn--bcher-kva.de", "ANN@XN--BCHER-KVA.DE"),
    # Cherokee case-folds to capitals; the stored form still passes email = lower(email).
    ("\uab70\uab71@example.com", "\u13a0\u13a1@example.com"),
    ("zoë@example.com", "zoe\u0308@example.com"),  # decomposed ë
]


@pytest.mark.parametrize(("first", "second"), LOOK_ALIKES)
async def test_look_alike_spellings_are_one_account(db: str, first: str, second: str) -> None:
    registered = await auth.register(first, "First", PASSWORD)
    with pytest.raises(InvalidInput) as exc:
        await auth.register(second, "Second", "another password")
    assert exc.value.fields == {"email": auth.DUPLICATE_EMAIL}
    assert await user_count() == 1
    # Login with either spelling finds the one account.
    for spelling in (first, second):
        assert (await auth.login(spelling, PASSWORD)).user.id == registered.user.id
    async with session_scope() as session:
        stored = await users_repo.get_by_email(session, second)
    assert stored is not None and stored.id == registered.user.id


@pytest.mark.parametrize(("canonical", "spelling"), LOOK_ALIKES)
async def test_stored_email_is_the_normalized_spelling(
    db: str, canonical: str, spelling: str
) -> None:
    registered = await auth.register(spelling, "Ann", PASSWORD)
    assert registered.user.email == normalize_email(canonical) == normalize_email(spelling)
    created = await auth.admin_create_user(unique_email(), "Other", PASSWORD)
    assert created.email == normalize_email(created.email)


@pytest.mark.parametrize(
    "email",
    ["", "no-at-sign", "a@b@c", "ann@-bad-.com", "ann\x00@x.com", "\ud800@x.com", "@", "a@" * 300],
)
def test_normalize_email_never_raises_and_is_idempotent(email: str) -> None:
    once = normalize_email(email)
    assert normalize_email(once) == once


# ---- personal API tokens end with "log out everywhere" and a password reset (issue 8 #6) ------


async def test_logout_everywhere_revokes_personal_tokens(db: str) -> None:
    ann = await auth.register("ann@example.com", "Ann", PASSWORD)
    bob = await auth.register("bob@example.com", "Bob", PASSWORD)
    ann_tokens = [(await api_tokens.create_token(ann.user.id, f"t{i}")).plaintext for i in range(3)]
    bob_token = (await api_tokens.create_token(bob.user.id, "bob's")).plaintext
    await auth.logout_everywhere(ann.user.id)
    for token in ann_tokens:
        assert await api_tokens.authenticate(token) is None
    assert await api_tokens.list_tokens(ann.user.id) == []
    # Nobody else's tokens are touched; a token made afterwards works.
    assert (await api_tokens.authenticate(bob_token)).id == bob.user.id  # type: ignore[union-attr]
    fresh = await api_tokens.create_token(ann.user.id, "after")
    assert (await api_tokens.authenticate(fresh.plaintext)).id == ann.user.id  # type: ignore[union-attr]


async def test_admin_password_reset_revokes_personal_tokens(db: str) -> None:
    ann = await auth.register("ann@example.com", "Ann", PASSWORD)
    bob = await auth.register("bob@example.com", "Bob", PASSWORD)
    ann_token = (await api_tokens.create_token(ann.user.id, "script")).plaintext
    bob_token = (await api_tokens.create_token(bob.user.id, "script")).plaintext
    await auth.admin_reset_password("ANN@example.com", "brand new password")
    assert await api_tokens.authenticate(ann_token) is None
    assert await api_tokens.authenticate(bob_token) is not None


async def test_redeemed_ticket_rows_are_purged_once_expired(db: str) -> None:
    async with session_scope() as session:
        session.add(
            RedeemedLoginTicket(jti="stale-" + "x" * 20, expires_at=utcnow() - timedelta(seconds=1))
        )
    registered = await auth.register("ann@example.com", "Ann", PASSWORD)
    assert await auth.exchange_login_ticket(registered.ticket) is not None
    async with session_scope() as session:
        jtis = set((await session.execute(select(RedeemedLoginTicket.jti))).scalars())
    assert len(jtis) == 1 and not any(j.startswith("stale-") for j in jtis)
