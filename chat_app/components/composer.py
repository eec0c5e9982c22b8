"""The message box: Enter sends, Shift+Enter adds a line, Stop while a reply is written."""

from __future__ import annotations

import reflex as rx

from chat_app.components.message import (
    CONTENT_MAX_WIDTH,
    TEXTAREA_STYLE,
    checked_submit,
    streaming_here,
)
from chat_app.state.composer import BUSY, COMPOSER_FORM_ID, COMPOSER_INPUT_ID, ComposerState
from chat_app.state.stream import StreamState

HINT = "Enter to send · Shift+Enter for a new line"


def _send_or_stop() -> rx.Component:
    return rx.cond(
        streaming_here(),
        rx.tooltip(
            rx.icon_button(
                rx.cond(StreamState.stopping, rx.spinner(size="2"), rx.icon("square", size=14)),
                type="button",
                radius="full",
                size="2",
                color_scheme="gray",
                variant="solid",
                on_click=StreamState.stop,
                disabled=StreamState.stopping,
                aria_label="Stop",
                data_testid="stop",
            ),
            content="Stop the reply",
        ),
        rx.icon_button(
            rx.icon("arrow-up", size=18),
            type="submit",
            radius="full",
            size="2",
            aria_label="Send",
            data_testid="send",
        ),
    )


def _hint() -> rx.Component:
    return rx.cond(
        streaming_here(),
        rx.cond(
            ComposerState.busy_refused,
            rx.text(BUSY, color_scheme="red", size="1", role="alert", data_testid="composer-error"),
            rx.text(BUSY, color_scheme="gray", size="1", data_testid="composer-busy"),
        ),
        rx.cond(
            ComposerState.error != "",
            rx.text(
                ComposerState.error,
                color_scheme="red",
                size="1",
                role="alert",
                data_testid="composer-error",
            ),
            rx.text(HINT, color_scheme="gray", size="1"),
        ),
    )


def composer() -> rx.Component:
    return rx.box(
        rx.form(
            rx.hstack(
                rx.el.textarea(
                    id=COMPOSER_INPUT_ID,
                    name="message",
                    placeholder="Message",
                    rows=1,
                    # Reflex's own key handler: Enter submits the form, Shift+Enter is a newline.
                    enter_key_submit=True,
                    auto_height=True,
                    aria_label="Message",
                    data_testid="composer-input",
                    **TEXTAREA_STYLE,
                ),
                _send_or_stop(),
                align="end",
                spacing="2",
                width="100%",
                padding="0.5em",
                padding_left="1em",
                border="1px solid var(--gray-a6)",
                border_radius="var(--radius-6)",
                background="var(--color-panel-solid)",
                box_shadow="var(--shadow-2)",
                _focus_within={"border_color": "var(--accent-8)"},
            ),
            rx.box(_hint(), padding_x="1em", padding_top="0.35em", min_height="1.6em"),
            id=COMPOSER_FORM_ID,
            on_submit=checked_submit(ComposerState.send, ComposerState.too_long),
            # Kept on submit: a refused message (too long) stays for the user to fix; a sent
            # one is cleared by the handler.
            reset_on_submit=False,
            width="100%",
        ),
        width="100%",
        max_width=CONTENT_MAX_WIDTH,
        margin_x="auto",
        padding_x="1em",
        padding_bottom="0.75em",
    )
