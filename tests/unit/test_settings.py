"""Settings: defaults, URL mapping, .env support and the secret-key rules."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from chat_app.core.settings import MIN_SECRET_LENGTH, PROJECT_ROOT, Settings


@pytest.fixture
def bare_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No test overrides and no .env file: what a fresh checkout sees."""
    for name in (
        "BCRYPT_ROUNDS",
        "DATABASE_URL",
        "DATA_DIR",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "DEFAULT_MODEL",
        "ALLOW_REGISTRATION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # an empty folder: no stray .env is read
    return tmp_path


def test_defaults(bare_env: Path) -> None:
    settings = Settings()
    assert settings.bcrypt_rounds == 12
    assert settings.data_dir == PROJECT_ROOT / "data"
    assert settings.sync_database_url == f"sqlite:///{PROJECT_ROOT / 'data' / 'chat.db'}"
    assert settings.async_database_url.startswith("sqlite+aiosqlite:///")
    assert settings.is_sqlite
    assert settings.uses_demo_model
    assert settings.allow_registration is True
    # Forwarded headers are trusted from nobody until proxies are named.
    assert settings.trusted_proxies == ""
    assert settings.trusted_proxy_networks == []


def test_trusted_proxies_parse_ips_and_cidrs(bare_env: Path) -> None:
    settings = Settings(trusted_proxies=" 127.0.0.1, 10.0.0.0/8,,::1 , 2001:db8::/32")
    assert [str(n) for n in settings.trusted_proxy_networks] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
        "2001:db8::/32",
    ]


@pytest.mark.parametrize("value", ["localhost", "10.0.0.0/33", "1.2.3", "127.0.0.1 10.0.0.1"])
def test_bad_trusted_proxies_stop_the_start_with_a_clear_message(
    bare_env: Path, value: str
) -> None:
    with pytest.raises(ValueError, match=r"TRUSTED_PROXIES: .* is not an IP address or CIDR"):
        Settings(trusted_proxies=value)


def test_sqlite_file_lives_under_data_dir(bare_env: Path, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "somewhere")
    assert settings.sync_database_url == f"sqlite:///{tmp_path / 'somewhere' / 'chat.db'}"


@pytest.mark.parametrize(
    ("key", "base_url"), [("sk-test", ""), ("", "http://127.0.0.1:9/v1"), ("sk", "http://x")]
)
def test_real_model_when_key_or_base_url(bare_env: Path, key: str, base_url: str) -> None:
    assert not Settings(openai_api_key=key, openai_base_url=base_url).uses_demo_model


@pytest.mark.parametrize(
    ("given", "sync", "async_"),
    [
        (
            "postgres://u:p@db:5432/chat",
            "postgresql+psycopg://u:p@db:5432/chat",
            "postgresql+psycopg://u:p@db:5432/chat",
        ),
        (
            "postgresql://u@db/chat",
            "postgresql+psycopg://u@db/chat",
            "postgresql+psycopg://u@db/chat",
        ),
        (
            "postgresql+psycopg://u@db/chat",
            "postgresql+psycopg://u@db/chat",
            "postgresql+psycopg://u@db/chat",
        ),
        ("sqlite:////srv/chat.db", "sqlite:////srv/chat.db", "sqlite+aiosqlite:////srv/chat.db"),
        (
            "sqlite+aiosqlite:////srv/chat.db",
            "sqlite:////srv/chat.db",
            "sqlite+aiosqlite:////srv/chat.db",
        ),
        ("  sqlite:///x.db  ", "sqlite:///x.db", "sqlite+aiosqlite:///x.db"),
    ],
)
def test_database_url_drivers(bare_env: Path, given: str, sync: str, async_: str) -> None:
    settings = Settings(database_url=given)
    assert settings.sync_database_url == sync
    assert settings.async_database_url == async_
    assert settings.is_sqlite == sync.startswith("sqlite")


def test_dotenv_file_is_read(bare_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (bare_env / ".env").write_text(
        "DATABASE_URL=postgres://app@db/chat\n"
        "BCRYPT_ROUNDS=10\n"
        "ALLOW_REGISTRATION=false\n"
        "OPENAI_API_KEY=sk-from-dotenv\n"
    )
    settings = Settings()
    assert settings.sync_database_url == "postgresql+psycopg://app@db/chat"
    assert settings.bcrypt_rounds == 10
    assert settings.allow_registration is False
    assert not settings.uses_demo_model


def test_environment_wins_over_dotenv(bare_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (bare_env / ".env").write_text("BCRYPT_ROUNDS=10\n")
    monkeypatch.setenv("BCRYPT_ROUNDS", "5")
    assert Settings().bcrypt_rounds == 5


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "   ",
        "changeme",
        "CHANGEME",
        "secret",
        "short-but-random-7f3a",
        "x" * (MIN_SECRET_LENGTH - 1),
    ],
)
def test_production_refuses_weak_secret(bare_env: Path, secret: str) -> None:
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings(app_env="production", secret_key=secret)


def test_production_accepts_long_secret(bare_env: Path) -> None:
    key = "k" * MIN_SECRET_LENGTH
    settings = Settings(app_env="production", secret_key=key)
    assert settings.resolved_secret_key() == key


def test_production_refusal_from_environment(
    bare_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "changeme")
    with pytest.raises(ValidationError, match="SECRET_KEY"):
        Settings()


def test_development_secret_generated_once_private_and_reused(
    bare_env: Path, tmp_path: Path
) -> None:
    data_dir = tmp_path / "fresh-data"
    settings = Settings(app_env="development", secret_key="", data_dir=data_dir)
    first = settings.resolved_secret_key()
    key_file = data_dir / "secret_key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first) >= MIN_SECRET_LENGTH
    assert key_file.read_text().strip() == first
    # Same call, and a new Settings object (a restart): the same key.
    assert settings.resolved_secret_key() == first
    assert (
        Settings(app_env="development", secret_key="", data_dir=data_dir).resolved_secret_key()
        == first
    )
    # Another data folder: another key.
    other = Settings(app_env="development", secret_key="", data_dir=tmp_path / "other")
    assert other.resolved_secret_key() != first


def test_explicit_secret_writes_no_file(bare_env: Path, tmp_path: Path) -> None:
    settings = Settings(secret_key="given-" + "y" * 40, data_dir=tmp_path / "d")
    assert settings.resolved_secret_key() == "given-" + "y" * 40
    assert not (tmp_path / "d" / "secret_key").exists()


def test_redis_is_off_unless_configured(bare_env: Path) -> None:
    settings = Settings()
    assert not settings.uses_redis and settings.redis_key_prefix == "chat:"
    assert Settings(redis_url=" redis://127.0.0.1:6379/2 ").redis_url == "redis://127.0.0.1:6379/2"


def test_a_bad_redis_url_stops_the_start_without_echoing_it(bare_env: Path) -> None:
    with pytest.raises(ValidationError) as raised:
        Settings(redis_url="http://user:hunter2@cache:6379")
    assert "redis://" in str(raised.value) and "hunter2" not in str(raised.value)
