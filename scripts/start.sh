#!/usr/bin/env bash
# Start the app in production mode: apply migrations, then serve frontend + backend on one port.
# The Docker image runs this script, and the browser tests start the app through it too.
#   HOST (default 0.0.0.0), PORT (default 3000); the app itself is configured by environment.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python
export REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=false
# The app decides which forwarded headers to believe (TRUSTED_PROXIES, core/client_address.py).
# gunicorn/uvicorn would otherwise trust X-Forwarded-For from 127.0.0.1 by default and hand the
# app a client-chosen address in place of the real peer.
export FORWARDED_ALLOW_IPS=""
[ -d .tools/node_modules/.bin ] && export PATH="$PWD/.tools/node_modules/.bin:$PATH"

"$PYTHON" -m alembic upgrade head
"$PYTHON" -m chat_app recover-interrupted
exec "$PYTHON" -m reflex run --env prod \
    --backend-host "${HOST:-0.0.0.0}" \
    --frontend-port "${PORT:-3000}" --backend-port "${PORT:-3000}" \
    ${REFLEX_RUN_ARGS:-}
