"""Admin command line: ``python -m chat_app <command>`` (useful when registration is closed)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable, Sequence

from chat_app.core.db import dispose_engine
from chat_app.services import auth as auth_service
from chat_app.services.errors import ServiceError
from chat_app.services.maintenance import recover_interrupted_replies


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat password: ") != first:
        raise ServiceError("Passwords do not match.")
    return first


async def _create_user(args: argparse.Namespace) -> str:
    user = await auth_service.admin_create_user(
        args.email, args.name, _read_password(args), is_admin=args.admin
    )
    return f"Created {user.email}{' (admin)' if user.is_admin else ''}."


async def _reset_password(args: argparse.Namespace) -> str:
    await auth_service.admin_reset_password(args.email, _read_password(args))
    return (
        f"Password reset for {args.email}; their existing sessions were ended and their "
        "personal API tokens revoked."
    )


async def _disable_user(args: argparse.Namespace) -> str:
    await auth_service.admin_set_active(args.email, False)
    return f"Disabled {args.email}; their sessions were ended."


async def _enable_user(args: argparse.Namespace) -> str:
    await auth_service.admin_set_active(args.email, True)
    return f"Enabled {args.email}."


async def _list_users(_args: argparse.Namespace) -> str:
    users = await auth_service.admin_list_users()
    rows = [
        f"{u.email}\t{u.display_name}\t{'admin' if u.is_admin else 'user'}\t"
        f"{'active' if u.is_active else 'disabled'}\t{u.created_at:%Y-%m-%d}"
        for u in users
    ]
    return "\n".join(rows) if rows else "No users."


async def _clear_throttle(args: argparse.Namespace) -> str:
    cleared = await auth_service.admin_clear_throttle(args.subject)
    plural = "" if cleared == 1 else "s"
    return f"Cleared {cleared} login throttle counter{plural} for {args.subject}."


async def _check_emails(_args: argparse.Namespace) -> str:
    problems = await auth_service.admin_check_emails()
    if not problems:
        return "Every stored email is normalized."
    rows = [
        f"{p.email}\tid {p.user_id}\tnormalizes to {p.normalized}"
        + (f" (the email of another account: {p.taken_by})" if p.taken_by else "")
        for p in problems
    ]
    heading = f"{len(problems)} account(s) with an unnormalized email (login cannot reach them):"
    return "\n".join([heading, *rows])


async def _recover(_args: argparse.Namespace) -> str:
    count = await recover_interrupted_replies()
    return f"Marked {count} unfinished repl{'y' if count == 1 else 'ies'} as interrupted."


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m chat_app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    def with_password(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--password-stdin", action="store_true", help="read the password from standard input"
        )

    create = commands.add_parser("create-user", help="create an account")
    create.add_argument("email")
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--admin", action="store_true")
    with_password(create)
    create.set_defaults(run=_create_user)

    reset = commands.add_parser("reset-password", help="set a new password, ending all sessions")
    reset.add_argument("email")
    with_password(reset)
    reset.set_defaults(run=_reset_password)

    for name, run, text in (
        ("disable-user", _disable_user, "block logins and end all sessions"),
        ("enable-user", _enable_user, "allow a disabled user to log in again"),
    ):
        p = commands.add_parser(name, help=text)
        p.add_argument("email")
        p.set_defaults(run=run)

    commands.add_parser("list-users", help="list accounts").set_defaults(run=_list_users)
    clear = commands.add_parser(
        "clear-throttle", help="forget the failed logins of an account or a client address"
    )
    clear.add_argument("subject", help="an email address or an IP address")
    clear.set_defaults(run=_clear_throttle)
    commands.add_parser(
        "check-emails", help="list accounts whose email could not be normalized (collisions)"
    ).set_defaults(run=_check_emails)
    commands.add_parser(
        "recover-interrupted", help="mark replies left streaming by a dead process"
    ).set_defaults(run=_recover)
    return parser


async def _run(
    runner: Callable[[argparse.Namespace], Awaitable[str]], args: argparse.Namespace
) -> str:
    try:
        return await runner(args)
    finally:
        await dispose_engine()


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        print(asyncio.run(_run(args.run, args)))
    except ServiceError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
