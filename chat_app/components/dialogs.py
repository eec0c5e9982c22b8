"""Rename, delete (confirmation) and system prompt dialogs, each driven by its state's flags."""

from __future__ import annotations

from typing import Any

import reflex as rx

from chat_app.models.conversation import SYSTEM_PROMPT_MAX, TITLE_MAX
from chat_app.state.conversation import ConversationState
from chat_app.state.sidebar import SidebarState


def _actions(submit_label: str, test_id: str, *, color_scheme: str = "accent") -> rx.Component:
    return rx.hstack(
        rx.dialog.close(
            rx.button("Cancel", type="button", variant="soft", color_scheme="gray"),
        ),
        rx.button(
            submit_label,
            type="submit",
            data_testid=test_id,
            **({} if color_scheme == "accent" else {"color_scheme": color_scheme}),
        ),
        justify="end",
        spacing="3",
        width="100%",
    )


def rename_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Rename chat"),
            rx.form(
                rx.vstack(
                    rx.input(
                        name="title",
                        default_value=SidebarState.rename_title,
                        max_length=TITLE_MAX,
                        required=True,
                        auto_focus=True,
                        width="100%",
                        aria_label="Title",
                        data_testid="rename-input",
                    ),
                    rx.cond(
                        SidebarState.rename_error != "",
                        rx.text(SidebarState.rename_error, color_scheme="red", size="1"),
                    ),
                    _actions("Save", "rename-save"),
                    spacing="3",
                ),
                on_submit=SidebarState.save_rename,
                reset_on_submit=False,
            ),
            max_width="26rem",
        ),
        open=SidebarState.rename_open,
        on_open_change=SidebarState.set_rename_open,
    )


def confirm_dialog(
    *,
    title: str,
    description: rx.Component | str,
    confirm_label: str,
    on_confirm: Any,
    test_id: str,
    open: Any,
    on_open_change: Any,
    max_width: str = "26rem",
) -> rx.Component:
    """A destructive action asked once more: Cancel, or the red confirm button."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(description, size="2"),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Cancel", variant="soft", color_scheme="gray"),
                ),
                rx.alert_dialog.action(
                    rx.button(
                        confirm_label,
                        color_scheme="red",
                        on_click=on_confirm,
                        data_testid=test_id,
                    ),
                ),
                justify="end",
                spacing="3",
                margin_top="1em",
            ),
            max_width=max_width,
        ),
        open=open,
        on_open_change=on_open_change,
    )


def delete_dialog() -> rx.Component:
    return confirm_dialog(
        title="Delete chat?",
        description=rx.text(
            "“",
            rx.text.strong(SidebarState.delete_title),
            "” and all its messages will be deleted. This cannot be undone.",
        ),
        confirm_label="Delete",
        on_confirm=SidebarState.confirm_delete,
        test_id="delete-confirm",
        open=SidebarState.delete_open,
        on_open_change=SidebarState.set_delete_open,
    )


def system_prompt_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("System prompt"),
            rx.dialog.description(
                "Instructions the model follows throughout this chat.",
                size="2",
                color_scheme="gray",
                margin_bottom="0.75em",
            ),
            rx.form(
                rx.vstack(
                    rx.text_area(
                        name="system_prompt",
                        default_value=ConversationState.system_prompt,
                        placeholder="e.g. You are a concise assistant. Answer in British English.",
                        max_length=SYSTEM_PROMPT_MAX,
                        rows="6",
                        width="100%",
                        resize="vertical",
                        data_testid="system-prompt-input",
                    ),
                    rx.cond(
                        ConversationState.error != "",
                        rx.text(ConversationState.error, color_scheme="red", size="1"),
                    ),
                    _actions("Save", "system-prompt-save"),
                    spacing="3",
                ),
                on_submit=ConversationState.save_system_prompt,
                reset_on_submit=False,
            ),
            max_width="32rem",
        ),
        open=ConversationState.prompt_dialog_open,
        on_open_change=ConversationState.set_prompt_dialog_open,
    )
