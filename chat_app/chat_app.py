"""Entry point: builds the Reflex app, registers pages, mounts the HTTP API."""

from __future__ import annotations

import reflex as rx

from chat_app.api.app import create_api
from chat_app.api.security_headers import security_headers
from chat_app.api.trusted_origin import trusted_origin_guard
from chat_app.core.settings import get_settings
from chat_app.pages.chat import CONVERSATION_ON_LOAD, NEW_CHAT_ON_LOAD, chat_page
from chat_app.pages.login import login_page
from chat_app.pages.register import register_page
from chat_app.pages.settings import ON_LOAD as SETTINGS_ON_LOAD
from chat_app.pages.settings import settings_page
from chat_app.services.replies import serving_replies
from chat_app.state.auth import AuthState
from chat_app.state.event_payloads import StorablePayloads, websocket_frame_limit
from chat_app.state.tab_session import TabSessionBinding

app = rx.App(
    # Applied in order, each wrapping the previous: the Origin guard sees every request and
    # websocket handshake first (Reflex's own CORS layer still sits outside it).
    api_transformer=[create_api(), security_headers, trusted_origin_guard],
)
# First of all middleware: no event may see (or send) state filled under another session.
tab_sessions = TabSessionBinding()
app.add_middleware(tab_sessions, index=0)
app.register_lifespan_task(tab_sessions.watch)
app.register_lifespan_task(serving_replies)
app.add_middleware(StorablePayloads())
if app.sio is not None:  # created by rx.App; engine.io reads the limit at every frame
    app.sio.eio.max_http_buffer_size = websocket_frame_limit(
        get_settings().max_message_chars, app.sio.eio.max_http_buffer_size
    )
app.add_page(login_page, route="/login", title="Log in · Chat", on_load=AuthState.open_login_page)
app.add_page(
    register_page,
    route="/register",
    title="Create account · Chat",
    on_load=AuthState.open_register_page,
)
app.add_page(chat_page, route="/", title="Chat", on_load=NEW_CHAT_ON_LOAD)
app.add_page(chat_page, route="/c/[conversation_id]", title="Chat", on_load=CONVERSATION_ON_LOAD)
app.add_page(settings_page, route="/settings", title="Settings · Chat", on_load=SETTINGS_ON_LOAD)
