"""``python -m chat_app.launch serve|build --host H --port P`` (run by scripts/start.sh).

``serve``: check the configuration, migrate, recover replies a dead process left (only when
this is the only process: see below), build the frontend if the current build is stale, then
exec the server, so that it receives the container's signals directly. ``build``: only the
frontend (the Docker image does this at build time).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from chat_app.core.settings import PROJECT_ROOT, OriginSettings, Settings
from chat_app.launch import frontend, server

CONFIG_ERROR = 2


def _web_dir() -> str:
    # Reflex's own setting (REFLEX_WEB_WORKDIR, default .web), read the way Reflex reads it.
    from reflex_base.environment import environment

    return str(environment.REFLEX_WEB_WORKDIR.get())


def build(port: int) -> None:
    backend_url = frontend.baked_backend_url(OriginSettings().app_url, port)
    web_dir = PROJECT_ROOT / _web_dir()
    if frontend.ensure_built(PROJECT_ROOT, web_dir, backend_url):
        print(f"launch: built the frontend for {backend_url} in {web_dir}", flush=True)
    else:
        print(f"launch: the frontend in {web_dir} is current for {backend_url}", flush=True)


def serve(host: str, port: int) -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        print("error: the configuration is not valid:", file=sys.stderr)
        for error in exc.errors():
            print(f"  {error['msg']}", file=sys.stderr)
        return CONFIG_ERROR
    problem = server.workers_problem(settings.workers, uses_redis=settings.uses_redis)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return CONFIG_ERROR

    python = sys.executable
    try:
        _run([python, "-m", "alembic", "upgrade", "head"])
        # Without Redis this process is the only one: a reply still "streaming" in the database
        # was left by a process that is gone. With Redis, other processes or hosts may be
        # writing those replies right now; the reply bus's sweeper marks the dead ones (by
        # their expired lease), so the start must not.
        if not settings.uses_redis:
            _run([python, "-m", "chat_app", "recover-interrupted"])
        build(port)
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(exc.cmd[1:])} failed (exit {exc.returncode})", file=sys.stderr)
        return exc.returncode or 1

    command = server.uvicorn_command(
        python,
        host=host,
        port=port,
        workers=settings.workers,
        trusted_proxies=settings.trusted_proxies,
    )
    env = {**os.environ, **server.server_environment(settings.workers)}
    print(f"launch: {' '.join(command[1:])} (workers: {settings.workers})", flush=True)
    os.chdir(PROJECT_ROOT)
    os.execve(python, command, env)  # noqa: S606 - our own interpreter, fixed arguments


def _run(command: list[str]) -> None:
    subprocess.run(command, cwd=PROJECT_ROOT, check=True)  # noqa: S603 - fixed commands


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chat_app.launch", description=__doc__)
    parser.add_argument("command", choices=["serve", "build"])
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a server's default
    parser.add_argument("--port", type=int, default=3000)
    args = parser.parse_args(argv)
    if args.command == "build":
        build(args.port)
        return 0
    return serve(args.host, args.port)


if __name__ == "__main__":
    raise SystemExit(main())
