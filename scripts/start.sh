#!/usr/bin/env bash
# Start the app in production mode on one port: frontend, /_event websocket and the HTTP API.
# The Docker image runs this script, and the browser and cluster tests start the app through it.
#   HOST (default 0.0.0.0), PORT (default 3000); WORKERS (default 1) backend processes behind
#   that port (more than one needs REDIS_URL). The app itself is configured by environment.
# chat_app/launch does the rest: checks the configuration, migrates, recovers replies a dead
# process left (without REDIS_URL only), builds the frontend if stale, then execs uvicorn, so
# SIGTERM reaches the server directly (see README, "Several processes and hosts").
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-.venv/bin/python}"
[ -x "$PYTHON" ] || PYTHON=python
export REFLEX_TELEMETRY_ENABLED=false REFLEX_CHECK_LATEST_VERSION=false
[ -d .tools/node_modules/.bin ] && export PATH="$PWD/.tools/node_modules/.bin:$PATH"

exec "$PYTHON" -m chat_app.launch serve --host "${HOST:-0.0.0.0}" --port "${PORT:-3000}"
