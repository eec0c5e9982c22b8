"""Reflex configuration. Runtime settings come from chat_app.core.settings (the environment)."""

import reflex as rx
from reflex_base.constants import StateManagerMode
from reflex_base.plugins.sitemap import SitemapPlugin
from reflex_components_radix.plugin import RadixThemesPlugin

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
    # (docs/benchmarks.md). One worker per process; set REFLEX_REDIS_URL to share state
    # between several (Reflex then uses its Redis manager).
    state_manager_mode=StateManagerMode.MEMORY,
)
