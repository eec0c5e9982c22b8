"""The open conversation: its messages, its model and system prompt.

Payload budget: Reflex sends a changed var whole (there is no append/patch delta), so every
change to a list var re-sends the whole list. The messages stored before this visit are
therefore loaded ONCE into ``history`` when the conversation opens and never touched again. The
messages produced during this visit are kept server-side in ``_recent`` and *appended* in the
browser (state/visit_events.py, components/visit_store.py): each crosses the socket once, so a
reply costs the same bytes after 50 exchanges in a visit as after none. Functions that change
``_recent`` return the events that do the same in the browser; their callers send them.
Regenerate and edit, which remove the tail of the conversation, shrink ``shown`` (how many of
``history`` are rendered) instead of rewriting ``history``. The reply being written lives in
StreamState, not here.
"""

from __future__ import annotations

import dataclasses
import secrets

import reflex as rx
from reflex_base.event import EventSpec

from chat_app.models.conversation import ConversationPublic
from chat_app.models.message import MessagePublic, MessageStatus, Role
from chat_app.services import chat as chat_service
from chat_app.services import generation
from chat_app.services.errors import NotFound, ServiceError
from chat_app.state.auth import acting_user_id, session_ended
from chat_app.state.visit_events import visit_add, visit_reset, visit_truncate

# Opening a long conversation sends this many messages; the rest come on request.
HISTORY_WINDOW = 200
ROUTE_PREFIX = "/c/"


@dataclasses.dataclass
class MessageView:
    """What the browser gets for one message (no owner ids, no timestamps it does not use)."""

    id: str = ""
    role: str = ""
    content: str = ""
    status: str = MessageStatus.COMPLETE.value
    error: str = ""
    meta: str = ""  # the discreet line under a reply: model, tokens, time to first token


@dataclasses.dataclass
class ModelOption:
    id: str = ""
    label: str = ""
    is_demo: bool = False


def reply_meta(message: MessagePublic) -> str:
    parts: list[str] = []
    if message.model:
        parts.append(message.model)
    if message.prompt_tokens is not None and message.completion_tokens is not None:
        parts.append(
            f"{message.prompt_tokens:,} prompt + {message.completion_tokens:,} completion tokens"
        )
    elif message.completion_tokens is not None:
        parts.append(f"{message.completion_tokens:,} completion tokens")
    if message.ttft_ms is not None:
        parts.append(f"first token in {message.ttft_ms:,} ms")
    return " · ".join(parts)


def message_view(message: MessagePublic) -> MessageView:
    return MessageView(
        id=str(message.id),
        role=message.role,
        content=message.content,
        status=message.status,
        error=message.error_detail or "",
        meta=reply_meta(message) if message.role == Role.ASSISTANT else "",
    )


def route_conversation_id(path: str) -> str | None:
    """The id part of ``/c/<id>`` (unchecked: the services decide whether it exists and whose)."""
    path = path.rstrip("/")
    return path[len(ROUTE_PREFIX) :] if path.startswith(ROUTE_PREFIX) else None


class ConversationState(rx.State):
    cid: str = ""  # "" on the new-chat page
    not_found: bool = False
    loading: bool = False
    error: str = ""

    history: list[MessageView] = []
    shown: int = 0
    has_earlier: bool = False
    # This opening of the conversation (the key of its messages in the browser's visit store),
    # and how many messages it added there.
    visit_key: str = ""
    recent_count: int = 0
    last_user_id: str = ""
    last_assistant_id: str = ""

    model: str = ""
    model_options: list[ModelOption] = []
    system_prompt: str = ""
    prompt_dialog_open: bool = False

    # Server-only. The messages of this visit, as the browser's visit store holds them.
    _recent: list[MessageView] = []
    # Replies that were being written when the history was read: they are left
    # out of it, and StreamState shows them (live, or final if they finished meanwhile).
    _streaming_ids: list[str] = []
    # The conversation this tab just created: the navigation to its URL must not reload it.
    _adopted: str = ""

    # ---- opening ------------------------------------------------------------------------------

    @rx.event
    async def open_new(self):
        """on_load of ``/``: an empty conversation with the default settings."""
        _reset(self, "")
        self.model = ""
        self.system_prompt = ""
        await self._load_model_options()

    @rx.event
    async def open_from_route(self):
        """on_load of ``/c/[conversation_id]``."""
        cid = route_conversation_id(self.router.url.path) or ""
        if cid and cid == self._adopted == self.cid:
            self._adopted = ""  # the messages are already here: this tab just wrote them
            return
        _reset(self, cid)
        self.loading = True
        yield  # clear the previous conversation at once, before the database answers
        user_id = await acting_user_id(self)
        if user_id is None:
            self.loading = False
            return  # the page guard in the same on_load chain sends the tab to /login
        try:
            conversation = await chat_service.get_conversation(user_id, cid)
            messages = await chat_service.list_messages(
                user_id, conversation.id, limit=HISTORY_WINDOW + 1
            )
        except NotFound:
            self.not_found = True
            self.loading = False
            return
        self.has_earlier = len(messages) > HISTORY_WINDOW
        _set_history(self, messages[-HISTORY_WINDOW:])
        _apply_settings(self, conversation)
        self.loading = False
        await self._load_model_options()

    @rx.event
    async def show_earlier(self):
        user_id = await acting_user_id(self)
        if user_id is None:
            return await session_ended(self)
        try:
            messages = await chat_service.list_messages(user_id, self.cid)
        except ServiceError as exc:
            self.error = exc.message
            return None
        this_visit = {m.id for m in self._recent}
        self.has_earlier = False
        _set_history(self, [m for m in messages if str(m.id) not in this_visit])
        return None

    @rx.event
    def resync_visit(self, visit_key: str):
        """The browser missed one of this visit's messages: send it all of them."""
        if visit_key != self.visit_key or not self.visit_key:
            return None
        return visit_reset(self.visit_key, list(self._recent))

    # ---- model and system prompt ------------------------------------------------------------

    @rx.event
    async def choose_model(self, model_id: str):
        if model_id not in {o.id for o in self.model_options}:
            return None  # only the models the provider offers
        if not self.cid:
            self.model = model_id  # a new chat: stored when its first message is sent
            return None
        return await self._update(model=model_id)

    @rx.event
    def set_prompt_dialog_open(self, value: bool):
        self.prompt_dialog_open = bool(value)
        self.error = ""

    @rx.event
    async def save_system_prompt(self, form: dict):
        prompt = str(form.get("system_prompt", ""))
        if not self.cid:
            self.system_prompt = prompt
            self.prompt_dialog_open = False
            return None
        result = await self._update(system_prompt=prompt)
        if not self.error:
            self.prompt_dialog_open = False
        return result

    async def _update(self, **changes: str):
        user_id = await acting_user_id(self)
        if user_id is None:
            return await session_ended(self)
        self.error = ""
        try:
            conversation = await chat_service.update_conversation(user_id, self.cid, **changes)
        except ServiceError as exc:
            self.error = exc.message
            return None
        _apply_settings(self, conversation)
        return None

    async def _load_model_options(self) -> None:
        if not self.model_options:
            models = await chat_service.available_models()
            self.model_options = [ModelOption(m.id, m.label, m.is_demo) for m in models]
        known = [o.id for o in self.model_options]
        if not self.model and known:
            # A new chat: the provider's default when it offers it, else its first model.
            default = generation.model_for("")
            self.model = default if default in known else known[0]
        elif self.model and self.model not in known:
            # A conversation made with a model the provider no longer lists: still show it.
            self.model_options = [ModelOption(self.model, self.model), *self.model_options]


# ---- used by ComposerState and StreamState inside their own handlers ------------------------
# Module functions, not methods: every public method of a state is an event the browser can send.


def _reset(state: ConversationState, cid: str) -> None:
    state.cid = cid
    state.not_found = False
    state.loading = False
    state.error = ""
    state.has_earlier = False
    state.history = []
    state.shown = 0
    state.visit_key = secrets.token_hex(8)
    state._recent = []
    state.recent_count = 0
    state.last_user_id = ""
    state.last_assistant_id = ""
    state._streaming_ids = []
    state._adopted = ""


def _set_history(state: ConversationState, messages: list[MessagePublic]) -> None:
    streaming = {m.id for m in messages if m.status == MessageStatus.STREAMING}
    state._streaming_ids = [str(i) for i in streaming]
    state.history = [message_view(m) for m in messages if m.id not in streaming]
    state.shown = len(state.history)
    _refresh_last_ids(state)


def _apply_settings(state: ConversationState, conversation: ConversationPublic) -> None:
    state.model = generation.model_for(conversation.model)
    state.system_prompt = conversation.system_prompt


def _visible(state: ConversationState) -> list[MessageView]:
    return [*state.history[: state.shown], *state._recent]


def _refresh_last_ids(state: ConversationState) -> None:
    visible = _visible(state)
    state.last_user_id = next((m.id for m in reversed(visible) if m.role == Role.USER), "")
    last = visible[-1] if visible else None
    state.last_assistant_id = last.id if last is not None and last.role == Role.ASSISTANT else ""


def adopt(state: ConversationState, cid: str) -> None:
    """This tab just created the conversation: it becomes the open one without a reload."""
    _reset(state, cid)
    state._adopted = cid


def add_recent(state: ConversationState, *messages: MessageView) -> list[EventSpec]:
    """Add messages written during this visit; the events show them in the browser."""
    # Two tabs' watchers, or a watcher and resume(), may both report the same reply.
    known = {m.id for m in _visible(state)}
    events = []
    for message in messages:
        if message.id not in known:
            known.add(message.id)
            events.append(visit_add(state.visit_key, len(state._recent), message))
            state._recent = [*state._recent, message]
    state.recent_count = len(state._recent)
    _refresh_last_ids(state)
    return events


def cut_after_last_user(state: ConversationState, *, including_it: bool) -> list[EventSpec]:
    """Mirror what regenerate (keep the last user message) and edit (drop it too) deleted.

    Returns the events that cut the browser's copy of this visit's messages the same way.
    """
    visible = _visible(state)
    index = next((i for i in range(len(visible) - 1, -1, -1) if visible[i].role == Role.USER), -1)
    if index < 0:
        return []
    keep = index if including_it else index + 1
    if keep >= state.shown:
        state._recent = state._recent[: keep - state.shown]
    else:
        # Shrinking the rendered window sends one number; rewriting history would send it all.
        state.shown = keep
        state._recent = []
    state.recent_count = len(state._recent)
    _refresh_last_ids(state)
    return [visit_truncate(state.visit_key, len(state._recent))]


def take_streaming_ids(state: ConversationState) -> list[str]:
    ids, state._streaming_ids = state._streaming_ids, []
    return ids
