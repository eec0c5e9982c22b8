"""/settings: personal API tokens, and import of exported conversations."""

from __future__ import annotations

import reflex as rx

from chat_app.services import api_tokens, transfer
from chat_app.services import auth as auth_service
from chat_app.services.errors import ServiceError
from chat_app.state.auth import AuthState, acting_user_id, session_ended

IMPORT_SOURCES = {"native": "This app's JSON export", "chatgpt": "ChatGPT (conversations.json)"}
UPLOAD_ID = "import-file"
# The input that shows a new token's secret. The secret goes straight into it (rx.set_value)
# and is never a state var: a var would stay in the tab's state, and in every later delta
# and hydration of it, long after the user copied it.
TOKEN_SECRET_ID = "new-token-secret"  # noqa: S105  (an element id, not a secret)


def _when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value is not None else "never"  # type: ignore[attr-defined]


class SettingsState(rx.State):
    tokens: list[dict[str, str]] = []
    token_error: str = ""
    # Name of the token just created: its secret is showing (once; see TOKEN_SECRET_ID).
    new_token_name: str = ""

    import_source: str = "native"
    import_summary: str = ""
    import_lines: list[str] = []
    import_error: str = ""
    importing: bool = False

    @rx.event
    async def load(self):
        self.new_token_name = ""
        self.token_error = ""
        self.import_summary = ""
        self.import_lines = []
        self.import_error = ""
        return await self._refresh_tokens()

    async def _refresh_tokens(self):
        user_id = await acting_user_id(self)
        if user_id is None:
            return await session_ended(self)
        self.tokens = [
            {
                "id": str(t.id),
                "name": t.name,
                "prefix": t.prefix + "…",
                "created": _when(t.created_at),
                "last_used": _when(t.last_used_at),
            }
            for t in await api_tokens.list_tokens(user_id)
        ]
        return None

    @rx.event
    async def create_token(self, form: dict[str, str]):
        """Create a token; the form carries the user's password, asked again for this."""
        self.token_error = ""
        self.new_token_name = ""
        user_id = await acting_user_id(self)
        if user_id is None:
            return await session_ended(self)
        address = (await self.get_state(AuthState))._client_address()
        try:
            await auth_service.confirm_password(
                user_id, form.get("password", ""), client_address=address
            )
            created = await api_tokens.create_token(user_id, form.get("name", ""))
        except ServiceError as exc:
            self.token_error = exc.message
            return None
        self.new_token_name = created.token.name
        ended = await self._refresh_tokens()
        return ended if ended is not None else rx.set_value(TOKEN_SECRET_ID, created.plaintext)

    @rx.event
    def dismiss_token_secret(self):
        self.new_token_name = ""
        return rx.set_value(TOKEN_SECRET_ID, "")

    @rx.event
    async def revoke_token(self, token_id: str):
        user_id = await acting_user_id(self)
        if user_id is None:
            return await session_ended(self)
        try:
            await api_tokens.revoke_token(user_id, token_id)
        except ServiceError as exc:
            self.token_error = exc.message
        return await self._refresh_tokens()

    @rx.event
    def set_import_source(self, value: str):
        self.import_source = value if value in IMPORT_SOURCES else "native"

    @rx.event
    async def import_file(self, files: list[rx.UploadFile]):
        self.import_summary = ""
        self.import_lines = []
        self.import_error = ""
        user_id = await acting_user_id(self)
        if user_id is None:
            return await session_ended(self)
        if not files:
            self.import_error = "Choose a file first."
            return None
        upload = files[0]
        raw = await upload.read(transfer.MAX_IMPORT_BYTES + 1)
        if len(raw) > transfer.MAX_IMPORT_BYTES:
            limit = transfer.MAX_IMPORT_BYTES // (1024 * 1024)
            self.import_error = f"The file is larger than {limit} MB."
            return rx.clear_selected_files(UPLOAD_ID)
        importer = (
            transfer.import_chatgpt if self.import_source == "chatgpt" else transfer.import_json
        )
        try:
            report = await importer(user_id, raw)
        except ServiceError as exc:
            self.import_error = exc.message
            return rx.clear_selected_files(UPLOAD_ID)
        self.import_summary = report.summary()
        self.import_lines = [
            f"Imported: {item.title} ({item.message_count} messages)" for item in report.imported
        ] + [
            f"Skipped #{item.index + 1} {item.title or ''}: {item.reason}".replace("  ", " ")
            for item in report.skipped
        ]
        return rx.clear_selected_files(UPLOAD_ID)
