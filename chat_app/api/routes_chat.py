"""Conversations and messages, including streamed replies (SSE) — the same services as the UI."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from fastapi.responses import StreamingResponse

from chat_app.api.deps import CurrentUser
from chat_app.api.schemas import (
    ConversationCreateRequest,
    ConversationList,
    ConversationOut,
    ConversationUpdateRequest,
    EditMessageRequest,
    MessageList,
    ModelOut,
    ReplyStartedOut,
    SendMessageRequest,
    StopResult,
)
from chat_app.api.sse import parse_offset, reply_events
from chat_app.models.conversation import ConversationPublic
from chat_app.services import chat, generation, replies
from chat_app.services.generation import ReplyStarted

router = APIRouter(prefix="/api/v1", tags=["chat"])

SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: start, delta, usage, error, done.",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}
SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def _out(conversation: ConversationPublic) -> ConversationOut:
    return ConversationOut(**conversation.model_dump(exclude={"id"}), id=str(conversation.id))


def _started(user_id: Any, started: ReplyStarted, stream: bool) -> Any:
    summary = ReplyStartedOut(
        conversation_id=str(started.conversation.id),
        user_message=started.user_message,
        assistant_message=started.assistant_message,
    )
    if not stream:
        return summary
    events = reply_events(
        user_id,
        started.conversation.id,
        started.assistant_message.id,
        start=summary.model_dump(mode="json"),
    )
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


@router.get("/models", response_model=list[ModelOut])
async def list_models(user: CurrentUser) -> list[ModelOut]:
    return [
        ModelOut(id=m.id, label=m.label, is_demo=m.is_demo) for m in await chat.available_models()
    ]


@router.get("/conversations", response_model=ConversationList)
async def list_conversations(
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 30,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    q: Annotated[str | None, Query(max_length=200, description="Search titles and text")] = None,
) -> ConversationList:
    page = await chat.list_conversations(user.id, limit=limit, cursor=cursor, search=q)
    return ConversationList(items=[_out(c) for c in page.items], next_cursor=page.next_cursor)


@router.post("/conversations", response_model=ConversationOut, status_code=201)
async def create_conversation(
    body: ConversationCreateRequest, user: CurrentUser
) -> ConversationOut:
    return _out(
        await chat.create_conversation(
            user.id, title=body.title, model=body.model, system_prompt=body.system_prompt
        )
    )


@router.get("/conversations/{conversation_id}", response_model=ConversationOut)
async def get_conversation(conversation_id: str, user: CurrentUser) -> ConversationOut:
    return _out(await chat.get_conversation(user.id, conversation_id))


@router.patch("/conversations/{conversation_id}", response_model=ConversationOut)
async def update_conversation(
    conversation_id: str, body: ConversationUpdateRequest, user: CurrentUser
) -> ConversationOut:
    return _out(
        await chat.update_conversation(
            user.id,
            conversation_id,
            title=body.title,
            model=body.model,
            system_prompt=body.system_prompt,
        )
    )


@router.delete("/conversations/{conversation_id}", status_code=204)
async def delete_conversation(conversation_id: str, user: CurrentUser) -> Response:
    await chat.delete_conversation(user.id, conversation_id)
    return Response(status_code=204)


@router.get("/conversations/{conversation_id}/messages", response_model=MessageList)
async def list_messages(
    conversation_id: str,
    user: CurrentUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> MessageList:
    page = await chat.list_messages_page(user.id, conversation_id, limit=limit, cursor=cursor)
    return MessageList(items=page.items, next_cursor=page.next_cursor)


@router.post(
    "/conversations/{conversation_id}/messages",
    response_model=ReplyStartedOut,
    responses=SSE_RESPONSE,
)
async def send_message(conversation_id: str, body: SendMessageRequest, user: CurrentUser) -> Any:
    """Send a user message; with ``stream`` (default) the reply streams back as SSE."""
    started = await generation.send_message(
        user.id, conversation_id, body.content, model=body.model
    )
    return _started(user.id, started, body.stream)


@router.post(
    "/conversations/{conversation_id}/regenerate",
    response_model=ReplyStartedOut,
    responses=SSE_RESPONSE,
)
async def regenerate(
    conversation_id: str, user: CurrentUser, stream: Annotated[bool, Query()] = True
) -> Any:
    return _started(user.id, await generation.regenerate_last(user.id, conversation_id), stream)


@router.put(
    "/conversations/{conversation_id}/last-user-message",
    response_model=ReplyStartedOut,
    responses=SSE_RESPONSE,
)
async def edit_last_user_message(
    conversation_id: str, body: EditMessageRequest, user: CurrentUser
) -> Any:
    started = await generation.edit_last_user_message(user.id, conversation_id, body.content)
    return _started(user.id, started, body.stream)


@router.get("/conversations/{conversation_id}/reply", responses=SSE_RESPONSE)
async def follow_reply(
    conversation_id: str,
    user: CurrentUser,
    offset: Annotated[int | None, Query(ge=0)] = None,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    """Follow the latest reply (live or finished) from ``offset`` / ``Last-Event-ID``."""
    reply = await chat.latest_reply(user.id, conversation_id)
    events = reply_events(
        user.id, reply.conversation_id, reply.id, offset=parse_offset(last_event_id, offset)
    )
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


@router.post("/conversations/{conversation_id}/stop", response_model=StopResult)
async def stop_reply(conversation_id: str, user: CurrentUser) -> StopResult:
    await chat.get_conversation(user.id, conversation_id)  # 404 for ids that aren't the user's
    return StopResult(stopped=await replies.stop_reply(user.id, conversation_id))
