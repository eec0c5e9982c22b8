"""Export (JSON, Markdown) and import (our JSON, ChatGPT's conversations.json)."""

from __future__ import annotations

import re
from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse

from chat_app.api.deps import CurrentUser
from chat_app.services import transfer
from chat_app.services.errors import TooLarge

router = APIRouter(prefix="/api/v1", tags=["import/export"])

ExportFormat = Literal["json", "markdown"]


def _download(body: Any, fmt: ExportFormat, stem: str) -> JSONResponse | PlainTextResponse:
    safe_stem = re.sub(r"[^A-Za-z0-9._-]+", "-", stem).strip("-")[:60] or "chat-export"
    if fmt == "markdown":
        return PlainTextResponse(
            body,
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{safe_stem}.md"'},
        )
    return JSONResponse(
        body, headers={"Content-Disposition": f'attachment; filename="{safe_stem}.json"'}
    )


@router.get("/export")
async def export_all(user: CurrentUser, format: Annotated[ExportFormat, Query()] = "json") -> Any:
    """All of the caller's conversations."""
    if format == "markdown":
        return _download(await transfer.export_markdown(user.id), format, "chat-export")
    return _download(await transfer.export_json(user.id), format, "chat-export")


@router.get("/conversations/{conversation_id}/export")
async def export_one(
    conversation_id: str, user: CurrentUser, format: Annotated[ExportFormat, Query()] = "json"
) -> Any:
    if format == "markdown":
        body: Any = await transfer.export_markdown(user.id, conversation_id)
    else:
        body = await transfer.export_json(user.id, conversation_id)
    return _download(body, format, f"conversation-{conversation_id[:8]}")


@router.post(
    "/import",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def import_conversations(
    request: Request,
    user: CurrentUser,
    source: Annotated[Literal["native", "chatgpt"], Query()] = "native",
) -> dict[str, Any]:
    """Import a file from our own export (all or nothing) or a ChatGPT ``conversations.json``
    (each conversation imported or skipped with a reason). The raw file is the request body."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > transfer.MAX_IMPORT_BYTES:
        raise TooLarge(_too_large())
    raw = bytearray()
    async for chunk in request.stream():
        raw.extend(chunk)
        if len(raw) > transfer.MAX_IMPORT_BYTES:
            raise TooLarge(_too_large())
    importer = transfer.import_chatgpt if source == "chatgpt" else transfer.import_json
    report = await importer(user.id, bytes(raw))
    return {
        "summary": report.summary(),
        "imported": [
            {**asdict(item), "conversation_id": str(item.conversation_id)}
            for item in report.imported
        ],
        "skipped": [asdict(item) for item in report.skipped],
        "omitted_messages": report.omitted_messages,
    }


def _too_large() -> str:
    return f"The file is larger than {transfer.MAX_IMPORT_BYTES // (1024 * 1024)} MB."
