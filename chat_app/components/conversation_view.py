"""The open conversation: top bar (model, system prompt), messages, and the states around them
(loading, not found, a new empty chat)."""

from __future__ import annotations

import reflex as rx

from chat_app.components.message import CONTENT_MAX_WIDTH, message_row, streaming_reply
from chat_app.components.sidebar import drawer_button
from chat_app.components.user_menu import user_menu
from chat_app.components.visit_store import visit_gap, visit_messages
from chat_app.state.conversation import ConversationState, MessageView, ModelOption


def _model_item(option: ModelOption) -> rx.Component:
    return rx.select.item(
        rx.hstack(
            rx.text(option.label),
            rx.cond(option.is_demo, rx.badge("Offline demo", color_scheme="amber", size="1")),
            align="center",
            spacing="2",
        ),
        value=option.id,
    )


def model_picker() -> rx.Component:
    return rx.select.root(
        rx.select.trigger(
            variant="ghost",
            aria_label="Model",
            max_width="min(16rem, 48vw)",
            data_testid="model-picker",
        ),
        rx.select.content(rx.foreach(ConversationState.model_options, _model_item)),
        value=ConversationState.model,
        on_change=ConversationState.choose_model,
    )


def top_bar() -> rx.Component:
    return rx.hstack(
        drawer_button(),
        rx.cond(~ConversationState.not_found, conversation_settings()),
        rx.spacer(),
        user_menu(),
        align="center",
        spacing="2",
        padding_x="0.75em",
        height="3.5em",
        min_height="3.5em",
        width="100%",
        border_bottom="1px solid var(--gray-a4)",
    )


def conversation_settings() -> rx.Component:
    return rx.hstack(
        model_picker(),
        rx.tooltip(
            rx.icon_button(
                rx.icon("settings-2", size=18),
                variant=rx.cond(ConversationState.system_prompt != "", "soft", "ghost"),
                color_scheme="gray",
                on_click=ConversationState.set_prompt_dialog_open(True),  # type: ignore[operator]
                aria_label="System prompt",
                data_testid="system-prompt",
            ),
            content="System prompt",
        ),
        rx.cond(ConversationState.cid != "", export_menu()),
        align="center",
        spacing="2",
    )


def export_menu() -> rx.Component:
    """Download this conversation (plain links: the API accepts the session cookie for reads)."""

    def item(label: str, fmt: str) -> rx.Component:
        return rx.menu.item(
            rx.el.a(
                label,
                href=f"/api/v1/conversations/{ConversationState.cid}/export?format={fmt}",
                download=True,
                style={"color": "inherit", "textDecoration": "none", "width": "100%"},
            )
        )

    return rx.menu.root(
        rx.menu.trigger(
            rx.icon_button(
                rx.icon("download", size=18),
                variant="ghost",
                color_scheme="gray",
                aria_label="Export conversation",
                data_testid="export-conversation",
            )
        ),
        rx.menu.content(item("Export as JSON", "json"), item("Export as Markdown", "markdown")),
    )


def _centered(*children: rx.Component, **props) -> rx.Component:
    return rx.center(
        rx.vstack(*children, align="center", spacing="3", text_align="center"),
        flex="1",
        min_height="50vh",
        padding="2em",
        **props,
    )


def not_found() -> rx.Component:
    return _centered(
        rx.icon("search-x", size=40, color="var(--gray-9)"),
        rx.heading("Conversation not found", size="5"),
        rx.text(
            "It may have been deleted, or the link is wrong.",
            color_scheme="gray",
        ),
        rx.link(rx.button("Start a new chat", variant="soft"), href="/"),
        data_testid="conversation-not-found",
    )


def welcome() -> rx.Component:
    return _centered(
        rx.icon("sparkles", size=36, color="var(--accent-9)"),
        rx.heading("How can I help?", size="6"),
        rx.text("Ask anything. Your chats are saved to your account.", color_scheme="gray"),
        data_testid="welcome",
    )


def _messages() -> rx.Component:
    return rx.vstack(
        rx.cond(
            ConversationState.has_earlier,
            rx.button(
                "Show earlier messages",
                variant="soft",
                color_scheme="gray",
                size="1",
                on_click=ConversationState.show_earlier,
                align_self="center",
            ),
        ),
        # Loaded once per opening; only the `shown` window is rendered (see ConversationState).
        rx.foreach(ConversationState.history[: ConversationState.shown], message_row),
        # This visit's messages: appended in the browser one by one (components/visit_store.py).
        visit_gap(ConversationState.visit_key, on_gap=ConversationState.resync_visit),
        rx.foreach(visit_messages(ConversationState.visit_key, MessageView), message_row),
        streaming_reply(),
        spacing="5",
        width="100%",
        data_testid="messages",
    )


def _body() -> rx.Component:
    return rx.cond(
        ConversationState.not_found,
        not_found(),
        rx.cond(
            ConversationState.loading,
            rx.center(rx.spinner(size="3"), flex="1", min_height="40vh"),
            rx.cond(
                (ConversationState.cid == "") & (ConversationState.recent_count == 0),
                welcome(),
                _messages(),
            ),
        ),
    )


def conversation_view() -> rx.Component:
    # column-reverse keeps the view pinned to the newest text while a reply grows, without
    # any scrolling script; the inner box's auto margin keeps short chats at the top.
    return rx.box(
        rx.box(
            rx.cond(
                ConversationState.error != "",
                rx.callout(
                    ConversationState.error,
                    icon="triangle-alert",
                    color_scheme="red",
                    size="1",
                    margin_bottom="1em",
                ),
            ),
            _body(),
            width="100%",
            max_width=CONTENT_MAX_WIDTH,
            margin_x="auto",
            margin_bottom="auto",
            padding_x="1em",
            padding_y="1.5em",
        ),
        display="flex",
        flex_direction="column-reverse",
        overflow_y="auto",
        flex="1",
        min_height="0",
        width="100%",
        data_testid="conversation",
    )
