"""The ASGI server command: uvicorn exec'd directly with the app's factory.

``reflex run --env prod`` stayed alive as a parent (121 MiB) above a gunicorn master (112 MiB,
``--preload`` imports the app) above one worker: Reflex's gunicorn path passes its worker count
as ``--threads``, so it never runs more than one process anyway. uvicorn alone is one process
for ``WORKERS=1``; with more, its supervisor (which does not import the app) spawns N workers
on one shared socket, restarts a worker that dies, and on SIGTERM passes the signal to every
worker and waits for each to exit, with no deadline of its own.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

# The app's ASGI factory: rx.App.__call__ builds the Starlette app (what Reflex's own prod
# server loads as "chat_app.chat_app:app()").
APP_FACTORY = "chat_app.chat_app:app"
# After SIGTERM uvicorn closes the listening socket and every websocket at once (close code
# 1012: the tabs reconnect, to another process when there is one), then gives open HTTP requests
# (an API client following a reply over SSE) this long before the app's lifespan shutdown,
# where running replies get SHUTDOWN_GRACE_SECONDS to finish.
OPEN_REQUESTS_GRACE_SECONDS = 5
# Stop margin on top of both, for the process to exit (docs: compose's stop_grace_period).
EXIT_MARGIN_SECONDS = 10

# Reflex 0.10.1's own switches for a backend process serving a prebuilt frontend: what
# `reflex run --env prod` sets for the server it starts (reflex/reflex.py, utils/exec.py).
REFLEX_SERVER_ENV = {
    "REFLEX_ENV_MODE": "prod",
    "__REFLEX_SKIP_COMPILE": "true",  # evaluate the pages, do not write or build a frontend
    "__REFLEX_MOUNT_FRONTEND_COMPILED_APP": "true",  # serve .web/build/client on the same port
}

WORKERS_NEED_REDIS = (
    "WORKERS={workers} needs REDIS_URL. Several processes must share what makes a reply live: "
    "without Redis, each process keeps its own replies, live text, stop requests and tab state, "
    "so a tab whose connection lands on another process would not see a reply being written, "
    "its Stop button would not reach it, and its tab state would be lost. Set REDIS_URL "
    "(e.g. redis://127.0.0.1:6379/0), or use WORKERS=1."
)


def workers_problem(workers: int, *, uses_redis: bool) -> str | None:
    """Why this worker count cannot run, or None."""
    if workers > 1 and not uses_redis:
        return WORKERS_NEED_REDIS.format(workers=workers)
    return None


def stop_timeout_seconds(shutdown_grace_seconds: float) -> float:
    """How long a supervisor (Docker, systemd) must wait after SIGTERM before it kills."""
    return OPEN_REQUESTS_GRACE_SECONDS + shutdown_grace_seconds + EXIT_MARGIN_SECONDS


def uvicorn_command(
    python: str, *, host: str, port: int, workers: int, trusted_proxies: str
) -> list[str]:
    command = [
        python,
        *("-m", "uvicorn", "--factory", APP_FACTORY),
        *("--host", host, "--port", str(port), "--workers", str(workers)),
        # The same protocol stack as Reflex's gunicorn worker (UvicornH11Worker; wsproto for
        # websockets, which negotiates permessage-deflate), without gunicorn's access log.
        *("--http", "h11", "--lifespan", "on", "--no-access-log"),
        *("--timeout-graceful-shutdown", str(OPEN_REQUESTS_GRACE_SECONDS)),
    ]
    proxies = ",".join(p.strip() for p in trusted_proxies.split(",") if p.strip())
    # X-Forwarded-Proto/-For are believed from TRUSTED_PROXIES only (core/client_address.py
    # reads X-Forwarded-For itself). uvicorn's default trusts 127.0.0.1, which would let a
    # local client choose the scheme of the app's own redirects.
    if proxies:
        command += ["--forwarded-allow-ips", proxies]
    else:
        command += ["--no-proxy-headers"]
    return command


def server_environment(workers: int) -> dict[str, str]:
    env = dict(REFLEX_SERVER_ENV)
    if workers > 1:
        # prometheus-client's multiprocess mode: one directory of per-process files, which
        # must start empty each time the processes start.
        env["PROMETHEUS_MULTIPROC_DIR"] = str(Path(tempfile.mkdtemp(prefix="chat-app-metrics-")))
    return env
