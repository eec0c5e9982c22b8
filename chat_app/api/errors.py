"""JSON error bodies with the right status, for every failure, on every route.

Body shape: ``{"error": {"code": "...", "message": "...", "fields": {...}?}}``. Someone else's
id is a 404 exactly like a missing one. No input reaches the generic 500 handler by design; it
exists so that a bug still answers in JSON without leaking a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from chat_app.services.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    Refused,
    ServiceError,
    TooLarge,
    Unavailable,
)

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _service_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    if isinstance(exc, NotFound):
        return error_response(404, "not_found", exc.message)
    if isinstance(exc, TooLarge):
        return error_response(413, "too_large", exc.message, fields=exc.fields)
    if isinstance(exc, InvalidInput):
        return error_response(422, "invalid_input", exc.message, fields=exc.fields)
    if isinstance(exc, Conflict):
        return error_response(409, "conflict", exc.message)
    if isinstance(exc, Refused):
        if exc.retry_after is not None:
            retry = str(max(1, round(exc.retry_after)))
            return error_response(429, "rate_limited", exc.message, headers={"Retry-After": retry})
        return error_response(403, "refused", exc.message)
    if isinstance(exc, Unavailable):
        retry = str(max(1, round(exc.retry_after)))
        return error_response(503, "unavailable", exc.message, headers={"Retry-After": retry})
    return error_response(400, "bad_request", exc.message)


def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, headers=exc.headers)


# Pydantic cannot measure a string holding a lone surrogate ("unable to parse raw data as a
# unicode string"); identifiers and secrets (email, password, model) are refused with this.
UNSTORABLE_TEXT = "Contains a character it cannot hold (NUL or an unpaired surrogate). Retype it."


def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    fields: dict[str, str] = {}
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        message = UNSTORABLE_TEXT if error.get("type") == "string_unicode" else error.get("msg")
        fields.setdefault(location or "body", str(message or "invalid"))
    return error_response(422, "invalid_input", "The request is not valid.", fields=fields)


def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated"}
    return error_response(
        exc.status_code,
        codes.get(exc.status_code, "http_error"),
        str(exc.detail),
        headers=getattr(exc, "headers", None),
    )


def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled API error", exc_info=exc)
    return error_response(500, "internal_error", "Something went wrong on the server.")


def install_error_handlers(api: FastAPI) -> None:
    api.add_exception_handler(ServiceError, _service_error)
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    api.add_exception_handler(StarletteHTTPException, _http_error)
    api.add_exception_handler(Exception, _unexpected)
