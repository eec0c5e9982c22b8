"""Header user menu: who is logged in, colour mode, logout (everywhere, after confirming)."""

from __future__ import annotations

import reflex as rx

from chat_app.state.auth import AuthState

# Shown before the user confirms: "log out everywhere" also revokes personal API tokens.
LOGOUT_EVERYWHERE_WARNING = (
    "This ends your sessions on every device, including this one, and revokes all your "
    "personal API tokens: scripts using them stop working until you create new ones."
)


def logout_everywhere_dialog() -> rx.Component:
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title("Log out everywhere?"),
            rx.alert_dialog.description(LOGOUT_EVERYWHERE_WARNING, size="2"),
            rx.hstack(
                rx.alert_dialog.cancel(
                    rx.button("Cancel", variant="soft", color_scheme="gray"),
                ),
                rx.alert_dialog.action(
                    rx.button(
                        "Log out everywhere",
                        color_scheme="red",
                        on_click=AuthState.logout_everywhere,
                        data_testid="logout-everywhere-confirm",
                    ),
                ),
                justify="end",
                spacing="3",
                margin_top="1em",
            ),
            max_width="28rem",
        ),
        open=AuthState.logout_everywhere_open,
        on_open_change=AuthState.set_logout_everywhere_open,
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
