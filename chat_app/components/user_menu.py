"""Header user menu: who is logged in, colour mode, logout (everywhere, after confirming)."""

from __future__ import annotations

import reflex as rx

from chat_app.components.dialogs import confirm_dialog
from chat_app.state.auth import AuthState

# Shown before the user confirms: "log out everywhere" also revokes personal API tokens.
LOGOUT_EVERYWHERE_WARNING = (
    "This ends your sessions on every device, including this one, and revokes all your "
    "personal API tokens: scripts using them stop working until you create new ones."
)


def logout_everywhere_dialog() -> rx.Component:
    return confirm_dialog(
        title="Log out everywhere?",
        description=LOGOUT_EVERYWHERE_WARNING,
        confirm_label="Log out everywhere",
        on_confirm=AuthState.logout_everywhere,
        test_id="logout-everywhere-confirm",
        open=AuthState.logout_everywhere_open,
        on_open_change=AuthState.set_logout_everywhere_open,
        max_width="28rem",
    )


def user_menu() -> rx.Component:
    return rx.fragment(_menu(), logout_everywhere_dialog())


def _menu() -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(
            rx.button(
                rx.icon("circle-user", size=18),
                rx.text(AuthState.user_name, class_name="user-name", data_testid="user-name"),
                variant="ghost",
                data_testid="user-menu",
            )
        ),
        rx.menu.content(
            rx.box(
                rx.text(AuthState.user_email, size="1", color_scheme="gray"),
                padding_x="0.75em",
                padding_y="0.25em",
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.icon("sun-moon", size=14), "Toggle dark mode", on_select=rx.toggle_color_mode
            ),
            rx.menu.item(
                rx.icon("settings", size=14),
                "Settings, API tokens, import/export",
                on_select=rx.redirect("/settings"),
                data_testid="open-settings",
            ),
            rx.menu.separator(),
            rx.menu.item(
                rx.icon("log-out", size=14),
                "Log out",
                on_select=AuthState.logout,
                data_testid="logout",
            ),
            rx.menu.item(
                rx.icon("shield-off", size=14),
                "Log out everywhere…",
                on_select=AuthState.set_logout_everywhere_open(True),  # type: ignore[operator]
                color="red",
                data_testid="logout-everywhere",
            ),
        ),
    )
