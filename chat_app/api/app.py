"""The FastAPI app that Reflex mounts in front of its own routes (everything under /api/)."""

from __future__ import annotations

from fastapi import FastAPI

from chat_app.api import auth_routes, routes_account, routes_chat, routes_ops, routes_transfer
from chat_app.api.docs import install_docs
from chat_app.api.errors import install_error_handlers


def create_api() -> FastAPI:
    api = FastAPI(
        title="Chat API",
        version="1",
        description="Accounts, conversations and streamed replies (SSE); same rules as the UI.",
        # FastAPI's own docs page loads Swagger UI from a CDN: install_docs serves it locally.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    install_error_handlers(api)
    install_docs(api)
    api.include_router(auth_routes.router)
    api.include_router(routes_account.router)
    api.include_router(routes_chat.router)
    api.include_router(routes_transfer.router)
    api.include_router(routes_ops.router)
    return api
