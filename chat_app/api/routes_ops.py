"""For operators: GET /api/v1/health (public, no secrets) and GET /metrics (behind a token)."""

from __future__ import annotations

import hashlib
import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from chat_app.api.errors import ApiError
from chat_app.api.schemas import DatabaseHealthOut, HealthOut, RedisHealthOut
from chat_app.core import metrics
from chat_app.core.settings import get_settings
from chat_app.services.health import Health, check_health

router = APIRouter(tags=["operations"])
# Probes and scrapes describe this moment: no cache may answer for them.
_NO_STORE = {"Cache-Control": "no-store"}


@router.get(
    "/api/v1/health",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "The database or Redis is not answering"}},
)
async def health() -> JSONResponse:
    """No authentication: load balancers call it. It names no host, URL or error text."""
    result = await check_health()
    return JSONResponse(
        _health_out(result).model_dump(mode="json"),
        status_code=200 if result.ok else 503,
        headers=_NO_STORE,
    )


def _health_out(result: Health) -> HealthOut:
    database = DatabaseHealthOut(
        ok=result.database.ok,
        latency_ms=result.database.latency_ms,
        reason=result.database.reason,
    )
    if result.redis is None:
        redis = RedisHealthOut(configured=False, ok=None, latency_ms=None, reason=None)
    else:
        redis = RedisHealthOut(
            configured=True,
            ok=result.redis.ok,
            latency_ms=result.redis.latency_ms,
            reason=result.redis.reason,
        )
    return HealthOut(status="ok" if result.ok else "degraded", database=database, redis=redis)


@router.get("/metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format. METRICS_TOKEN unset: 404, as if there were no such route.
    Set: the scraper sends ``Authorization: Bearer <METRICS_TOKEN>``; anything else is a 401."""
    expected = get_settings().metrics_token
    if not expected:
        raise ApiError(404, "not_found", "Not Found")
    if not _token_matches(request.headers.get("authorization", ""), expected):
        raise ApiError(
            401,
            "not_authenticated",
            "Send the metrics token as a bearer token.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Response(metrics.render(), media_type=metrics.CONTENT_TYPE, headers=_NO_STORE)


def _token_matches(header: str, expected: str) -> bool:
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Digests of equal length: the comparison time says nothing about the token, not even
    # its length.
    presented_digest = hashlib.sha256(presented.strip().encode("utf-8", "surrogatepass")).digest()
    expected_digest = hashlib.sha256(expected.encode("utf-8")).digest()
    return hmac.compare_digest(presented_digest, expected_digest)
