"""Several app processes behind the shipped nginx config, for cross-process tests.

``start_cluster`` runs TWO (or more) app processes through scripts/start.sh on loopback ports,
sharing one PostgreSQL database, one Redis (under a key prefix of their own), one SECRET_KEY and
one fake OpenAI server, with Debian's nginx in front running deploy/nginx.conf itself: only its
upstream servers and listen port are substituted.

The compiled frontend has its backend's URL baked in. ``build_frontend`` compiles it once, for
nginx's URL, into a web dir of its own (``CLUSTER_WEB_DIR``, so the browser suite's ``.web`` and
its served app are left alone); every process started with that web dir finds the build current
(chat_app/launch/frontend.py) and serves it without rebuilding.

Helpers for the tests: each process's URL and PID, SIGKILL/SIGSTOP/SIGCONT/SIGTERM, start again,
``route_only_to`` (nginx marks the other upstreams ``down`` and reloads), log in over the API
(bench/users.py) and hold a websocket tab on a chosen process (bench/reflex_client.py).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.reflex_client import FrontendBuild, ReflexTab
from bench.users import User, create_user
from chat_app.launch.frontend import STAMP_NAME
from tests.support.served_app import PROJECT_ROOT, free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
SHIPPED_NGINX_CONF = PROJECT_ROOT / "deploy" / "nginx.conf"
START_SH = PROJECT_ROOT / "scripts" / "start.sh"
PYTHON = str(PROJECT_ROOT / ".venv" / "bin" / "python")
# Kept between test sessions so its node_modules are installed once (gitignored).
CLUSTER_WEB_DIR = PROJECT_ROOT / ".web-cluster"
CLUSTER_SECRET = "cluster-test-secret-" + "y" * 40
START_TIMEOUT_SECONDS = 180
BUILD_TIMEOUT_SECONDS = 600
STOP_TIMEOUT_SECONDS = 60

# The harness's own main config around the shipped file: unprivileged, everything under the
# test's directory, and an access log naming the upstream each request went to.
NGINX_MAIN_CONF = """
daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 512; }}
http {{
    log_format upstream '$upstream_addr $status $request_method $uri';
    access_log {d}/access.log upstream;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/site.conf;
}}
"""
_UPSTREAM_BLOCK = re.compile(r"(upstream\s+chat_app\s*\{)(.*?)(\})", re.S)
_SERVER_LINE = re.compile(r"^(\s*)server\s+\S+?(\s[^;]*)?;\s*$", re.M)
_LISTEN_LINE = re.compile(r"^(\s*)listen\s+80;\s*$", re.M)


def nginx_site_conf(listen_port: int, upstream_ports: list[int], down: set[int]) -> str:
    """deploy/nginx.conf with its upstream servers and listen port replaced, nothing else."""
    text = SHIPPED_NGINX_CONF.read_text()
    block = _UPSTREAM_BLOCK.search(text)
    if block is None:
        raise RuntimeError("deploy/nginx.conf has no `upstream chat_app { ... }` block")
    shipped = list(_SERVER_LINE.finditer(block.group(2)))
    if not shipped:
        raise RuntimeError("deploy/nginx.conf's upstream names no server")
    indent, params = shipped[0].group(1), (shipped[0].group(2) or "")
    servers = "".join(
        f"{indent}server 127.0.0.1:{port}{params}{' down' if i in down else ''};\n"
        for i, port in enumerate(upstream_ports)
    )
    body = _SERVER_LINE.sub("", block.group(2), count=len(shipped)).lstrip("\n")
    body = re.sub(r"^(\s*\n)+", "", body)
    text = text[: block.start(2)] + "\n" + servers + body + text[block.end(2) :]
    text, listens = _LISTEN_LINE.subn(rf"\g<1>listen 127.0.0.1:{listen_port};", text)
    if listens != 1:
        raise RuntimeError("deploy/nginx.conf must have exactly one `listen 80;`")
    return text


def build_frontend(public_port: int, env: dict[str, str]) -> Path:
    """Compile the frontend once for http://localhost:<public_port> into CLUSTER_WEB_DIR."""
    result = subprocess.run(
        [PYTHON, "-m", "chat_app.launch", "build", "--port", str(public_port)],
        cwd=PROJECT_ROOT,
        env={**env, "REFLEX_WEB_WORKDIR": str(CLUSTER_WEB_DIR)},
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
    )
    if result.returncode != 0:
        output = result.stdout[-3000:] + result.stderr[-3000:]
        raise RuntimeError(f"frontend build failed:\n{output}")
    return CLUSTER_WEB_DIR


def previous_build_port() -> int | None:
    """The public port CLUSTER_WEB_DIR's current build was made for, if there is one."""
    try:
        stamp = json.loads((CLUSTER_WEB_DIR / STAMP_NAME).read_text())
        return urlsplit(str(stamp["backend_url"])).port
    except (OSError, ValueError, KeyError, TypeError):
        return None


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        # As nginx binds (SO_REUSEADDR): connections of the last session in TIME_WAIT are fine.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _get(url: str, timeout: float = 3) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


@dataclass
class AppProcess:
    """One app server started through scripts/start.sh (which execs into uvicorn: same PID)."""

    name: str
    port: int
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Start (again) on the same port, without waiting: see ``wait_ready``."""
        if self.alive():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(START_SH)],
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                code = None if self.process is None else self.process.returncode
                raise RuntimeError(f"{self.name} exited with {code}:\n{self.log_tail()}")
            try:
                if _get(self.url + "/ping") == 200 and _get(self.url + "/login/", 10) == 200:
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} not ready in {timeout:.0f}s:\n{self.log_tail()}")

    # ---- signals, to this process only (by PID) -------------------------------------------

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, leaving whatever it held (leases, sockets)."""
        self.signal(signal.SIGKILL)
        self.wait_exit(10)

    def freeze(self) -> None:
        self.signal(signal.SIGSTOP)

    def thaw(self) -> None:
        self.signal(signal.SIGCONT)

    def terminate(self) -> None:
        """SIGTERM without waiting: the graceful shutdown (drain) runs; see ``wait_exit``."""
        self.signal(signal.SIGTERM)

    def wait_exit(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """SIGTERM (after SIGCONT, should it be frozen), then SIGKILL if it does not exit."""
        if not self.alive():
            return
        self.thaw()
        self.terminate()
        if self.wait_exit() is None:
            self.kill()

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Nginx:
    directory: Path
    port: int
    upstream_ports: list[int]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self, down: set[int]) -> None:
        site = nginx_site_conf(self.port, self.upstream_ports, down)
        (self.directory / "site.conf").write_text(site)
        (self.directory / "nginx.conf").write_text(NGINX_MAIN_CONF.format(d=self.directory))

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.write_config(set())
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.directory), "-c", str(self.directory / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                errors = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"nginx exited: {errors}")
            try:
                _get(self.url + "/ping", 1)
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.1)
        raise RuntimeError("nginx did not listen in 20 s")

    def reload(self, down: set[int]) -> None:
        """New config, then SIGHUP: new connections follow it, open websockets stay put."""
        self.write_config(down)
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGHUP)

    def upstreams_seen(self) -> list[str]:
        """The upstream of each request so far, oldest first (the harness's access log)."""
        return [upstream for upstream, _ in self.requests_seen()]

    def requests_seen(self) -> list[tuple[str, str]]:
        """(upstream, path) of each request nginx has finished, oldest first. A websocket is
        logged when it closes."""
        try:
            lines = (self.directory / "access.log").read_text().splitlines()
        except OSError:
            return []
        return [(fields[0], fields[-1]) for fields in (line.split(" ") for line in lines)]

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@dataclass
class Cluster:
    apps: list[AppProcess]
    nginx: Nginx
    web_dir: Path
    redis_url: str
    redis_prefix: str
    database_url: str
    tab_tokens: set[str] = field(default_factory=set)

    @property
    def url(self) -> str:
        return self.nginx.url

    def route_only_to(self, index: int, timeout: float = 20) -> None:
        """Make nginx send every new connection to ``apps[index]`` (the others marked down)."""
        self.nginx.reload({i for i in range(len(self.apps)) if i != index})
        self._wait_routing({f"127.0.0.1:{self.apps[index].port}"}, timeout)

    def route_to_all(self, timeout: float = 20) -> None:
        self.nginx.reload(set())
        self._wait_routing({f"127.0.0.1:{app.port}" for app in self.apps}, timeout)

    def _wait_routing(self, allowed: set[str], timeout: float) -> None:
        # nginx's old worker may answer a few more requests after the SIGHUP: wait until the
        # new config has routed several requests in a row.
        deadline = time.monotonic() + timeout
        in_a_row = 0
        while time.monotonic() < deadline and in_a_row < 4:
            before = len(self.nginx.upstreams_seen())
            try:
                _get(self.url + "/ping", 3)
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                in_a_row = 0
                continue
            seen = self.nginx.upstreams_seen()[before:]
            in_a_row = in_a_row + 1 if seen and all(s in allowed for s in seen) else 0
            time.sleep(0.05)
        if in_a_row < 4:
            raise RuntimeError(f"nginx did not route to {allowed} in {timeout:.0f}s")

    async def login(self, name: str = "cluster", base_url: str | None = None) -> User:
        """Register and log in over the HTTP API (through nginx unless told otherwise)."""
        async with httpx.AsyncClient(base_url=base_url or self.url, timeout=30) as client:
            return await create_user(client, f"{name}-{secrets.token_hex(4)}@example.com")

    def tab(self, app: AppProcess | int, user: User | None, token: str | None = None) -> ReflexTab:
        """A browser tab whose websocket goes to ``app`` directly (open it with ``.open``)."""
        target = self.apps[app] if isinstance(app, int) else app
        tab = ReflexTab(
            target.url, FrontendBuild.read(self.web_dir), cookie=user.cookie if user else None
        )
        if token is not None:
            tab.token = token
        self.tab_tokens.add(tab.token)
        return tab

    def stop(self) -> None:
        self.nginx.stop()
        for app in self.apps:
            app.stop()
        self._delete_redis_keys()

    def _delete_redis_keys(self) -> None:
        from tests.conftest import delete_keys

        delete_keys(self.redis_url, self.redis_prefix)
        # Reflex's own keys are named by tab tokens (state, lock, socket record), not prefixed.
        for token in self.tab_tokens:
            delete_keys(self.redis_url, f"*{token}")
            delete_keys(self.redis_url, f"{token}")


def cluster_env(
    *,
    database_url: str,
    redis_url: str,
    redis_prefix: str,
    openai_base_url: str,
    public_port: int,
    app_ports: list[int],
) -> dict[str, str]:
    return {
        **os.environ,
        "HOST": "127.0.0.1",
        "APP_ENV": "development",  # plain http on loopback: no Secure cookies
        "SECRET_KEY": CLUSTER_SECRET,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_KEY_PREFIX": redis_prefix,
        "APP_URL": f"http://127.0.0.1:{public_port}",
        # Tabs the tests hold on one process directly send that process's Origin.
        "ALLOWED_ORIGINS": ",".join(f"http://127.0.0.1:{p}" for p in app_ports),
        "TRUSTED_PROXIES": "127.0.0.1",
        "OPENAI_BASE_URL": openai_base_url,
        "OPENAI_API_KEY": "test",
        "SEND_RATE_PER_MINUTE": "0",
        "BCRYPT_ROUNDS": "4",
        "WORKERS": "1",
        "REFLEX_WEB_WORKDIR": str(CLUSTER_WEB_DIR),
        "PYTHONUNBUFFERED": "1",
    }


@contextmanager
def start_cluster(
    workdir: Path,
    *,
    database_url: str,
    redis_url: str,
    openai_base_url: str,
    public_port: int,
    processes: int = 2,
) -> Iterator[Cluster]:
    """Processes and nginx up (the frontend must already be built for ``public_port``)."""
    prefix = f"cluster-{os.getpid()}-{secrets.token_hex(4)}:"
    ports = [free_port() for _ in range(processes)]
    env = cluster_env(
        database_url=database_url,
        redis_url=redis_url,
        redis_prefix=prefix,
        openai_base_url=openai_base_url,
        public_port=public_port,
        app_ports=ports,
    )
    apps = []
    for i, port in enumerate(ports):
        data_dir = workdir / f"app{i + 1}"
        data_dir.mkdir(parents=True, exist_ok=True)
        apps.append(
            AppProcess(
                f"app{i + 1}",
                port,
                {**env, "PORT": str(port), "DATA_DIR": str(data_dir)},
                data_dir / "server.log",
            )
        )
    cluster = Cluster(
        apps,
        Nginx(workdir / "nginx", public_port, ports),
        CLUSTER_WEB_DIR,
        redis_url,
        prefix,
        database_url,
    )
    try:
        for app in apps:
            app.start()
        for app in apps:
            app.wait_ready()
        cluster.nginx.start()
        yield cluster
    finally:
        cluster.stop()
