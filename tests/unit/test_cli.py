"""The admin command line (``python -m chat_app``), run in-process against real databases."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import pytest

from chat_app.__main__ import main
from chat_app.core.db import dispose_engine, session_scope
from chat_app.models import Conversation, Message, MessageStatus, User
from chat_app.repositories import users as users_repo
from chat_app.services import api_tokens, auth
from chat_app.services.errors import Refused

T = TypeVar("T")
PROJECT_ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse battery"


def call(awaitable: Awaitable[T]) -> T:
    """Run one service call in its own loop, like the CLI does, and release the engine after."""

    async def go() -> T:
        try:
            return await awaitable
        finally:
            await dispose_engine()

    return asyncio.run(go())


def cli(
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: str = "",
) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_create_list_reset_disable_enable(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, err = cli(
        ["create-user", "Admin@Example.com", "--name", "The Admin", "--admin", "--password-stdin"],
        capsys,
        monkeypatch,
        stdin=PASSWORD + "\n",
    )
    assert (code, err) == (0, "")
    assert out.strip() == "Created admin@example.com (admin)."

    code, out, _ = cli(
        ["create-user", "bob@example.com", "--name", "Bob", "--password-stdin"],
        capsys,
        monkeypatch,
        stdin=PASSWORD + "\n",
    )
    assert code == 0
    assert out.strip() == "Created bob@example.com."

    code, out, _ = cli(["list-users"], capsys, monkeypatch)
    assert code == 0
    rows = [line.split("\t") for line in out.strip().splitlines()]
    assert [r[:4] for r in rows] == [
        ["admin@example.com", "The Admin", "admin", "active"],
        ["bob@example.com", "Bob", "user", "active"],
    ]
    # The password read from stdin (without its newline) is the one that works.
    assert call(auth.login("bob@example.com", PASSWORD)).user.display_name == "Bob"

    # reset-password: too short is refused with a message on stderr and changes nothing.
    code, out, err = cli(
        ["reset-password", "bob@example.com", "--password-stdin"], capsys, monkeypatch, "short\n"
    )
    assert code == 1
    assert out == ""
    assert "error:" in err and "at least 8 characters" in err
    assert call(auth.login("bob@example.com", PASSWORD))

    session = call(auth.login("bob@example.com", PASSWORD))
    code, out, err = cli(
        ["reset-password", "BOB@example.com", "--password-stdin"],
        capsys,
        monkeypatch,
        "a brand new password\n",
    )
    assert (code, err) == (0, "")
    assert "Password reset for BOB@example.com" in out
    assert call(auth.resolve_session(session.token)) is None  # old sessions ended
    with pytest.raises(Refused):
        call(auth.login("bob@example.com", PASSWORD))
    session = call(auth.login("bob@example.com", "a brand new password"))

    code, out, err = cli(["disable-user", "bob@example.com"], capsys, monkeypatch)
    assert (code, err) == (0, "")
    assert out.strip() == "Disabled bob@example.com; their sessions were ended."
    with pytest.raises(Refused, match="Incorrect email or password"):
        call(auth.login("bob@example.com", "a brand new password"))
    assert call(auth.resolve_session(session.token)) is None
    code, out, _ = cli(["list-users"], capsys, monkeypatch)
    assert "bob@example.com\tBob\tuser\tdisabled" in out

    code, out, err = cli(["enable-user", "bob@example.com"], capsys, monkeypatch)
    assert (code, err) == (0, "")
    assert out.strip() == "Enabled bob@example.com."
    assert call(auth.login("bob@example.com", "a brand new password")).user.is_active


def test_errors_exit_1_with_message_on_stderr(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(["list-users"], capsys, monkeypatch)
    assert (code, out.strip()) == (0, "No users.")

    for args, stdin, message in [
        (["disable-user", "ghost@example.com"], "", "User not found"),
        (["enable-user", "ghost@example.com"], "", "User not found"),
        (
            ["reset-password", "ghost@example.com", "--password-stdin"],
            PASSWORD + "\n",
            "User not found",
        ),
        (
            ["create-user", "not-an-email", "--name", "X", "--password-stdin"],
            PASSWORD + "\n",
            "valid email",
        ),
        (
            ["create-user", "x@example.com", "--name", "X", "--password-stdin"],
            "short\n",
            "at least 8",
        ),
        (
            ["create-user", "x@example.com", "--name", "X", "--password-stdin"],
            "😀" * 30 + "\n",
            "72 bytes",
        ),
    ]:
        code, out, err = cli(args, capsys, monkeypatch, stdin)
        assert code == 1, args
        assert out == ""
        assert err.startswith("error: ") and message in err, (args, err)

    cli(
        ["create-user", "x@example.com", "--name", "X", "--password-stdin"],
        capsys,
        monkeypatch,
        PASSWORD + "\n",
    )
    code, _, err = cli(
        ["create-user", "X@EXAMPLE.COM", "--name", "Twin", "--password-stdin"],
        capsys,
        monkeypatch,
        PASSWORD + "\n",
    )
    assert code == 1 and "already exists" in err
    code, out, _ = cli(["list-users"], capsys, monkeypatch)
    assert len(out.strip().splitlines()) == 1


def test_unknown_command_is_a_usage_error(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli(["drop-everything"], capsys, monkeypatch)
    assert exc.value.code == 2


def test_recover_interrupted(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(["recover-interrupted"], capsys, monkeypatch)
    assert (code, out.strip()) == (0, "Marked 0 unfinished replies as interrupted.")

    async def seed() -> None:
        async with session_scope() as session:
            user = await users_repo.create(
                session, email="ann@example.com", display_name="Ann", password_hash="x"
            )
            conversation = Conversation(owner_id=user.id)
            session.add(conversation)
            await session.flush()
            session.add_all(
                [
                    Message(
                        conversation_id=conversation.id,
                        role="assistant",
                        content="half",
                        status=MessageStatus.STREAMING,
                    ),
                    Message(conversation_id=conversation.id, role="assistant", content="done"),
                ]
            )

    call(seed())
    code, out, _ = cli(["recover-interrupted"], capsys, monkeypatch)
    assert (code, out.strip()) == (0, "Marked 1 unfinished reply as interrupted.")

    async def statuses() -> dict[str, str]:
        from sqlalchemy import select

        async with session_scope() as session:
            rows = await session.execute(select(Message.content, Message.status))
            return {content: status for content, status in rows.all()}

    assert call(statuses()) == {"half": "interrupted", "done": "complete"}
    code, out, _ = cli(["recover-interrupted"], capsys, monkeypatch)
    assert out.strip() == "Marked 0 unfinished replies as interrupted."


def test_clear_throttle_from_another_process_unblocks_the_server(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The counters live in the database, so the admin's separate CLI process reaches the
    throttle that the running server (here: this process) consults."""
    call(auth.admin_create_user("ann@example.com", "Ann", PASSWORD))
    for address in ("203.0.113.5", "2001:db8::7"):
        for _ in range(5):
            with pytest.raises(Refused, match="Incorrect email or password"):
                call(auth.login("ann@example.com", "wrong password", client_address=address))
        with pytest.raises(Refused, match="Too many failed attempts"):
            call(auth.login("ann@example.com", PASSWORD, client_address=address))

    def clear(subject: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "chat_app", "clear-throttle", subject],
            cwd=PROJECT_ROOT,
            env={**os.environ, "DATABASE_URL": database_url},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    done = clear("203.0.113.5")
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    assert done.stdout.strip() == "Cleared 2 login throttle counters for 203.0.113.5."
    assert call(auth.login("ann@example.com", PASSWORD, client_address="203.0.113.5"))
    with pytest.raises(Refused, match="Too many failed attempts"):
        call(auth.login("ann@example.com", PASSWORD, client_address="2001:db8::7"))
    done = clear("ANN@example.com")
    assert done.returncode == 0 and done.stdout.startswith("Cleared ")
    assert call(auth.login("ann@example.com", PASSWORD, client_address="2001:db8::7"))

    code, out, err = cli(["clear-throttle", "nobody@example.com"], capsys, monkeypatch)
    assert (code, out.strip()) == (0, "Cleared 0 login throttle counters for nobody@example.com.")
    code, out, err = cli(["clear-throttle", "not-an-address"], capsys, monkeypatch)
    assert code == 1 and out == "" and "email address or an IP address" in err


def test_reset_password_revokes_personal_tokens_and_says_so(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = call(auth.admin_create_user("ann@example.com", "Ann", PASSWORD))
    token = call(api_tokens.create_token(user.id, "script")).plaintext
    code, out, err = cli(
        ["reset-password", "ann@example.com", "--password-stdin"],
        capsys,
        monkeypatch,
        "a brand new password\n",
    )
    assert (code, err) == (0, "")
    assert "personal API tokens revoked" in out
    assert call(api_tokens.authenticate(token)) is None


def test_check_emails_lists_rows_left_unnormalized(
    database_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = cli(["check-emails"], capsys, monkeypatch)
    assert (code, out.strip()) == (0, "Every stored email is normalized.")
    call(auth.admin_create_user("fiona@example.com", "Fiona", PASSWORD))

    async def old_row() -> None:
        # What migration 0004 leaves behind on a collision: an older spelling, stored as is.
        async with session_scope() as session:
            session.add(User(email="\ufb01ona@example.com", display_name="Twin", password_hash="x"))

    call(old_row())
    code, out, _ = cli(["check-emails"], capsys, monkeypatch)
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[0].startswith("1 account(s)")
    assert lines[1].startswith("\ufb01ona@example.com\tid ")
    assert "normalizes to fiona@example.com (the email of another account: fiona@" in lines[1]
    # The admin can act on exactly that row by its stored spelling, not on the other account.
    code, _, err = cli(["disable-user", "\ufb01ona@example.com"], capsys, monkeypatch)
    assert (code, err) == (0, "")
    assert call(auth.login("fiona@example.com", PASSWORD)).user.display_name == "Fiona"
