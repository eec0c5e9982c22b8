"""Reflex configuration. Runtime settings come from chat_app.core.settings (the environment)."""

import reflex as rx
from reflex_base.plugins.sitemap import SitemapPlugin
from reflex_components_radix.plugin import RadixThemesPlugin

config = rx.Config(
    app_name="chat_app",
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[RadixThemesPlugin(theme=rx.theme(accent_color="violet", radius="medium"))],
    # A private app has no public pages to list.
    disable_plugins=[SitemapPlugin],
)
