"""Reflex configuration. Runtime settings come from chat_app.core.settings (the environment)."""

import reflex as rx
from reflex_base.constants import StateManagerMode
from reflex_base.plugins.sitemap import SitemapPlugin
from reflex_components_radix.plugin import RadixThemesPlugin

from chat_app.core.settings import OriginSettings, RedisSettings

redis_url = RedisSettings().redis_url

config = rx.Config(
    app_name="chat_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[RadixThemesPlugin(theme=rx.theme(accent_color="violet", radius="medium"))],
    # A private app has no public pages to list.
    disable_plugins=[SitemapPlugin],
    # Tab state is a cache (conversations live in the database and reload on reconnect), so it
    # is kept in memory: the default on-disk manager re-pickles and periodically stat()s one
    # file per tab and substate, which cost 30 % of the worker's CPU at 200 streaming users
    # (docs/benchmarks.md). With REDIS_URL (several processes) tab state lives in Redis, so a
    # tab whose socket lands on another process keeps it.
    state_manager_mode=StateManagerMode.REDIS if redis_url else StateManagerMode.MEMORY,
    redis_url=redis_url or None,
    # How long one event may hold a tab's state lock in Redis (Reflex's default is 10 s). An
    # overloaded process (the two-process bench at 200 users) took longer than 10 s for a send
    # and lost its state write (LockExpiredError); a crashed holder now blocks its tab this long.
    redis_lock_expiration=60_000,
    # Reflex's default is "*" with credentials: any page could read responses with the user's
    # cookie. Only the configured origins (APP_URL, ALLOWED_ORIGINS) get CORS headers; with
    # none configured, no cross-origin page does (the app's own pages are same-origin).
    # chat_app/api/trusted_origin.py refuses foreign websocket handshakes and cookie requests.
    cors_allowed_origins=list(OriginSettings().trusted_origins),
)
