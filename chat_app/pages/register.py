"""/register"""

from __future__ import annotations

import reflex as rx

from chat_app.components.auth_card import auth_card, field, form_error
from chat_app.models.user import DISPLAY_NAME_MAX, EMAIL_MAX, PASSWORD_MIN
from chat_app.state.auth import AuthState


def _register_form() -> rx.Component:
    errors = AuthState.register_field_errors
    return rx.form(
        rx.vstack(
            field(
                "Email",
                "email",
                type_="email",
                autocomplete="username",
                max_length=EMAIL_MAX,
                error=errors.get("email", ""),
            ),
            field(
                "Display name",
                "display_name",
                autocomplete="nickname",
                max_length=DISPLAY_NAME_MAX,
                error=errors.get("display_name", ""),
            ),
            field(
                "Password",
                "password",
                type_="password",
                autocomplete="new-password",
                placeholder=f"At least {PASSWORD_MIN} characters",
                error=errors.get("password", ""),
            ),
            rx.button(
                "Create account",
                type="submit",
                width="100%",
                size="3",
                data_testid="register-submit",
            ),
            spacing="3",
            width="100%",
        ),
        on_submit=AuthState.submit_register,
        reset_on_submit=False,
        width="100%",
    )


def register_page() -> rx.Component:
    return auth_card(
        "Create your account",
        "Your conversations are saved to this server.",
        form_error(AuthState.register_error),
        rx.cond(
            AuthState.registration_open,
            _register_form(),
            rx.callout(
                "Registration is closed on this server. Ask an administrator for an account.",
                icon="lock",
                width="100%",
            ),
        ),
        rx.text("Already have an account? ", rx.link("Log in", href="/login"), size="2"),
    )
