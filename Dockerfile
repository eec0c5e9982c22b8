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

# Build the frontend at image build time, so the container starts without fetching anything.
# A throwaway secret: the build does not touch the database or sign anything.
RUN APP_ENV=development DATA_DIR=/tmp/build-data /app/.venv/bin/reflex export --frontend-only --no-zip \
    && rm -rf /tmp/build-data

VOLUME ["/data"]
EXPOSE 3000
# Migrations run at start, then the server is exec'd (PID 1 receives signals).
CMD ["./scripts/start.sh"]
