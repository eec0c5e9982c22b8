"""/ (a new chat) and /c/[conversation_id] — the chat shell. Private: nothing renders until the
session is confirmed, so a logged-out visitor never sees a flash of someone's content."""

from __future__ import annotations

import reflex as rx

from chat_app.components.composer import composer
from chat_app.components.conversation_view import conversation_view, top_bar
from chat_app.components.dialogs import delete_dialog, rename_dialog, system_prompt_dialog
from chat_app.components.sidebar import drawer_backdrop, sidebar
from chat_app.state.auth import AuthState
from chat_app.state.conversation import ConversationState
from chat_app.state.sidebar import SidebarState
from chat_app.state.stream import StreamState

# The page guard first: the handlers after it do nothing for a visitor it turns away.
NEW_CHAT_ON_LOAD = [
    AuthState.guard_private_page,
    SidebarState.load,
    ConversationState.open_new,
    StreamState.resume,
]
CONVERSATION_ON_LOAD = [
    AuthState.guard_private_page,
    SidebarState.load,
    ConversationState.open_from_route,
    StreamState.resume,
]

# The user menu's name would crowd the top bar on a phone; its icon stays.
PHONE_STYLE = {"@media (max-width: 30em)": {"& .user-name": {"display": "none"}}}


def loading_screen() -> rx.Component:
    return rx.center(rx.spinner(size="3"), height="100vh", data_testid="auth-pending")


def chat_shell() -> rx.Component:
    return rx.hstack(
        sidebar(),
        drawer_backdrop(),
        rx.vstack(
            top_bar(),
            conversation_view(),
            rx.cond(~ConversationState.not_found, composer()),
            spacing="0",
            flex="1",
            min_width="0",
            height="100dvh",
        ),
        rename_dialog(),
        delete_dialog(),
        system_prompt_dialog(),
        spacing="0",
        width="100%",
        height="100dvh",
        overflow="hidden",
        style=PHONE_STYLE,
        data_testid="chat-shell",
    )


def chat_page() -> rx.Component:
    return rx.cond(AuthState.authenticated, chat_shell(), loading_screen())
