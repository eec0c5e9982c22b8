"""One message: the user's as a plain-text bubble, the assistant's as inert markdown with its
status, usage line and actions; plus the reply being written."""

from __future__ import annotations

from typing import Any, cast

import reflex as rx
from reflex_components_core.el.elements.forms import FORM_DATA

from chat_app.components.live_markdown import live_markdown
from chat_app.components.markdown import safe_markdown
from chat_app.state.composer import ComposerState
from chat_app.state.conversation import ConversationState, MessageView
from chat_app.state.stream import StreamState

CONTENT_MAX_WIDTH = "48rem"

# A borderless textarea inside a bordered box (the box shows focus); grows up to a limit.
TEXTAREA_STYLE = {
    "width": "100%",
    "min_height": "2.2em",
    "max_height": "12em",
    "padding_y": "0.4em",
    "border": "none",
    "outline": "none",
    "resize": "none",
    "background": "transparent",
    "color": "var(--gray-12)",
    "font_family": "inherit",
    "font_size": "var(--font-size-3)",
    "line_height": "1.5",
}

STATUS_LABELS = {
    "stopped": ("Stopped", "amber"),
    "interrupted": ("Interrupted", "orange"),
    "error": ("Error", "red"),
}


def render_markdown(text: rx.Var[str] | str) -> rx.Component:
    """The single place model text becomes markup (inert: no raw HTML, safe links, no images)."""
    return safe_markdown(text, class_name="chat-markdown", width="100%")


def streaming_here() -> rx.Var[bool]:
    """A reply is being written in the conversation on screen (not one left behind)."""
    here = (
        StreamState.active
        & (StreamState.stream_cid == ConversationState.cid)
        & ~ConversationState.loading
    )
    return cast("rx.Var[bool]", here)  # state attributes are Vars at class level


def _icon_action(icon: str, label: str, on_click, test_id: str, **props) -> rx.Component:
    return rx.tooltip(
        rx.icon_button(
            rx.icon(icon, size=15),
            variant="ghost",
            color_scheme="gray",
            size="1",
            on_click=on_click,
            aria_label=label,
            data_testid=test_id,
            **props,
        ),
        content=label,
    )


def _copy_button(text: rx.Var[str] | str) -> rx.Component:
    return _icon_action(
        "copy",
        "Copy",
        [rx.set_clipboard(text), rx.toast("Copied to clipboard", duration=1500)],
        "copy",
    )


# ---- user messages ---------------------------------------------------------------------------


def checked_submit(send: Any, too_long: Any) -> rx.Var:
    """A message form's submit, checked in the page: over the limit, only the count is sent.

    Counted in code points (``Array.from``), as the server counts (a JS string's ``length``
    counts an emoji twice). A text far over the limit would otherwise be one websocket frame
    larger than the server accepts: the socket would close and the text be lost unexplained.
    """
    length = rx.Var(f'Array.from(String({FORM_DATA}?.["message"] ?? "")).length').to(int)
    return rx.cond(length > ComposerState.message_limit, too_long(length), send(FORM_DATA))


def _edit_form(message: MessageView) -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.el.textarea(
                name="message",
                default_value=message.content,
                enter_key_submit=True,
                auto_height=True,
                aria_label="Edit your message",
                **TEXTAREA_STYLE,
                data_testid="edit-input",
            ),
            rx.cond(
                ComposerState.edit_error != "",
                rx.text(ComposerState.edit_error, color_scheme="red", size="1", role="alert"),
            ),
            rx.hstack(
                rx.button(
                    "Cancel",
                    type="button",
                    variant="soft",
                    color_scheme="gray",
                    size="1",
                    on_click=ComposerState.cancel_edit,
                ),
                rx.button("Save & submit", type="submit", size="1", data_testid="edit-save"),
                justify="end",
                width="100%",
            ),
            spacing="2",
            width="100%",
        ),
        on_submit=checked_submit(ComposerState.save_edit, ComposerState.edit_too_long),
        reset_on_submit=False,
        width="100%",
        padding="0.75em",
        border_radius="var(--radius-4)",
        border="1px solid var(--gray-a6)",
        background="var(--color-panel-solid)",
    )


def user_message(message: MessageView) -> rx.Component:
    is_last = message.id == ConversationState.last_user_id
    return rx.cond(
        ComposerState.editing_id == message.id,
        rx.box(_edit_form(message), width="100%"),
        rx.vstack(
            rx.box(
                rx.text(message.content, size="3", white_space="pre-wrap", as_="div"),
                background="var(--accent-a3)",
                padding_x="1em",
                padding_y="0.6em",
                border_radius="var(--radius-5)",
                max_width="min(85%, 40rem)",
                overflow_wrap="anywhere",
            ),
            rx.hstack(
                _copy_button(message.content),
                rx.cond(
                    is_last & ~streaming_here(),
                    _icon_action(
                        "pencil",
                        "Edit",
                        ComposerState.start_edit(message.id),  # type: ignore[operator]
                        "edit",
                    ),
                ),
                spacing="3",
                class_name="message-actions",
            ),
            align="end",
            spacing="1",
            width="100%",
            data_testid="message-user",
        ),
    )


# ---- assistant messages ----------------------------------------------------------------------


def _avatar() -> rx.Component:
    return rx.center(
        rx.icon("sparkles", size=16),
        width="28px",
        height="28px",
        min_width="28px",
        border_radius="50%",
        background="var(--accent-a3)",
        color="var(--accent-11)",
        margin_top="2px",
        # A phone needs the width for the text more than the avatar.
        display=rx.breakpoints(initial="none", sm="flex"),
    )


def _status(message: MessageView) -> rx.Component:
    badge = rx.match(
        message.status,
        *[
            (status, rx.badge(label, color_scheme=color, variant="soft"))
            for status, (label, color) in STATUS_LABELS.items()
        ],
        rx.fragment(),
    )
    return rx.cond(
        message.status != "complete",
        rx.hstack(
            rx.box(badge, data_testid="status-badge", data_status=message.status),
            rx.cond(
                message.error != "",
                rx.text(message.error, size="2", color_scheme="gray", data_testid="message-error"),
            ),
            rx.cond(
                (message.id == ConversationState.last_assistant_id) & ~streaming_here(),
                rx.button(
                    rx.icon("rotate-ccw", size=14),
                    "Retry",
                    size="1",
                    variant="soft",
                    on_click=ComposerState.regenerate,
                    data_testid="retry",
                ),
            ),
            align="center",
            spacing="2",
            wrap="wrap",
        ),
    )


def assistant_message(message: MessageView) -> rx.Component:
    is_last = message.id == ConversationState.last_assistant_id
    return rx.hstack(
        _avatar(),
        rx.vstack(
            render_markdown(message.content),
            _status(message),
            rx.hstack(
                _copy_button(message.content),
                rx.cond(
                    is_last & ~streaming_here(),
                    _icon_action(
                        "refresh-cw", "Regenerate", ComposerState.regenerate, "regenerate"
                    ),
                ),
                rx.cond(
                    message.meta != "",
                    rx.text(
                        message.meta, size="1", color_scheme="gray", data_testid="message-meta"
                    ),
                ),
                align="center",
                spacing="3",
                wrap="wrap",
                class_name="message-actions",
            ),
            spacing="2",
            width="100%",
            min_width="0",
        ),
        align="start",
        spacing="3",
        width="100%",
        data_testid="message-assistant",
    )


def message_row(message: MessageView) -> rx.Component:
    return rx.box(
        rx.cond(message.role == "user", user_message(message), assistant_message(message)),
        width="100%",
        key=message.id,
    )


def typing_indicator() -> rx.Component:
    return rx.hstack(
        rx.spinner(size="2"),
        rx.text("Thinking…", size="2", color_scheme="gray"),
        align="center",
        spacing="2",
        height="28px",
        data_testid="typing-indicator",
    )


def streaming_reply() -> rx.Component:
    """The reply being written: its text lives in the browser's live store (only new text
    crosses the socket), rendered with the same inert markdown as the history."""
    return rx.cond(
        streaming_here(),
        rx.hstack(
            _avatar(),
            rx.box(
                rx.cond(~StreamState.has_text, typing_indicator()),
                live_markdown(StreamState.reply_id, on_gap=StreamState.resync_live),
                width="100%",
                min_width="0",
            ),
            align="start",
            spacing="3",
            width="100%",
            data_testid="streaming-reply",
        ),
    )
