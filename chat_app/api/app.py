"""The FastAPI app that Reflex mounts in front of its own routes (everything under /api/)."""

from __future__ import annotations

from fastapi import FastAPI

from chat_app.api import auth_routes


def create_api() -> FastAPI:
    api = FastAPI(
        title="Chat API",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    api.include_router(auth_routes.router)
    return api
