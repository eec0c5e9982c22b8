#!/usr/bin/env bash
# Start the app in production mode: apply migrations, then serve frontend + backend on one port.
# The Docker image runs this script, and the browser tests start the app through it too.
#   HOST (default 0.0.0.0), PORT (default 3000); the app itself is configured by environment.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python
export REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=false
# Forwarded headers are believed only from TRUSTED_PROXIES (core/client_address.py). The server
# gets the same list: by default gunicorn/uvicorn trust X-Forwarded-For from 127.0.0.1 and would
# hand the app a client-chosen address in place of the real peer; with the proxy named, its
# X-Forwarded-Proto keeps the server's own redirects (e.g. /login -> /login/) on https.
TRUSTED_PROXIES="${TRUSTED_PROXIES:-}"
export FORWARDED_ALLOW_IPS="${TRUSTED_PROXIES// /}"
[ -d .tools/node_modules/.bin ] && export PATH="$PWD/.tools/node_modules/.bin:$PATH"

"$PYTHON" -m alembic upgrade head
"$PYTHON" -m chat_app recover-interrupted
exec "$PYTHON" -m reflex run --env prod \
    --backend-host "${HOST:-0.0.0.0}" \
    --frontend-port "${PORT:-3000}" --backend-port "${PORT:-3000}" \
    ${REFLEX_RUN_ARGS:-}
