"""Everything that starts a reply: send, regenerate, edit the last message.

The message box is an uncontrolled textarea read when its form is submitted: typing sends
nothing to the server, and text the service refuses (empty, too long) stays in the box.
Each handler asks the generation service to start the reply (it validates, checks ownership
and refuses a second reply while one is written), mirrors the change in ConversationState
without re-sending its history, and queues the StreamState watcher.
"""

from __future__ import annotations

import json

import reflex as rx

from chat_app.core.settings import get_settings
from chat_app.services import generation
from chat_app.services.errors import ServiceError
from chat_app.services.text_rules import too_long_message
from chat_app.state.auth import acting_user_id, session_ended
from chat_app.state.conversation import (
    ConversationState,
    add_recent,
    adopt,
    cut_after_last_user,
    message_view,
)
from chat_app.state.sidebar import SidebarState, show_on_top
from chat_app.state.stream import StreamState, begin

COMPOSER_INPUT_ID = "composer-input"
COMPOSER_FORM_ID = "composer-form"
# A form reset empties the box and lets its auto-height shrink it back.
CLEAR_COMPOSER = f"document.getElementById({json.dumps(COMPOSER_FORM_ID)})?.reset()"
BUSY = "Wait for the reply or press Stop."


class ComposerState(rx.State):
    error: str = ""
    # Sent while this tab's reply was still being written; shown only as long as that lasts.
    busy_refused: bool = False
    editing_id: str = ""
    edit_error: str = ""

    @rx.var
    def message_limit(self) -> int:
        """The longest message, for the page to check before sending (see components/composer).

        A message far over it would not reach the server at all: the websocket drops a frame
        larger than its buffer, and the text with it.
        """
        return get_settings().max_message_chars

    @rx.event
    def too_long(self, length: int):
        """The page counted ``length`` characters and did not send them."""
        self.error = _too_long(length)

    @rx.event
    def edit_too_long(self, length: int):
        self.edit_error = _too_long(length)

    @rx.event
    async def send(self, form: dict):
        conversation = await self.get_state(ConversationState)
        stream = await self.get_state(StreamState)
        self.error = ""
        self.busy_refused = False
        if conversation.not_found or conversation.loading:
            return None
        if _busy(stream, conversation):
            self.busy_refused = True
            return None
        user_id = await acting_user_id(self)
        if user_id is None:
            return await session_ended(self)
        text = form.get("message", "")
        try:
            if conversation.cid:
                started = await generation.send_message(user_id, conversation.cid, text)
            else:
                started = await generation.start_conversation(
                    user_id,
                    text,
                    model=conversation.model,
                    system_prompt=conversation.system_prompt,
                )
        except ServiceError as exc:
            self.error = exc.message
            return None
        cid = str(started.conversation.id)
        events: list = [rx.call_script(CLEAR_COMPOSER)]
        if not conversation.cid:
            adopt(conversation, cid)
            events.append(rx.redirect(f"/c/{cid}", replace=True))
        if started.user_message is not None:
            events += add_recent(conversation, message_view(started.user_message))
        begin(stream, cid, str(started.assistant_message.id))
        show_on_top(await self.get_state(SidebarState), started.conversation)
        return [*events, StreamState.follow]

    @rx.event
    async def regenerate(self):
        conversation = await self.get_state(ConversationState)
        stream = await self.get_state(StreamState)
        self.error = ""
        self.busy_refused = False
        if not conversation.cid:
            return None
        if _busy(stream, conversation):
            self.busy_refused = True
            return None
        user_id = await acting_user_id(self)
        if user_id is None:
            return await session_ended(self)
        try:
            started = await generation.regenerate_last(user_id, conversation.cid)
        except ServiceError as exc:
            self.error = exc.message
            return None
        events = cut_after_last_user(conversation, including_it=False)
        begin(stream, conversation.cid, str(started.assistant_message.id))
        return [*events, StreamState.follow]

    # ---- editing the last user message ----------------------------------------------------

    @rx.event
    async def start_edit(self, message_id: str):
        conversation = await self.get_state(ConversationState)
        if message_id == conversation.last_user_id:
            self.editing_id = message_id
            self.edit_error = ""

    @rx.event
    def cancel_edit(self):
        self.editing_id = ""
        self.edit_error = ""

    @rx.event
    async def save_edit(self, form: dict):
        conversation = await self.get_state(ConversationState)
        stream = await self.get_state(StreamState)
        self.edit_error = ""
        if not conversation.cid or self.editing_id != conversation.last_user_id:
            self.editing_id = ""
            return None
        if _busy(stream, conversation):
            self.edit_error = BUSY
            return None
        user_id = await acting_user_id(self)
        if user_id is None:
            return await session_ended(self)
        try:
            started = await generation.edit_last_user_message(
                user_id, conversation.cid, form.get("message", "")
            )
        except ServiceError as exc:
            self.edit_error = exc.message  # the edited text stays in its box
            return None
        self.editing_id = ""
        events = cut_after_last_user(conversation, including_it=True)
        if started.user_message is not None:
            events += add_recent(conversation, message_view(started.user_message))
        begin(stream, conversation.cid, str(started.assistant_message.id))
        return [*events, StreamState.follow]


def _too_long(length: object) -> str:
    # The count comes from the page: only ever displayed, and a number either way.
    count = length if isinstance(length, int) and not isinstance(length, bool) else 0
    return too_long_message(max(count, 0), get_settings().max_message_chars)


def _busy(stream: StreamState, conversation: ConversationState) -> bool:
    return stream.active and stream.stream_cid == conversation.cid
