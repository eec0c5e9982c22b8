"""The conversation list: pages of the user's chats, search, rename, delete, phone drawer.

The list is a per-tab cache of small (id, title) items. It is loaded when the tab connects (a
reload or a new tab), not at every navigation between chats; other states keep it current by
calling ``show_on_top``/``retitle`` when they change a conversation, which re-sends only this list.
"""

from __future__ import annotations

import dataclasses

import reflex as rx

from chat_app.models.conversation import ConversationPublic
from chat_app.services import chat as chat_service
from chat_app.services.errors import ServiceError
from chat_app.state.auth import acting_user_id, session_ended

PAGE_SIZE = 30


@dataclasses.dataclass
class ConversationItem:
    id: str = ""
    title: str = ""


def conversation_item(conversation: ConversationPublic) -> ConversationItem:
    return ConversationItem(id=str(conversation.id), title=conversation.title)


class SidebarState(rx.State):
    items: list[ConversationItem] = []
    has_more: bool = False
    loading: bool = False
    search: str = ""
    error: str = ""
    drawer_open: bool = False

    rename_open: bool = False
    rename_id: str = ""
    rename_title: str = ""
    rename_error: str = ""

    delete_open: bool = False
    delete_id: str = ""
    delete_title: str = ""

    # Server-only: the opaque cursor of the next page, and which socket connection the list
    # was loaded for (a new one means a reload or a new tab: the list may be stale).
    _next_cursor: str = ""
    _loaded_for: str = ""

    # ---- loading ------------------------------------------------------------------------------

    @rx.event
    async def load(self):
        """on_load of the chat pages; cheap on navigation, fresh after a (re)connect."""
        session_id = self.router.session.session_id
        if self._loaded_for and self._loaded_for == session_id:
            return None
        self._loaded_for = session_id
        self.search = ""
        return await self._load_first_page()

    @rx.event
    async def search_changed(self, value: str):
        self.search = str(value)[: chat_service.SEARCH_MAX_CHARS]
        return await self._load_first_page()

    @rx.event
    async def load_more(self):
        if not self._next_cursor:
            return None
        user_id = await acting_user_id(self)
        if user_id is None:
            return await session_ended(self)
        try:
            page = await chat_service.list_conversations(
                user_id, limit=PAGE_SIZE, cursor=self._next_cursor, search=self.search or None
            )
        except ServiceError as exc:
            self.error = exc.message
            return None
        known = {item.id for item in self.items}
        self.items.extend(conversation_item(c) for c in page.items if str(c.id) not in known)
        self._set_cursor(page.next_cursor)
        return None

    async def _load_first_page(self):
        user_id = await acting_user_id(self)
        if user_id is None:
            return None  # the page guard (or the next click) sends the tab to /login
        self.loading = True
        self.error = ""
        try:
            page = await chat_service.list_conversations(
                user_id, limit=PAGE_SIZE, search=self.search or None
            )
        except ServiceError as exc:
            self.error = exc.message
            return None
        finally:
            self.loading = False
        self.items = [conversation_item(c) for c in page.items]
        self._set_cursor(page.next_cursor)
        return None

    def _set_cursor(self, cursor: str | None) -> None:
        self._next_cursor = cursor or ""
        self.has_more = bool(cursor)

    # ---- phone drawer ---------------------------------------------------------------------

    @rx.event
    def set_drawer(self, value: bool):
        self.drawer_open = bool(value)

    @rx.event
    def close_drawer(self):
        self.drawer_open = False

    # ---- rename ---------------------------------------------------------------------------

    @rx.event
    def open_rename(self, conversation_id: str):
        item = self._item(conversation_id)
        if item is None:
            return
        self.rename_id, self.rename_title = item.id, item.title
        self.rename_error = ""
        self.rename_open = True

    @rx.event
    def set_rename_open(self, value: bool):
        self.rename_open = bool(value)

    @rx.event
    async def save_rename(self, form: dict):
        user_id = await acting_user_id(self)
        if user_id is None:
            return await session_ended(self)
        try:
            # The id is only a hint from this tab: the service checks it belongs to the user.
            updated = await chat_service.update_conversation(
                user_id, self.rename_id, title=str(form.get("title", ""))
            )
        except ServiceError as exc:
            self.rename_error = exc.message
            return None
        retitle(self, str(updated.id), updated.title)
        self.rename_open = False
        return None

    # ---- delete ---------------------------------------------------------------------------

    @rx.event
    def open_delete(self, conversation_id: str):
        item = self._item(conversation_id)
        if item is None:
            return
        self.delete_id, self.delete_title = item.id, item.title
        self.delete_open = True

    @rx.event
    def set_delete_open(self, value: bool):
        self.delete_open = bool(value)

    @rx.event
    async def confirm_delete(self):
        user_id = await acting_user_id(self)
        if user_id is None:
            return await session_ended(self)
        deleted = self.delete_id
        self.delete_open = False
        try:
            await chat_service.delete_conversation(user_id, deleted)
        except ServiceError as exc:
            self.error = exc.message
            return None
        self.items = [i for i in self.items if i.id != deleted]
        if self.router.url.path.rstrip("/").endswith(f"/c/{deleted}"):
            return rx.redirect("/", replace=True)
        return None

    # ---- helpers --------------------------------------------------------------------------

    def _item(self, conversation_id: str) -> ConversationItem | None:
        return next((i for i in self.items if i.id == conversation_id), None)


# ---- kept current by the other chat states ---------------------------------------------------
# Module functions, not methods: every public method of a state is an event the browser can send.


def show_on_top(sidebar: SidebarState, conversation: ConversationPublic) -> None:
    """A conversation was just created or written to: it is now the most recent."""
    item = conversation_item(conversation)
    if sidebar.search:
        retitle(sidebar, item.id, item.title)  # a filtered list keeps its own order
        return
    sidebar.items = [item, *(i for i in sidebar.items if i.id != item.id)]


def retitle(sidebar: SidebarState, conversation_id: str, title: str) -> None:
    for index, item in enumerate(sidebar.items):
        if item.id == conversation_id:
            if item.title != title:
                sidebar.items[index] = ConversationItem(id=item.id, title=title)
            return
