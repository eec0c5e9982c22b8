"""/settings — personal API tokens, export and import. Private, like the chat."""

from __future__ import annotations

from typing import Any

import reflex as rx

from chat_app.components.user_menu import user_menu
from chat_app.state.auth import AuthState
from chat_app.state.settings import IMPORT_SOURCES, TOKEN_SECRET_ID, UPLOAD_ID, SettingsState

ON_LOAD = [AuthState.guard_private_page, SettingsState.load]


def _section(title: str, description: str, *children: rx.Component) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.heading(title, size="4"),
            rx.text(description, size="2", color_scheme="gray"),
            *children,
            spacing="3",
            width="100%",
        ),
        width="100%",
    )


def _token_row(token: Any) -> rx.Component:
    return rx.table.row(
        rx.table.cell(rx.text(token["name"], weight="medium")),
        rx.table.cell(rx.code(token["prefix"])),
        rx.table.cell(token["created"]),
        rx.table.cell(token["last_used"]),
        rx.table.cell(
            rx.button(
                "Revoke",
                size="1",
                color_scheme="red",
                variant="soft",
                on_click=SettingsState.revoke_token(token["id"]),  # type: ignore[operator]
                data_testid="revoke-token",
            )
        ),
    )


def tokens_section() -> rx.Component:
    return _section(
        "Personal API tokens",
        "For scripts and other clients of the HTTP API (/api/docs). "
        "A token acts as you; it is shown once, stored only as a digest, and can be revoked.",
        rx.form(
            rx.hstack(
                rx.input(
                    name="name",
                    placeholder="Token name, e.g. laptop script",
                    max_length=100,
                    required=True,
                    flex="1",
                ),
                # A token outlives the session that made it: whoever holds this tab must also
                # know the password (services/auth.confirm_password).
                rx.input(
                    name="password",
                    type="password",
                    placeholder="Your password",
                    auto_complete="current-password",
                    required=True,
                    aria_label="Your password, to confirm",
                    data_testid="token-password",
                ),
                rx.button("Create token", type="submit", data_testid="create-token"),
                width="100%",
                wrap="wrap",
            ),
            on_submit=SettingsState.create_token,
            reset_on_submit=True,
            width="100%",
        ),
        rx.cond(
            SettingsState.token_error != "",
            rx.callout(SettingsState.token_error, icon="triangle-alert", color_scheme="red"),
        ),
        # Always in the page, hidden until a token is made: the secret is written straight into
        # the input (never into a state var), which must exist when it arrives.
        rx.callout(
            rx.vstack(
                rx.text(
                    "Copy your new token “",
                    SettingsState.new_token_name,
                    "” now. It will not be shown again.",
                ),
                rx.hstack(
                    rx.input(
                        id=TOKEN_SECRET_ID,
                        read_only=True,
                        font_family="monospace",
                        flex="1",
                        data_testid="new-token-secret",
                    ),
                    rx.icon_button(
                        rx.icon("copy", size=14),
                        size="1",
                        variant="ghost",
                        aria_label="Copy token",
                        on_click=rx.call_script(
                            "navigator.clipboard.writeText("
                            f"document.getElementById('{TOKEN_SECRET_ID}').value)"
                        ),
                    ),
                    rx.button(
                        "Done",
                        size="1",
                        variant="soft",
                        on_click=SettingsState.dismiss_token_secret,
                    ),
                    align="center",
                    width="100%",
                ),
                width="100%",
            ),
            icon="key-round",
            color_scheme="green",
            display=rx.cond(SettingsState.new_token_name != "", "flex", "none"),
            width="100%",
        ),
        rx.cond(
            SettingsState.tokens,
            rx.table.root(
                rx.table.header(
                    rx.table.row(
                        *(
                            rx.table.column_header_cell(h)
                            for h in ("Name", "Token", "Created", "Last used", "")
                        )
                    )
                ),
                rx.table.body(rx.foreach(SettingsState.tokens, _token_row)),
                width="100%",
                size="1",
            ),
            rx.text("No tokens yet.", size="2", color_scheme="gray"),
        ),
    )


def export_section() -> rx.Component:
    def link(label: str, fmt: str) -> rx.Component:
        # A plain download link: the API accepts the session cookie for reads.
        return rx.el.a(
            rx.button(rx.icon("download", size=14), label, variant="soft"),
            href=f"/api/v1/export?format={fmt}",
            download=True,
        )

    return _section(
        "Export",
        "Download all your conversations: JSON can be imported again (here or on another "
        "server); Markdown is for reading.",
        rx.hstack(link("JSON", "json"), link("Markdown", "markdown"), spacing="2"),
    )


def import_section() -> rx.Component:
    return _section(
        "Import",
        "Import conversations from this app's JSON export, or from a ChatGPT data export "
        "(the conversations.json file inside it). The file is checked before anything is saved.",
        rx.select.root(
            rx.select.trigger(),
            rx.select.content(
                *(rx.select.item(label, value=value) for value, label in IMPORT_SOURCES.items())
            ),
            value=SettingsState.import_source,
            on_change=SettingsState.set_import_source,
        ),
        rx.upload(
            rx.vstack(
                rx.icon("upload", size=20),
                rx.text("Drop a .json file here or click to choose", size="2"),
                rx.foreach(rx.selected_files(UPLOAD_ID), lambda f: rx.text(f, size="1")),
                align="center",
                spacing="1",
            ),
            id=UPLOAD_ID,
            multiple=False,
            accept={"application/json": [".json"]},
            border="1px dashed var(--gray-a7)",
            border_radius="var(--radius-3)",
            padding="1.5em",
            width="100%",
            cursor="pointer",
        ),
        rx.button(
            "Import",
            on_click=SettingsState.import_file(rx.upload_files(upload_id=UPLOAD_ID)),  # type: ignore[operator]
            data_testid="import-submit",
        ),
        rx.cond(
            SettingsState.import_error != "",
            rx.callout(SettingsState.import_error, icon="triangle-alert", color_scheme="red"),
        ),
        rx.cond(
            SettingsState.import_summary != "",
            rx.callout(
                rx.vstack(
                    rx.text(SettingsState.import_summary, weight="medium"),
                    rx.foreach(SettingsState.import_lines, lambda line: rx.text(line, size="1")),
                    spacing="1",
                ),
                icon="check",
                color_scheme="green",
                data_testid="import-report",
            ),
        ),
    )


def settings_page() -> rx.Component:
    content = rx.vstack(
        rx.hstack(
            rx.link(rx.hstack(rx.icon("arrow-left", size=16), "Back to chat"), href="/"),
            rx.spacer(),
            user_menu(),
            align="center",
            width="100%",
        ),
        rx.heading("Settings", size="6"),
        tokens_section(),
        export_section(),
        import_section(),
        spacing="4",
        width="100%",
        max_width="52em",
        margin_x="auto",
        padding="1.5em",
        data_testid="settings-page",
    )
    return rx.cond(
        AuthState.authenticated,
        content,
        rx.center(rx.spinner(size="3"), height="100vh"),
    )
