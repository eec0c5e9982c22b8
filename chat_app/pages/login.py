"""/login"""

from __future__ import annotations

import reflex as rx

from chat_app.components.auth_card import auth_card, field, form_error, form_notice
from chat_app.state.auth import AuthState


def login_page() -> rx.Component:
    return auth_card(
        "Log in",
        "Welcome back.",
        form_notice(AuthState.notice),
        form_error(AuthState.login_error),
        rx.form(
            rx.vstack(
                field("Email", "email", type_="email", autocomplete="username", max_length=254),
                field("Password", "password", type_="password", autocomplete="current-password"),
                rx.button(
                    "Log in", type="submit", width="100%", size="3", data_testid="login-submit"
                ),
                spacing="3",
                width="100%",
            ),
            on_submit=AuthState.submit_login,
            reset_on_submit=False,
            width="100%",
        ),
        rx.cond(
            AuthState.registration_open,
            rx.text(
                "No account yet? ",
                rx.link("Create one", href="/register"),
                size="2",
            ),
        ),
    )
