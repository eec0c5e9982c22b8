"""What operators scrape at /metrics: the app's Prometheus metrics, in one place.

Services call the small functions below (``reply_started()``, ``reply_finished(...)``, ...);
nothing else touches a metric object. The objects are built on first use, not at import, so a
bad setting is reported by the settings object rather than by an import error.

One process: values live in this process and ``render()`` exposes them. Several worker processes
on one host (WORKERS>1): each worker writes its values to files in PROMETHEUS_MULTIPROC_DIR and
``render()`` (in whichever worker a scrape reaches) adds them up. prometheus_client decides
which of the two it does from the *environment* variable when it is imported, so the variable
must be in every worker's environment (a value only in .env is refused by ``render()``). Gauges
use "livesum": the sum over live workers; the launcher removes a dead worker's gauge files with
``mark_process_dead(pid)`` and empties the folder before the workers start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

from chat_app.core.settings import get_settings

log = logging.getLogger(__name__)

CONTENT_TYPE = CONTENT_TYPE_LATEST
# From a fast local model (~50 ms) to a provider queueing the request for a minute.
TTFT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)
# Replies run from a second (a short answer) to MAX_REPLY_SECONDS (300 s by default).
DURATION_BUCKETS = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 40.0, 60.0, 120.0, 300.0, 600.0)


@dataclass(frozen=True)
class _Metrics:
    registry: CollectorRegistry
    live_replies: Gauge
    replies: Counter
    ttft: Histogram
    duration: Histogram
    provider_errors: Counter
    connected_tabs: Gauge
    redis_reconnects: Counter


@lru_cache
def _metrics() -> _Metrics:
    # Our own registry: only these metrics are exposed (nothing another library registered).
    registry = CollectorRegistry(auto_describe=True)
    return _Metrics(
        registry=registry,
        live_replies=Gauge(
            "chat_live_replies",
            "Replies being generated now.",
            multiprocess_mode="livesum",
            registry=registry,
        ),
        replies=Counter(
            "chat_replies_finished",
            "Replies that ended, by final status (complete, stopped, error, interrupted).",
            ["status"],
            registry=registry,
        ),
        ttft=Histogram(
            "chat_reply_time_to_first_token_seconds",
            "From the user's request to the first text of the reply.",
            buckets=TTFT_BUCKETS,
            registry=registry,
        ),
        duration=Histogram(
            "chat_reply_duration_seconds",
            "From the user's request to the end of the reply, whatever its status.",
            buckets=DURATION_BUCKETS,
            registry=registry,
        ),
        provider_errors=Counter(
            "chat_provider_errors",
            "Replies ended by a model provider error, by kind (timeout, unreachable, ...).",
            ["kind"],
            registry=registry,
        ),
        connected_tabs=Gauge(
            "chat_connected_tabs",
            "Browser tabs with a live websocket to this app (sampled every few seconds).",
            multiprocess_mode="livesum",
            registry=registry,
        ),
        redis_reconnects=Counter(
            "chat_redis_reconnects",
            "Redis connection errors after which the app reconnects (readers, the send rate, "
            "health probes).",
            registry=registry,
        ),
    )


# ---- what the services call -----------------------------------------------------------------


def reply_started() -> None:
    _metrics().live_replies.inc()


def reply_finished(status: str, ttft_seconds: float | None, duration_seconds: float) -> None:
    """Once per reply that ``reply_started()`` counted, whatever ended it."""
    m = _metrics()
    m.live_replies.dec()
    m.replies.labels(status=status).inc()
    if ttft_seconds is not None:
        m.ttft.observe(ttft_seconds)
    m.duration.observe(max(0.0, duration_seconds))


def provider_error(kind: str) -> None:
    _metrics().provider_errors.labels(kind=kind).inc()


def set_connected_tabs(count: int) -> None:
    _metrics().connected_tabs.set(count)


def count_redis_reconnect() -> None:
    """Call when a Redis connection error was caught and the caller will reconnect."""
    _metrics().redis_reconnects.inc()


# ---- exposition -----------------------------------------------------------------------------


def render() -> bytes:
    """The text exposition format: this process's values, or every worker's added up."""
    m = _metrics()
    directory = get_settings().prometheus_multiproc_dir
    if directory is None:
        return generate_latest(m.registry)
    if not getattr(values.ValueClass, "_multiprocess", False):
        # Set in .env only: the workers keep their values in memory, the files stay empty.
        raise RuntimeError(
            "PROMETHEUS_MULTIPROC_DIR must be set in the environment of every worker process "
            "(prometheus_client reads it from the environment when it is imported), not only "
            "in .env."
        )
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(directory))
    return generate_latest(registry)


def mark_process_dead(pid: int) -> None:
    """For the launcher, when a worker exits: its "live" gauges stop counting."""
    directory = get_settings().prometheus_multiproc_dir
    if directory is not None:
        multiprocess.mark_process_dead(pid, path=str(directory))
