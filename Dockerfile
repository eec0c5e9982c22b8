# Single container: the compiled frontend and the Python backend on one port (3000).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    REFLEX_TELEMETRY_ENABLED=false \
    REFLEX_CHECK_LATEST_VERSION=false \
    APP_ENV=production \
    DATA_DIR=/data \
    PATH=/app/.tools/node_modules/.bin:$PATH

# Node/npm only to fetch bun from the npm registry; unzip is what Reflex's build needs.
RUN apt-get update \
    && apt-get install -y --no-install-recommends nodejs npm unzip \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app app \
    && mkdir -p /app /data && chown app:app /app /data
WORKDIR /app

COPY --chown=app:app requirements.txt ./
RUN python -m venv /app/.venv && /app/.venv/bin/pip install -r requirements.txt
RUN npm install --prefix /app/.tools --no-audit --no-fund bun@1.4.4 && chown -R app:app /app/.tools

COPY --chown=app:app . .
USER 10001:10001

# Build the frontend at image build time, so the container starts without building anything.
# It is built for the port browsers reach: APP_URL's when that is plain http (compose.yaml
# passes it), else 3000; the start reuses it while APP_URL agrees (chat_app/launch/frontend.py).
# Development mode for the build only: it does not touch the database or sign anything.
ARG APP_URL=""
RUN APP_ENV=development DATA_DIR=/tmp/build-data APP_URL="$APP_URL" \
    /app/.venv/bin/python -m chat_app.launch build --port 3000 \
    && rm -rf /tmp/build-data

VOLUME ["/data"]
EXPOSE 3000
# Migrations run at start, then uvicorn is exec'd (PID 1 receives SIGTERM and drains running
# replies for SHUTDOWN_GRACE_SECONDS): stop it with `docker stop -t 40` (compose.yaml sets
# stop_grace_period). WORKERS=N runs N processes behind port 3000 (needs REDIS_URL).
CMD ["./scripts/start.sh"]
