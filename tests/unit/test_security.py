"""Password hashing, password rules and signed tokens."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime

import jwt
import pytest
from pydantic import ValidationError

from chat_app.core import security
from chat_app.core.security import (
    InvalidToken,
    decode_session_token,
    hash_password,
    hash_password_sync,
    issue_login_ticket,
    issue_session_token,
    read_login_ticket,
    verify_password,
    verify_password_sync,
)
from chat_app.core.settings import get_settings
from chat_app.models.user import PASSWORD_MAX_BYTES, UserCreate, validate_password

# ---- hashing -----------------------------------------------------------------------------


def test_hash_and_verify_round_trip() -> None:
    hashed = hash_password_sync("correct horse battery")
    assert hashed.startswith("$2b$")
    assert "correct horse" not in hashed
    assert verify_password_sync("correct horse battery", hashed)
    assert not verify_password_sync("correct horse batterY", hashed)
    assert not verify_password_sync("", hashed)


def test_hash_uses_configured_rounds() -> None:
    assert hash_password_sync("abcdefgh").startswith(f"$2b${get_settings().bcrypt_rounds:02d}$")
    assert hash_password_sync("abcdefgh", rounds=5).startswith("$2b$05$")


def test_same_password_gets_different_salts() -> None:
    assert hash_password_sync("abcdefgh") != hash_password_sync("abcdefgh")


async def test_async_helpers_round_trip() -> None:
    hashed = await hash_password("unicode pässwörd ✓")
    assert await verify_password("unicode pässwörd ✓", hashed)
    assert not await verify_password("unicode passwort ✓", hashed)


def test_overlong_password_verify_is_false_not_an_error() -> None:
    hashed = hash_password_sync("a" * PASSWORD_MAX_BYTES)
    # bcrypt only sees 72 bytes; a longer candidate must not match (nor raise, as bcrypt 5 does).
    assert verify_password_sync("a" * PASSWORD_MAX_BYTES, hashed)
    assert verify_password_sync("a" * (PASSWORD_MAX_BYTES + 1), hashed) is False
    assert verify_password_sync("😀" * 30, hashed) is False


def test_unencodable_password_verify_is_false_not_an_error() -> None:
    hashed = hash_password_sync("abcdefgh")
    assert verify_password_sync("\ud800abcdefgh", hashed) is False


@pytest.mark.parametrize("bad_hash", ["", "not-a-hash", "$2b$04$short", "plain text password"])
def test_verify_against_a_corrupt_hash_is_false(bad_hash: str) -> None:
    assert verify_password_sync("abcdefgh", bad_hash) is False


def test_nul_byte_in_password_is_not_truncated() -> None:
    hashed = hash_password_sync("abc\x00defgh")
    assert verify_password_sync("abc\x00defgh", hashed)
    assert not verify_password_sync("abc\x00zzzzz", hashed)
    assert not verify_password_sync("abc", hashed)


# ---- password rules ----------------------------------------------------------------------


def test_validate_password_accepts_8_to_72_bytes() -> None:
    assert validate_password("12345678") == "12345678"
    assert validate_password("a" * PASSWORD_MAX_BYTES) == "a" * PASSWORD_MAX_BYTES
    assert validate_password("😀" * 18) == "😀" * 18  # 72 bytes exactly


@pytest.mark.parametrize("password", ["", "1234567", "       "])
def test_validate_password_too_short(password: str) -> None:
    with pytest.raises(ValueError, match="at least 8 characters"):
        validate_password(password)


@pytest.mark.parametrize(
    "password",
    [
        "a" * (PASSWORD_MAX_BYTES + 1),
        "😀" * 30,  # 30 characters, 120 bytes
        "é" * 37,  # 37 characters, 74 bytes
    ],
)
def test_validate_password_too_long_in_bytes(password: str) -> None:
    with pytest.raises(ValueError, match="at most 72 bytes"):
        validate_password(password)


def test_user_create_applies_password_rules() -> None:
    ok = UserCreate(email="A@Example.com ", display_name="Ann", password="12345678")
    assert ok.email == "a@example.com"

    with pytest.raises(ValidationError) as short:
        UserCreate(email="a@example.com", display_name="Ann", password="1234567")
    assert short.value.errors()[0]["loc"] == ("password",)
    assert "8" in short.value.errors()[0]["msg"]

    with pytest.raises(ValidationError) as emoji:
        UserCreate(email="a@example.com", display_name="Ann", password="😀" * 30)
    (error,) = emoji.value.errors()
    assert error["loc"] == ("password",)
    assert "at most 72 bytes" in error["msg"]
    assert "emoji" in error["msg"]


# ---- session tokens and login tickets ----------------------------------------------------


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _signed(payload: dict[str, object], key: str | None = None) -> str:
    return jwt.encode(payload, key or get_settings().resolved_secret_key(), algorithm="HS256")


def _session_payload(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    payload: dict[str, object] = {
        "sub": str(uuid.uuid4()),
        "iat": now,
        "exp": now + 3600,
        "jti": "token-id",
        "sv": 1,
        "typ": security.SESSION_TOKEN_TYPE,
    }
    payload.update(overrides)
    return payload


def test_session_token_round_trip() -> None:
    user_id = uuid.uuid4()
    token, claims = issue_session_token(user_id, 3)
    decoded = decode_session_token(token)
    assert decoded == claims
    assert decoded.user_id == user_id
    assert decoded.session_version == 3
    assert decoded.expires_at > decoded.issued_at
    assert decoded.issued_at.tzinfo is not None
    # Every token has its own id, so one can be revoked without the others.
    assert issue_session_token(user_id, 3)[1].token_id != claims.token_id


def test_self_built_token_with_same_claims_is_accepted() -> None:
    # Sanity check for the helpers below: a correct payload with the real key decodes.
    claims = decode_session_token(_signed(_session_payload(sv=7)))
    assert claims.session_version == 7


def test_expired_token_is_refused() -> None:
    now = int(time.time())
    token = _signed(_session_payload(iat=now - 7200, exp=now - 60))
    with pytest.raises(InvalidToken):
        decode_session_token(token)


def test_tampered_token_is_refused() -> None:
    token, _ = issue_session_token(uuid.uuid4(), 1)
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sv"] = 99  # e.g. dodge a "log out everywhere"
    forged = ".".join([header, _b64(claims), signature])
    with pytest.raises(InvalidToken):
        decode_session_token(forged)
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    with pytest.raises(InvalidToken):
        decode_session_token(".".join([header, payload, flipped]))


def test_token_signed_with_foreign_key_is_refused() -> None:
    with pytest.raises(InvalidToken):
        decode_session_token(_signed(_session_payload(), key="another-server-" + "z" * 40))


def test_unsigned_alg_none_token_is_refused() -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_session_payload())}."
    with pytest.raises(InvalidToken):
        decode_session_token(token)


def test_login_ticket_round_trip() -> None:
    user_id = uuid.uuid4()
    first = read_login_ticket(issue_login_ticket(user_id, 4))
    second = read_login_ticket(issue_login_ticket(user_id, 4))
    assert (first.user_id, first.session_version) == (user_id, 4)
    # Every ticket has its own id: that id is what makes a ticket single-use.
    assert first.ticket_id != second.ticket_id and len(first.ticket_id) >= 16
    assert 0 < (first.expires_at - datetime.now(UTC)).total_seconds() <= 31


@pytest.mark.parametrize(
    "jti", [None, "", "short", 12345678901234567890, ["x" * 20], "x" * 65], ids=repr
)
def test_login_ticket_without_a_usable_id_is_refused(jti: object) -> None:
    # Tickets issued before single use (no jti) or with a forged id shape are worthless.
    now = int(datetime.now(UTC).timestamp())
    payload = {"sub": str(uuid.uuid4()), "sv": 1, "iat": now, "exp": now + 30}
    payload["typ"] = "login-ticket"
    if jti is not None:
        payload["jti"] = jti
    with pytest.raises(InvalidToken):  # PyJWT itself refuses a jti that is not a string
        read_login_ticket(_signed(payload))


def test_ticket_and_session_token_are_not_interchangeable() -> None:
    user_id = uuid.uuid4()
    ticket = issue_login_ticket(user_id, 1)
    token, _ = issue_session_token(user_id, 1)
    with pytest.raises(InvalidToken, match="wrong token type"):
        decode_session_token(ticket)
    with pytest.raises(InvalidToken, match="wrong token type"):
        read_login_ticket(token)


@pytest.mark.parametrize(
    "payload",
    [
        _session_payload(typ=None),
        {k: v for k, v in _session_payload().items() if k != "typ"},
        {k: v for k, v in _session_payload().items() if k != "jti"},
        {k: v for k, v in _session_payload().items() if k != "sv"},
        {k: v for k, v in _session_payload().items() if k != "exp"},
        _session_payload(sub="not-a-uuid"),
        _session_payload(sv="one"),
        _session_payload(sv=[1]),
        _session_payload(exp=10**20),  # far beyond what a datetime can hold
    ],
    ids=[
        "typ-null",
        "no-typ",
        "no-jti",
        "no-sv",
        "no-exp",
        "bad-sub",
        "sv-text",
        "sv-list",
        "exp-overflow",
    ],
)
def test_signed_but_malformed_claims_are_invalid_token(payload: dict[str, object]) -> None:
    with pytest.raises(InvalidToken):
        decode_session_token(_signed(payload))


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        ".",
        "..",
        "a.b.c",
        "not a token at all",
        "\x00",
        "ü.ü.ü",
        "eyJhbGciOiJIUzI1NiJ9.eyJ.sig",
        "a" * 4096,
        "a" * 5000,
        "x." * 3000,
        "🔑" * 2000,
    ],
    ids=lambda g: f"len{len(g)}-{g[:6]!r}",
)
def test_garbage_is_invalid_token_for_both_decoders(garbage: str) -> None:
    with pytest.raises(InvalidToken):
        decode_session_token(garbage)
    with pytest.raises(InvalidToken):
        read_login_ticket(garbage)


def test_oversized_valid_looking_token_is_refused_before_decoding() -> None:
    token = _signed(_session_payload(padding="p" * 5000))
    assert len(token) > 4096
    with pytest.raises(InvalidToken, match="oversized"):
        decode_session_token(token)
