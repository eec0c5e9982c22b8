"""Generating replies: a server-side task per reply that outlives any browser tab.

Flow: ``send_message`` stores the user's message and an empty assistant message marked
"streaming", then starts ``_generate`` as an asyncio task owned by the process (not by the
Reflex event that asked for it). The task streams from the provider into a ``LiveReply``
(viewers follow it), saves the text so far at least every ``save_interval_seconds`` (so at most
about a second of text is at risk if the process dies), and ends with one final write of text,
status and usage. Replies a dead process left "streaming" become "interrupted" at the next start
(see maintenance.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from chat_app.core.db import session_scope
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
from chat_app.services.chat import create_conversation, parse_id
from chat_app.services.context import build_turns
from chat_app.services.errors import Conflict, InvalidInput, NotFound, Refused
from chat_app.services.live import LiveReply, LocalReplyBus
from chat_app.services.text_rules import (
    storable,
    title_from_text,
    user_text,
    validate_user_message,
)
from chat_app.services.throttle import FailureThrottle

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

_bus = LocalReplyBus()
_tasks: dict[uuid.UUID, asyncio.Task[None]] = {}
_send_limits: dict[int, FailureThrottle] = {}


def _check_send_rate(user_id: uuid.UUID) -> None:
    """One budget per user for everything that asks the model, from the UI and the API alike."""
    per_minute = get_settings().send_rate_per_minute
    if per_minute == 0:
        return
    limiter = _send_limits.setdefault(per_minute, FailureThrottle(per_minute, 60.0))
    wait = limiter.hit(str(user_id))
    if wait is not None:
        raise Refused(
            f"You are sending messages too quickly. Try again in {max(1, round(wait))} s.",
            retry_after=wait,
        )


@dataclass(frozen=True)
class ReplyStarted:
    conversation: ConversationPublic
    user_message: MessagePublic | None
    assistant_message: MessagePublic


@dataclass
class _Job:
    reply: LiveReply
    model: str
    turns: list[ChatTurn]
    requested_at: float
    provisional_title: str | None  # set when this reply should trigger an auto-title
    first_user_text: str
    stop_requested: bool = False


def reply_bus() -> LocalReplyBus:
    return _bus


def live_reply_for(user_id: uuid.UUID, conversation_id: object) -> LiveReply | None:
    """The reply being generated in this conversation, if the user owns it."""
    try:
        cid = parse_id(conversation_id)
    except NotFound:
        return None
    reply = _bus.get(cid)
    return reply if reply is not None and reply.owner_id == user_id else None


# ---- starting replies ---------------------------------------------------------------------


async def send_message(
    user_id: uuid.UUID, conversation_id: object | None, text: object, *, model: str | None = None
) -> ReplyStarted:
    """Store the user's message and start the reply. ``conversation_id=None`` starts a new chat."""
    settings = get_settings()
    content = validate_user_message(text, settings.max_message_chars)
    if model:
        model = user_text(model, "model", refuse=True)
    _check_send_rate(user_id)
    requested_at = time.monotonic()
    async with session_scope() as session:
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
            session, user_id, conversation, [*history, user_message], requested_at
        )
    job.provisional_title = provisional_title
    job.first_user_text = content
    _launch(job)
    return ReplyStarted(started.conversation, _public(user_message), started.assistant_message)


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
    _check_send_rate(user_id)
    requested_at = time.monotonic()
    async with session_scope() as session:
        conversation = await _owned_conversation(session, user_id, conversation_id)
        await _refuse_if_streaming(session, user_id, conversation.id)
        history = await messages_repo.list_for_conversation(session, user_id, conversation.id)
        last_user = _last_user_message(history)
        after = [m for m in history if m.created_at > last_user.created_at]
        if after:
            await messages_repo.delete_from(session, user_id, conversation.id, after[0])
        kept = [m for m in history if m.created_at <= last_user.created_at]
        job, started = await _prepare_reply(session, user_id, conversation, kept, requested_at)
    _launch(job)
    return started


async def edit_last_user_message(
    user_id: uuid.UUID, conversation_id: object, text: object
) -> ReplyStarted:
    """Replace the last user message (and the reply to it), then re-run from there."""
    settings = get_settings()
    content = validate_user_message(text, settings.max_message_chars)
    _check_send_rate(user_id)
    requested_at = time.monotonic()
    async with session_scope() as session:
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
    _launch(job)
    return ReplyStarted(started.conversation, _public(user_message), started.assistant_message)


async def stop_reply(user_id: uuid.UUID, conversation_id: object) -> bool:
    """Stop the reply being written in this conversation; the text so far is kept."""
    reply = live_reply_for(user_id, conversation_id)
    if reply is None or reply.finished:
        return False
    task = _tasks.get(reply.conversation_id)
    job = getattr(task, "job", None)
    if task is None or job is None:
        return False
    job.stop_requested = True
    task.cancel()
    return True


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
    live = _bus.get(conversation_id)
    if live is not None and not live.finished:
        raise Conflict(ALREADY_STREAMING)
    # A reply older than the time cap is dead whatever its row says (its final write failed):
    # without this, one failed write would block the conversation until the next restart.
    settings = get_settings()
    cutoff = utcnow() - timedelta(seconds=settings.max_reply_seconds + STALE_MARGIN_SECONDS)
    await messages_repo.interrupt_stale_replies(
        session, user_id, conversation_id, started_before=cutoff
    )
    if await messages_repo.has_streaming_reply(session, user_id, conversation_id):
        raise Conflict(ALREADY_STREAMING)


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
    if not _bus.open(reply):
        raise Conflict(ALREADY_STREAMING)
    job = _Job(
        reply=reply,
        model=model,
        turns=turns,
        requested_at=requested_at,
        provisional_title=None,
        first_user_text="",
    )
    started = ReplyStarted(
        ConversationPublic.model_validate(conversation, from_attributes=True),
        None,
        _public(assistant),
    )
    return job, started


def _public(message: Message) -> MessagePublic:
    return MessagePublic.model_validate(message, from_attributes=True)


def _launch(job: _Job) -> None:
    task = asyncio.create_task(_generate(job), name=f"reply-{job.reply.message_id}")
    task.job = job  # type: ignore[attr-defined]
    _tasks[job.reply.conversation_id] = task


# ---- the generation task ------------------------------------------------------------------


async def _generate(job: _Job) -> None:
    settings = get_settings()
    reply = job.reply
    status: str = MessageStatus.COMPLETE
    error_detail: str | None = None
    ttft_ms: int | None = None
    usage: StreamEnd | None = None
    last_save = time.monotonic()
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
                        reply.append(storable(event.text))
                        if time.monotonic() - last_save >= settings.save_interval_seconds:
                            last_save = time.monotonic()
                            await _save(job, content=reply.text())
                    else:
                        usage = event
            finally:
                await stream.aclose()
        if usage is not None and usage.finish_reason == "length":
            status = MessageStatus.STOPPED
            error_detail = (
                f"The reply reached the length limit ({settings.max_reply_tokens:,} tokens)."
            )
    except TimeoutError:
        status = MessageStatus.STOPPED
        error_detail = f"The reply reached the time limit ({settings.max_reply_seconds:g} s)."
    except asyncio.CancelledError:
        # Stopped by a user, or the process is shutting down (then the next start would mark
        # it interrupted anyway; saying so now keeps the record honest).
        status = MessageStatus.STOPPED if job.stop_requested else MessageStatus.INTERRUPTED
    except ProviderError as exc:
        status = MessageStatus.ERROR
        error_detail = exc.user_message
        log.warning("provider error in reply %s: %s (%s)", reply.message_id, exc.kind, exc.detail)
    except Exception:
        status = MessageStatus.ERROR
        error_detail = "Something went wrong while writing this reply. The text so far is kept."
        log.exception("reply %s failed", reply.message_id)
    try:
        await _finish(job, status, error_detail, ttft_ms, usage)
    finally:
        # Followers must learn the reply ended even if the database did not take the last write
        # (the row then stays "streaming" and becomes "interrupted" at the next start).
        if not reply.finished:
            reply.finish(status, error_detail)
        _bus.release(reply)
        if _tasks.get(reply.conversation_id) is asyncio.current_task():
            del _tasks[reply.conversation_id]


async def _save(job: _Job, **values: object) -> None:
    async with session_scope() as session:
        await messages_repo.save_progress(
            session,
            job.reply.owner_id,
            job.reply.message_id,
            **values,  # type: ignore[arg-type]
        )


async def _finish(
    job: _Job,
    status: str,
    error_detail: str | None,
    ttft_ms: int | None,
    usage: StreamEnd | None,
) -> None:
    reply = job.reply
    final = {
        "content": reply.text(),
        "status": status,
        "error_detail": error_detail,
        "ttft_ms": ttft_ms,
        "prompt_tokens": usage.prompt_tokens if usage else None,
        "completion_tokens": usage.completion_tokens if usage else None,
    }
    for attempt in range(FINAL_SAVE_ATTEMPTS):
        try:
            await _save(job, **final)
            break
        except SQLAlchemyError:
            if attempt == FINAL_SAVE_ATTEMPTS - 1:
                raise
            log.warning("final save of reply %s failed; retrying", reply.message_id)
            await asyncio.sleep(0.2 * (attempt + 1))
    async with session_scope() as session:
        await conversations_repo.touch(session, reply.owner_id, reply.conversation_id)
    reply.finish(status, error_detail)
    if job.provisional_title and status == MessageStatus.COMPLETE and reply.text().strip():
        title = await _auto_title(job)
        if title and title != job.provisional_title:
            async with session_scope() as session:
                changed = await conversations_repo.set_title_if_unchanged(
                    session,
                    reply.owner_id,
                    reply.conversation_id,
                    expected=job.provisional_title,
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
    title = clean_title(raw.strip().strip("\"'“”«»").rstrip("."))
    return title[:80] or None
