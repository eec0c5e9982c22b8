"""The centred card that frames the login and registration forms."""

from __future__ import annotations

import reflex as rx


def auth_card(title: str, subtitle: str, *children: rx.Component) -> rx.Component:
    return rx.center(
        rx.card(
            rx.vstack(
                rx.hstack(
                    rx.icon("message-square-text", size=28),
                    rx.heading("Chat", size="6"),
                    align="center",
                    spacing="2",
                ),
                rx.heading(title, size="5", margin_top="0.5em"),
                rx.text(subtitle, color_scheme="gray", size="2"),
                *children,
                spacing="3",
                width="100%",
            ),
            width="100%",
            max_width="24em",
            size="3",
        ),
        min_height="100vh",
        padding="1em",
    )


def field(
    label: str,
    name: str,
    *,
    type_: str = "text",
    placeholder: str = "",
    error: rx.Var | str = "",
    autocomplete: str = "",
    max_length: int | None = None,
) -> rx.Component:
    return rx.vstack(
        rx.text(label, as_="label", html_for=name, size="2", weight="medium"),
        rx.input(
            id=name,
            name=name,
            type=type_,
            placeholder=placeholder,
            auto_complete=autocomplete,
            max_length=max_length,
            required=True,
            width="100%",
            size="3",
        ),
        rx.cond(
            error != "",
            rx.text(error, color_scheme="red", size="1", role="alert", data_testid=f"{name}-error"),
        ),
        spacing="1",
        width="100%",
    )


def form_error(message: rx.Var | str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="triangle-alert", color_scheme="red", role="alert", width="100%"),
    )


def form_notice(message: rx.Var | str) -> rx.Component:
    return rx.cond(
        message != "",
        rx.callout(message, icon="info", color_scheme="blue", width="100%"),
    )
