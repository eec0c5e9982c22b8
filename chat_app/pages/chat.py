"""/ — the chat shell (header, sidebar, conversation). Private: nothing renders until the
session is confirmed, so a logged-out visitor never sees a flash of someone's content."""

from __future__ import annotations

import reflex as rx

from chat_app.components.user_menu import user_menu
from chat_app.state.auth import AuthState


def header() -> rx.Component:
    return rx.hstack(
        rx.hstack(
            rx.icon("message-square-text", size=22), rx.heading("Chat", size="4"), align="center"
        ),
        rx.spacer(),
        user_menu(),
        align="center",
        padding_x="1em",
        height="3.5em",
        border_bottom="1px solid var(--gray-a5)",
        width="100%",
    )


def loading_screen() -> rx.Component:
    return rx.center(rx.spinner(size="3"), height="100vh", data_testid="auth-pending")


def chat_shell() -> rx.Component:
    return rx.vstack(
        header(),
        rx.center(
            rx.vstack(
                rx.heading("Start a conversation", size="6"),
                rx.text("Your chats will appear here.", color_scheme="gray"),
                align="center",
            ),
            flex="1",
            width="100%",
        ),
        height="100vh",
        spacing="0",
        data_testid="chat-shell",
    )


def chat_page() -> rx.Component:
    return rx.cond(AuthState.authenticated, chat_shell(), loading_screen())
