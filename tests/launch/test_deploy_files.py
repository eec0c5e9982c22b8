"""compose.yaml and deploy/nginx.conf agree with each other and with the app's settings.

No Docker engine (nor compose plugin) here: compose.yaml is parsed as YAML and checked for what
the deployment needs; nginx.conf is checked by Debian's nginx itself (``nginx -t``), as the
cluster tests run it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from chat_app.core.settings import Settings
from tests.conftest import IN_CI, PROJECT_ROOT
from tests.support.cluster import NGINX, NGINX_MAIN_CONF, SHIPPED_NGINX_CONF, nginx_site_conf

COMPOSE = PROJECT_ROOT / "compose.yaml"


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def app_services(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in doc["services"].items() if "build" in s}


def test_two_app_servers_from_the_dockerfile_with_the_shared_services() -> None:
    doc = compose()
    apps = app_services(doc)
    assert sorted(apps) == ["app1", "app2"]
    assert {"postgres", "redis", "nginx"} <= set(doc["services"])
    for name, service in apps.items():
        assert service["build"]["context"] == ".", name
        env = service["environment"]
        assert env["REDIS_URL"].startswith("redis://redis:"), name
        assert "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["DATABASE_URL"].startswith("postgresql+psycopg://"), name
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?"), "a missing key stops compose"
        assert env["APP_ENV"] == "production"
        # The frontend is built for the URL users open, which is nginx's published port.
        assert service["build"]["args"]["APP_URL"] == env["APP_URL"]
        assert set(service["depends_on"]) == {"postgres", "redis"}


def test_trusted_proxy_is_nginx_and_app_url_is_its_published_port() -> None:
    doc = compose()
    nginx = doc["services"]["nginx"]
    address = nginx["networks"]["chat"]["ipv4_address"]
    published = nginx["ports"][0].rsplit(":", 1)[0]  # "${NGINX_PORT:-8080}"
    default_port = re.search(r":-(\d+)\}", published)
    assert default_port is not None
    for name, service in app_services(doc).items():
        env = service["environment"]
        assert env["TRUSTED_PROXIES"] == address, name
        assert env["APP_URL"] == f"${{APP_URL:-http://localhost:{default_port.group(1)}}}"
        # The values parse as the app's settings would read them.
        Settings(
            app_env="development",
            trusted_proxies=env["TRUSTED_PROXIES"],
            app_url=f"http://localhost:{default_port.group(1)}",
        )
    assert "./deploy/nginx.conf:/etc/nginx/conf.d/default.conf:ro" in nginx["volumes"]


def test_nginx_upstream_names_the_app_services_on_their_port() -> None:
    text = SHIPPED_NGINX_CONF.read_text()
    servers = re.findall(r"^\s*server\s+(\S+):(\d+)", text, re.M)
    assert servers == [(name, "3000") for name in sorted(app_services(compose()))]
    assert "proxy_set_header Upgrade $http_upgrade;" in text
    assert "proxy_set_header Host $http_host;" in text  # with its port: redirects stay right
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in text
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in text
    assert re.search(r"location /_event \{[^}]*proxy_read_timeout 1h;", text)
    assert re.search(r"location /api/ \{[^}]*proxy_buffering off;", text)
    assert not re.search(r"^\s*(ip_hash|hash|sticky)\b", text, re.M)  # none needed


def test_the_shipped_nginx_config_is_valid_for_nginx(tmp_path: Path) -> None:
    if not Path(NGINX).exists():
        if IN_CI:
            pytest.fail(f"nginx not found at {NGINX}")
        pytest.skip(f"nginx not found at {NGINX}")
    (tmp_path / "site.conf").write_text(nginx_site_conf(8080, [3001, 3002], down={1}))
    (tmp_path / "nginx.conf").write_text(NGINX_MAIN_CONF.format(d=tmp_path))
    result = subprocess.run(
        [NGINX, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    site = (tmp_path / "site.conf").read_text()
    assert "server 127.0.0.1:3001 max_fails=1 fail_timeout=10s;" in site
    assert "server 127.0.0.1:3002 max_fails=1 fail_timeout=10s down;" in site
    assert "listen 127.0.0.1:8080;" in site
    # Only the upstream servers and the listen line differ from the shipped file.
    shipped = SHIPPED_NGINX_CONF.read_text().splitlines()
    changed = [line for line in shipped if line not in site.splitlines()]
    assert all(re.match(r"\s*(server \S+:3000|listen 80;)", line) for line in changed), changed
