"""The one reader of the environment.

Everything configurable lives here; no other module calls ``os.getenv``. Values come from the
environment or a ``.env`` file in the working directory.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from chat_app.core.origins import origin_of

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# Placeholders people copy from examples; refusing them in production is the point.
_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "your-secret-key", "dev", "development"}
MIN_SECRET_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 16
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class OriginSettings(BaseSettings):
    """Where the app is served from: the only origins whose pages may use a user's session.

    Separate from ``Settings`` because rxconfig.py reads it at build time too, where the
    production checks on ``Settings`` (a real SECRET_KEY) do not apply.
    """

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # The public URL users open, e.g. https://chat.example.com behind a reverse proxy. Empty: a
    # page is trusted only on the exact origin (scheme, host, port) its request was sent to.
    app_url: str = ""
    # More origins, comma-separated (e.g. a second hostname of the same deployment).
    allowed_origins: str = ""

    @field_validator("app_url", "allowed_origins")
    @classmethod
    def _origins_are_origins(cls, value: str) -> str:
        for item in _split(value):
            if origin_of(item) is None:
                raise ValueError(
                    f"{item!r} is not an http(s) URL with a host, e.g. https://chat.example.com"
                )
        return value.strip()

    @cached_property  # read by the Origin guard on every request
    def trusted_origins(self) -> tuple[str, ...]:
        """The configured origins, normalized; empty when APP_URL and ALLOWED_ORIGINS are unset."""
        found = (origin_of(item) for item in _split(self.app_url) + _split(self.allowed_origins))
        return tuple(dict.fromkeys(o for o in found if o is not None))


class RedisSettings(BaseSettings):
    """Whether several processes share one Redis (rxconfig.py reads this at build time too)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # Empty: one process, everything live kept in it (the embedded default). Set, e.g.
    # redis://127.0.0.1:6379/0: live replies, stop, leases, the send rate and Reflex's tab state
    # are shared through it, so several processes (WORKERS, several hosts) can serve one app.
    redis_url: str = ""
    # Every key this app writes starts with it: several deployments (or test runs) can share one
    # Redis database. Reflex's own keys (tab state) are named by tab tokens and need no prefix.
    redis_key_prefix: str = Field(default="chat:", min_length=1, max_length=64)

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            # The value itself stays out of the message: it may hold a password.
            raise ValueError(
                "REDIS_URL is not a redis://, rediss:// or unix:// URL, "
                "e.g. redis://127.0.0.1:6379/0"
            )
        return value

    @property
    def uses_redis(self) -> bool:
        return bool(self.redis_url)


class Settings(OriginSettings, RedisSettings):
    # A refused value is never echoed in the error (pydantic would print it, and with a
    # cross-field check the whole input, API key and tokens included, into the start-up log).
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, hide_input_in_errors=True
    )

    app_env: Literal["development", "production", "test"] = "development"
    data_dir: Path = PROJECT_ROOT / "data"
    database_url: str = ""  # empty: the embedded SQLite file in data_dir
    secret_key: str = ""
    session_lifetime_hours: float = Field(default=24 * 7, gt=0)
    allow_registration: bool = True

    # Reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed: comma-separated
    # IPs or CIDRs. Empty: forwarded headers are never trusted (see core/client_address.py).
    trusted_proxies: str = ""
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)

    # Model provider. No key and no base URL: the offline demo model.
    openai_api_key: str = ""
    openai_base_url: str = ""
    default_model: str = "gpt-4o-mini"
    # Comma-separated fallback list when the provider's /models does not answer.
    openai_models: str = ""
    provider_timeout_seconds: float = Field(default=60.0, gt=0)
    provider_connect_timeout_seconds: float = Field(default=10.0, gt=0)
    provider_max_retries: int = Field(default=2, ge=0)
    # Once a reply's first text is in, its stream is read at most this often (several tokens per
    # read: far less CPU per reply); 0 = every chunk as it comes. Below the UI's flush interval.
    provider_read_interval_seconds: float = Field(default=0.05, ge=0, le=1)

    # Generation caps and limits.
    max_reply_tokens: int = Field(default=4096, ge=1)
    max_reply_seconds: float = Field(default=300.0, gt=0)
    # Characters per reply: a model (or a server) can send one huge chunk, beyond any token cap.
    max_reply_chars: int = Field(default=100_000, ge=1)
    max_message_chars: int = Field(default=32_000, ge=1)
    context_budget_tokens: int = Field(default=16_000, ge=256)
    stream_flush_interval_seconds: float = Field(default=0.07, gt=0)
    save_interval_seconds: float = Field(default=1.0, gt=0)
    # Messages (sends, regenerations, edits) per user per minute, UI and API together; 0 = off.
    send_rate_per_minute: int = Field(default=30, ge=0)
    # On SIGTERM: how long running replies may go on before they are marked "interrupted".
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    # Backend processes on this host behind the one port (scripts/start.sh). More than one needs
    # REDIS_URL: the launch refuses it otherwise (chat_app/launch/server.py says why).
    workers: int = Field(default=1, ge=1, le=64)

    # Operations. /metrics answers only a request carrying "Authorization: Bearer <this>";
    # empty: /metrics answers 404 (never public by default).
    metrics_token: str = ""
    # Several worker processes on one host: the (empty, existing) folder where each worker
    # writes its metric values for /metrics to add up. prometheus_client reads the variable
    # from the environment itself, so it must be set there for every worker, not in .env only.
    prometheus_multiproc_dir: Path | None = None

    @field_validator("database_url")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("metrics_token")
    @classmethod
    def _metrics_token(cls, value: str) -> str:
        value = value.strip()
        if value and len(value) < MIN_METRICS_TOKEN_LENGTH:
            raise ValueError(
                f"METRICS_TOKEN is shorter than {MIN_METRICS_TOKEN_LENGTH} characters. Set it to "
                "a long random string, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`, or leave it "
                "empty to turn /metrics off."
            )
        return value

    @field_validator("prometheus_multiproc_dir", mode="before")
    @classmethod
    def _multiproc_dir(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        path = Path(str(value).strip())
        if not path.is_dir():
            raise ValueError(
                f"PROMETHEUS_MULTIPROC_DIR {str(path)!r} is not a directory. Create it (empty) "
                "before the workers start, or unset it when one process serves the app."
            )
        return path

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: str) -> str:
        _parse_networks(value)  # a typo must stop the start, not silently trust nobody
        return value

    @model_validator(mode="after")
    def _refuse_weak_secret_in_production(self) -> Settings:
        if self.app_env != "production":
            return self
        key = self.secret_key.strip()
        if not key:
            raise ValueError(
                "SECRET_KEY is not set. In production set SECRET_KEY to a random string of at "
                f"least {MIN_SECRET_LENGTH} characters, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`."
            )
        if key.lower() in _PLACEHOLDER_SECRETS or len(key) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"SECRET_KEY is a placeholder or shorter than {MIN_SECRET_LENGTH} characters. "
                "Set it to a long random string (see README)."
            )
        return self

    # ---- derived values -------------------------------------------------------------------

    @property
    def sync_database_url(self) -> str:
        """URL for Alembic and other synchronous callers."""
        url = self.database_url or f"sqlite:///{self.data_dir / 'chat.db'}"
        return _with_driver(url, sync=True)

    @property
    def async_database_url(self) -> str:
        return _with_driver(self.sync_database_url, sync=False)

    @property
    def is_sqlite(self) -> bool:
        return self.sync_database_url.startswith("sqlite")

    @property
    def trusted_proxy_networks(self) -> list[IPNetwork]:
        return _parse_networks(self.trusted_proxies)

    @property
    def uses_demo_model(self) -> bool:
        return not self.openai_api_key and not self.openai_base_url

    @property
    def fallback_models(self) -> list[str]:
        models = [m.strip() for m in self.openai_models.split(",") if m.strip()]
        return models or [self.default_model]

    def resolved_secret_key(self) -> str:
        """The signing key; in development a missing one is generated once and kept (0600)."""
        if self.secret_key:
            return self.secret_key
        return _development_secret(self.data_dir)


def _split(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parse_networks(value: str) -> list[IPNetwork]:
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(
                f"TRUSTED_PROXIES: {item!r} is not an IP address or CIDR network "
                "(e.g. 127.0.0.1, 10.0.0.0/8, ::1)"
            ) from None
    return networks


def _with_driver(url: str, *, sync: bool) -> str:
    """Map plain URLs onto the drivers we ship: psycopg 3 for PostgreSQL, aiosqlite for async."""
    if url.startswith(("postgres://", "postgresql://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite") and not sync:
        url = "sqlite+aiosqlite://" + url.split("://", 1)[1]
    if url.startswith("sqlite+aiosqlite") and sync:
        url = "sqlite://" + url.split("://", 1)[1]
    return url


def _development_secret(data_dir: Path) -> str:
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "secret_key"
    if not path.exists():
        # O_EXCL: two workers starting together must not write two different keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
