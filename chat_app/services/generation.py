"""Generating replies: a server-side task per reply that outlives any browser tab.

Flow: ``send_message`` stores the user's message and an empty assistant message marked
"streaming", then starts ``_generate`` as an asyncio task in the process's reply registry
(services/replies.py), not in the Reflex event that asked for it. The task streams from the
provider into a ``LiveReply`` (viewers follow it through ``replies.follow``), has the text so far
saved about every ``save_interval_seconds`` (services/progress.py: every running reply in one
write, so at most about a second of text is at risk if the process dies), and ends with one final
write of text, status and usage, whose result it hands to the ``LiveReply``: no viewer reads the
database when a reply ends. Replies a dead process left
"streaming" become "interrupted" at the next start (see maintenance.py).

Model output is untrusted: every piece is made storable before it enters the ``LiveReply``, and
the reply is cut at ``max_reply_chars``. A reply must never stay "streaming" with nothing
writing it: a final write that fails falls back to a status-only write, a row even that could
not end blocks nothing in this process, and Stop ends a "streaming" row no task here writes.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from chat_app.core import metrics
from chat_app.core.db import session_scope
from chat_app.core.redis import RedisError
from chat_app.core.settings import get_settings
from chat_app.models.common import utcnow
from chat_app.models.conversation import (
    DEFAULT_TITLE,
    Conversation,
    ConversationCreate,
    ConversationPublic,
    clean_title,
)
from chat_app.models.message import Message, MessagePublic, MessageStatus, Role
from chat_app.providers import ChatTurn, ProviderError, StreamEnd, TextDelta, get_provider
from chat_app.repositories import conversations as conversations_repo
from chat_app.repositories import messages as messages_repo
from chat_app.services.chat import create_conversation
from chat_app.services.context import build_turns
from chat_app.services.errors import Conflict, InvalidInput, NotFound, Unavailable
from chat_app.services.ids import parse_id
from chat_app.services.live import LiveReply
from chat_app.services.progress import progress_saver
from chat_app.services.replies import ReplyControl, UnsavedEnding, get_replies
from chat_app.services.send_rate import check_send_rate
from chat_app.services.text_rules import (
    StorableStream,
    storable,
    title_from_text,
    user_text,
    validate_user_message,
)

log = logging.getLogger(__name__)

ALREADY_STREAMING = (
    "A reply is still being written in this conversation. Wait for it to finish or stop it first."
)
TITLE_PROMPT = "You name chats. Titles are at most six words, with no quotes or trailing dot."
TITLE_REQUEST = "Write the title for this chat. Answer with the title only."
TITLE_TIMEOUT_SECONDS = 15
# The last write of a reply carries its final text and status: worth a retry on a busy database.
FINAL_SAVE_ATTEMPTS = 3
# Beyond the reply time cap: generation, saves and the title call have all ended by then.
STALE_MARGIN_SECONDS = 60
FINAL_WRITE_FAILED = "The end of this reply could not be saved. The text saved before that is kept."


@dataclass(frozen=True)
class ReplyStarted:
    conversation: ConversationPublic
    user_message: MessagePublic | None
    assistant_message: MessagePublic


@dataclass(frozen=True)
class _Job:
    reply: LiveReply
    message: MessagePublic  # the assistant row as created ("streaming", no text yet)
    control: ReplyControl
    model: str
    turns: list[ChatTurn]
    requested_at: float
    provisional_title: str | None  # set when this reply should trigger an auto-title
    first_user_text: str


# ---- starting replies ---------------------------------------------------------------------


async def send_message(
    user_id: uuid.UUID, conversation_id: object | None, text: object, *, model: str | None = None
) -> ReplyStarted:
    """Store the user's message and start the reply. ``conversation_id=None`` starts a new chat."""
    settings = get_settings()
    content = validate_user_message(text, settings.max_message_chars)
    if model:
        model = user_text(model, "model", refuse=True)
    await check_send_rate(user_id)
    requested_at = time.monotonic()

    async def prepare(session: AsyncSession) -> tuple[_Job, ReplyStarted]:
        if conversation_id is None:
            conversation = await conversations_repo.create(
                session, user_id, ConversationCreate(model=model or "")
            )
        else:
            conversation = await _owned_conversation(session, user_id, conversation_id)
        await _refuse_if_streaming(session, user_id, conversation.id)
        history = await messages_repo.list_for_conversation(session, user_id, conversation.id)
        provisional_title = _provisional_title(conversation, history, content)
        if model:
            conversation.model = model
        user_message = await _add(session, user_id, conversation, Role.USER, content)
        job, started = await _prepare_reply(
            session,
            user_id,
            conversation,
            [*history, user_message],
            requested_at,
            provisional_title=provisional_title,
            first_user_text=content,
        )
        return job, replace(started, user_message=_public(user_message))

    return await _start_reply(prepare)


async def start_conversation(
    user_id: uuid.UUID, text: object, *, model: str = "", system_prompt: str = ""
) -> ReplyStarted:
    """A new chat whose model and system prompt were chosen before its first message."""
    if not system_prompt:
        return await send_message(user_id, None, text, model=model or None)
    # Refuse a bad first message before a conversation exists, so none is left behind empty.
    validate_user_message(text, get_settings().max_message_chars)
    conversation = await create_conversation(user_id, model=model, system_prompt=system_prompt)
    return await send_message(user_id, conversation.id, text)


async def regenerate_last(user_id: uuid.UUID, conversation_id: object) -> ReplyStarted:
    """Replace the reply to the last user message with a new one."""
    await check_send_rate(user_id)
    requested_at = time.monotonic()

    async def prepare(session: AsyncSession) -> tuple[_Job, ReplyStarted]:
        conversation = await _owned_conversation(session, user_id, conversation_id)
        await _refuse_if_streaming(session, user_id, conversation.id)
        history = await messages_repo.list_for_conversation(session, user_id, conversation.id)
        last_user = _last_user_message(history)
        after = [m for m in history if m.created_at > last_user.created_at]
        if after:
            await messages_repo.delete_from(session, user_id, conversation.id, after[0])
        kept = [m for m in history if m.created_at <= last_user.created_at]
        return await _prepare_reply(session, user_id, conversation, kept, requested_at)

    return await _start_reply(prepare)


async def edit_last_user_message(
    user_id: uuid.UUID, conversation_id: object, text: object
) -> ReplyStarted:
    """Replace the last user message (and the reply to it), then re-run from there."""
    settings = get_settings()
    content = validate_user_message(text, settings.max_message_chars)
    await check_send_rate(user_id)
    requested_at = time.monotonic()

    async def prepare(session: AsyncSession) -> tuple[_Job, ReplyStarted]:
        conversation = await _owned_conversation(session, user_id, conversation_id)
        await _refuse_if_streaming(session, user_id, conversation.id)
        history = await messages_repo.list_for_conversation(session, user_id, conversation.id)
        last_user = _last_user_message(history)
        await messages_repo.delete_from(session, user_id, conversation.id, last_user)
        kept = [m for m in history if m.created_at < last_user.created_at]
        user_message = await _add(session, user_id, conversation, Role.USER, content)
        job, started = await _prepare_reply(
            session, user_id, conversation, [*kept, user_message], requested_at
        )
        return job, replace(started, user_message=_public(user_message))

    return await _start_reply(prepare)


async def _start_reply(
    prepare: Callable[[AsyncSession], Awaitable[tuple[_Job, ReplyStarted]]],
) -> ReplyStarted:
    """Run ``prepare`` in one transaction, then launch the reply it opened on the bus.

    The reply is opened on the bus inside the transaction (that is what makes "one reply at a
    time per conversation" hold across processes), so a transaction that fails after it must
    release it again, or the conversation would stay blocked.
    """
    job: _Job | None = None
    try:
        async with session_scope() as session:
            job, started = await prepare(session)  # opening the reply is its last step
    except BaseException:
        if job is not None:  # the commit failed
            await get_replies().bus.release(job.reply)
        raise
    _launch(job)
    return started


# ---- helpers for the entry points above ---------------------------------------------------


def _provisional_title(
    conversation: Conversation, history: list[Message], content: str
) -> str | None:
    if history or conversation.title != DEFAULT_TITLE:
        return None
    title = clean_title(title_from_text(content)) or DEFAULT_TITLE
    conversation.title = title
    return title


async def _owned_conversation(
    session: AsyncSession, user_id: uuid.UUID, conversation_id: object
) -> Conversation:
    conversation = await conversations_repo.get(session, user_id, parse_id(conversation_id))
    if conversation is None:
        raise NotFound()
    return conversation


async def _refuse_if_streaming(
    session: AsyncSession, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> None:
    if await get_replies().is_writing(conversation_id):
        raise Conflict(ALREADY_STREAMING)
    # A reply older than the time cap is dead whatever its row says (its final write failed):
    # without this, one failed write would block the conversation until the next restart.
    settings = get_settings()
    cutoff = utcnow() - timedelta(seconds=settings.max_reply_seconds + STALE_MARGIN_SECONDS)
    await messages_repo.interrupt_stale_replies(
        session, user_id, conversation_id, started_before=cutoff
    )
    dead = await _retry_unsaved_endings(session, user_id, conversation_id)
    if await messages_repo.has_streaming_reply(session, user_id, conversation_id, ignoring=dead):
        raise Conflict(ALREADY_STREAMING)


async def _retry_unsaved_endings(
    session: AsyncSession, user_id: uuid.UUID, conversation_id: uuid.UUID
) -> list[uuid.UUID]:
    """Write the ends this process could not write before; return those rows' ids.

    In the caller's transaction (a second one would wait on SQLite's write lock). An entry is
    forgotten only once its row is found no longer "streaming": if this transaction is rolled
    back, the next send tries again.
    """
    unsaved = get_replies().unsaved_endings
    dead = [
        message_id
        for message_id, ending in unsaved.items()
        if ending.conversation_id == conversation_id and ending.owner_id == user_id
    ]
    for message_id in dead:
        try:
            # A savepoint: a failure here must not abort the send's own transaction.
            async with session.begin_nested():
                changed = await messages_repo.end_streaming_reply(
                    session,
                    user_id,
                    message_id,
                    status=MessageStatus.INTERRUPTED,
                    error_detail=FINAL_WRITE_FAILED,
                )
        except SQLAlchemyError:
            log.warning("reply %s still could not be ended", message_id, exc_info=True)
            continue
        if not changed:
            unsaved.pop(message_id, None)
    return dead


def _last_user_message(history: list[Message]) -> Message:
    for message in reversed(history):
        if message.role == Role.USER:
            return message
    raise InvalidInput("There is no message to answer yet.")


async def _add(
    session: AsyncSession,
    user_id: uuid.UUID,
    conversation: Conversation,
    role: Role,
    content: str,
    **extra: object,
) -> Message:
    message = await messages_repo.add(
        session,
        user_id,
        conversation.id,
        role=role,
        content=content,
        **extra,  # type: ignore[arg-type]
    )
    if message is None:  # the conversation vanished between our read and this write
        raise NotFound()
    return message


def _resolved_model(conversation: Conversation) -> str:
    return model_for(conversation.model)


def model_for(conversation_model: str) -> str:
    """The model a reply uses in a conversation whose model setting is ``conversation_model``."""
    settings = get_settings()
    if settings.uses_demo_model:
        return "demo"
    return conversation_model or settings.default_model


async def _prepare_reply(
    session: AsyncSession,
    user_id: uuid.UUID,
    conversation: Conversation,
    history: list[Message],
    requested_at: float,
    *,
    provisional_title: str | None = None,
    first_user_text: str = "",
) -> tuple[_Job, ReplyStarted]:
    settings = get_settings()
    model = _resolved_model(conversation)
    turns = build_turns(conversation.system_prompt, history, settings.context_budget_tokens)
    assistant = await _add(
        session,
        user_id,
        conversation,
        Role.ASSISTANT,
        "",
        status=MessageStatus.STREAMING,
        model=model,
    )
    conversation.updated_at = utcnow()
    await session.flush()
    reply = LiveReply(owner_id=user_id, conversation_id=conversation.id, message_id=assistant.id)
    registry = get_replies()
    registry.refuse_if_draining()
    try:
        opened = await registry.bus.open(reply)
    except RedisError as exc:
        raise Unavailable() from exc
    if not opened:
        raise Conflict(ALREADY_STREAMING)
    message = _public(assistant)
    job = _Job(
        reply=reply,
        message=message,
        control=ReplyControl(),
        model=model,
        turns=turns,
        requested_at=requested_at,
        provisional_title=provisional_title,
        first_user_text=first_user_text,
    )
    started = ReplyStarted(
        ConversationPublic.model_validate(conversation, from_attributes=True), None, message
    )
    return job, started


def _public(message: Message) -> MessagePublic:
    return MessagePublic.model_validate(message, from_attributes=True)


def _launch(job: _Job) -> None:
    get_replies().start(job.reply, job.control, _generate(job))


# ---- the generation task ------------------------------------------------------------------


async def _generate(job: _Job) -> None:
    settings = get_settings()
    reply = job.reply
    # Nothing from the provider reaches the live reply (and so the database, the websocket
    # and the API) without being made storable first.
    incoming = StorableStream()
    status: str = MessageStatus.COMPLETE
    error_detail: str | None = None
    ttft_ms: int | None = None
    usage: StreamEnd | None = None
    capped = False
    progress = progress_saver()
    metrics.reply_started()
    try:
        async with asyncio.timeout(settings.max_reply_seconds):
            stream = get_provider().stream_chat(
                model=job.model, messages=job.turns, max_tokens=settings.max_reply_tokens
            )
            try:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        if ttft_ms is None:
                            ttft_ms = round((time.monotonic() - job.requested_at) * 1000)
                        if not _append_capped(reply, incoming.feed(event.text)):
                            capped = True
                            break
                        # Saved with every other running reply's text, once per interval.
                        progress.mark(reply)
                    else:
                        usage = event
            finally:
                await stream.aclose()
        if capped:
            status, error_detail = MessageStatus.STOPPED, _size_cap_reached()
        elif usage is not None and usage.finish_reason == "length":
            status = MessageStatus.STOPPED
            error_detail = (
                f"The reply reached the length limit ({settings.max_reply_tokens:,} tokens)."
            )
    except TimeoutError:
        status = MessageStatus.STOPPED
        error_detail = f"The reply reached the time limit ({settings.max_reply_seconds:g} s)."
    except asyncio.CancelledError:
        if job.control.fenced:
            await _hand_off(job, await progress.finish(reply.message_id))
            return
        # Stopped by a user, or the process is shutting down (then the next start would mark
        # it interrupted anyway; saying so now keeps the record honest).
        status = MessageStatus.STOPPED if job.control.stop_requested else MessageStatus.INTERRUPTED
    except ProviderError as exc:
        status = MessageStatus.ERROR
        # Provider-supplied words can be part of the message (a 400's reason): storable too.
        error_detail = storable(exc.user_message)
        metrics.provider_error(exc.kind)
        log.warning("provider error in reply %s: %s (%s)", reply.message_id, exc.kind, exc.detail)
    except Exception:
        status = MessageStatus.ERROR
        error_detail = "Something went wrong while writing this reply. The text so far is kept."
        log.exception("reply %s failed", reply.message_id)
    if not _append_capped(reply, incoming.flush()) and status == MessageStatus.COMPLETE:
        status, error_detail = MessageStatus.STOPPED, _size_cap_reached()
    job.control.ending = True
    # How much of the text the row holds: what a failed final write leaves.
    saved_chars = await progress.finish(reply.message_id)
    try:
        await _finish(job, status, error_detail, ttft_ms, usage, saved_chars)
    finally:
        # Followers must learn the reply ended whatever happened above.
        if not reply.finished:
            reply.finish(_final_message(job, content=reply.text(), status=status), None)
        ttft_s = None if ttft_ms is None else ttft_ms / 1000
        metrics.reply_finished(status, ttft_s, time.monotonic() - job.requested_at)
        await get_replies().done(reply)


async def _hand_off(job: _Job, saved_chars: int) -> None:
    """This process lost the reply's lease (it was frozen, or cut off from Redis for longer
    than the lease): it may be ended elsewhere by now, so nothing more is written. Followers
    here see what the row holds: the text of the last progress save, "interrupted"."""
    reply = job.reply
    text = reply.text()[:saved_chars]
    reply.finish(_final_message(job, content=text, status=MessageStatus.INTERRUPTED), None)
    metrics.reply_finished(MessageStatus.INTERRUPTED, None, time.monotonic() - job.requested_at)
    await get_replies().done(reply)


def _size_cap_reached() -> str:
    return f"The reply reached the length limit ({get_settings().max_reply_chars:,} characters)."


def _append_capped(reply: LiveReply, text: str) -> bool:
    """Append up to the reply size cap; False when ``text`` did not fit whole (cut there)."""
    room = get_settings().max_reply_chars - reply.length
    if len(text) <= room:
        reply.append(text)
        return True
    reply.append(text[: max(0, room)])
    return False


async def _save(job: _Job, **values: object) -> bool:
    async with session_scope() as session:
        return await messages_repo.save_progress(
            session,
            job.reply.owner_id,
            job.reply.message_id,
            **values,  # type: ignore[arg-type]
        )


def _final_message(job: _Job, **values: object) -> MessagePublic:
    """The reply as its final write leaves the row (built here: no follower reads it back)."""
    return job.message.model_copy(update=values)


async def _finish(
    job: _Job,
    status: str,
    error_detail: str | None,
    ttft_ms: int | None,
    usage: StreamEnd | None,
    saved_chars: int,
) -> None:
    reply = job.reply
    final: dict[str, object] = {
        "content": reply.text(),
        "status": status,
        "error_detail": error_detail,
        "ttft_ms": ttft_ms,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
    }
    written = await _write_final(job, final)
    if written is None:
        # Ended by someone else first (Stop with no writer in reach, or a sweeper that took us
        # for dead): the row is final already, and what it holds is the truth.
        message = await _stored_or(job, _final_message(job, **final))
    elif written:
        message = _final_message(job, **final)
    else:
        # The row keeps the text of the last progress save; it must not keep "streaming".
        status, error_detail = MessageStatus.INTERRUPTED, FINAL_WRITE_FAILED
        await _write_ending_only(job, status, error_detail)
        message = _final_message(
            job, content=reply.text()[:saved_chars], status=status, error_detail=error_detail
        )
    reply.finish(message, await _touched_conversation(job))
    if job.provisional_title and status == MessageStatus.COMPLETE and reply.text().strip():
        try:
            await _retitle(job, job.provisional_title)
        except Exception:
            log.warning("auto-title of reply %s failed", reply.message_id, exc_info=True)


async def _touched_conversation(job: _Job) -> ConversationPublic | None:
    """Mark the conversation active; read back in the same transaction for the followers."""
    reply = job.reply
    try:
        async with session_scope() as session:
            await conversations_repo.touch(session, reply.owner_id, reply.conversation_id)
            row = await conversations_repo.get(session, reply.owner_id, reply.conversation_id)
            return (
                None
                if row is None
                else ConversationPublic.model_validate(row, from_attributes=True)
            )
    except Exception:
        log.warning("could not touch conversation %s", reply.conversation_id, exc_info=True)
        return None


async def _write_final(job: _Job, final: dict[str, object]) -> bool | None:
    """The last write of text, status and usage, retried; False when every attempt failed,
    None when the row was not "streaming" any more (ended by someone else)."""
    for attempt in range(FINAL_SAVE_ATTEMPTS):
        try:
            return True if await _save(job, **final) else None
        except Exception:
            # Any failure, not only the database's: this write is what ends the reply.
            log.warning(
                "final save of reply %s failed (attempt %d of %d)",
                job.reply.message_id,
                attempt + 1,
                FINAL_SAVE_ATTEMPTS,
                exc_info=True,
            )
            if attempt < FINAL_SAVE_ATTEMPTS - 1:
                await asyncio.sleep(0.2 * (attempt + 1))
    return False


async def _stored_or(job: _Job, fallback: MessagePublic) -> MessagePublic:
    reply = job.reply
    try:
        async with session_scope() as session:
            row = await messages_repo.get(session, reply.owner_id, reply.message_id)
    except Exception:
        log.warning("could not read back reply %s", reply.message_id, exc_info=True)
        return fallback
    return fallback if row is None else _public(row)


async def _write_ending_only(job: _Job, status: str, error_detail: str) -> None:
    reply = job.reply
    try:
        async with session_scope() as session:
            await messages_repo.end_streaming_reply(
                session, reply.owner_id, reply.message_id, status=status, error_detail=error_detail
            )
    except Exception:
        log.error(
            "reply %s could not be ended in the database; it blocks nothing in this process",
            reply.message_id,
            exc_info=True,
        )
        get_replies().unsaved_endings[reply.message_id] = UnsavedEnding(
            reply.owner_id, reply.conversation_id
        )


async def _retitle(job: _Job, provisional_title: str) -> None:
    reply = job.reply
    title = await _auto_title(job)
    if title and title != provisional_title:
        async with session_scope() as session:
            changed = await conversations_repo.set_title_if_unchanged(
                session,
                reply.owner_id,
                reply.conversation_id,
                expected=provisional_title,
                title=title,
            )
        if changed:
            reply.set_title(title)


async def _auto_title(job: _Job) -> str | None:
    """Ask the model for a title; on any failure the provisional title (first words) stays."""
    # The exchange as real turns, then the request: models (and the offline demo, which titles
    # from the first user turn) see the user's words as the user's words.
    turns = [
        ChatTurn(role="system", content=TITLE_PROMPT),
        ChatTurn(role="user", content=job.first_user_text[:1000]),
        ChatTurn(role="assistant", content=job.reply.text()[:1000]),
        ChatTurn(role="user", content=TITLE_REQUEST),
    ]
    try:
        async with asyncio.timeout(TITLE_TIMEOUT_SECONDS):
            raw = await get_provider().complete(model=job.model, messages=turns, max_tokens=24)
    except (ProviderError, TimeoutError):
        return None
    title = clean_title(storable(raw).strip().strip("\"'“”«»").rstrip("."))
    return title[:80] or None
