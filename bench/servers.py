"""Start and stop what the benchmark measures: the fake OpenAI server and the app in prod mode.

Both run as child processes in their own process groups (so teardown signals exactly them and
nothing else), on 127.0.0.1 and free ports. The app is served by ``scripts/start.sh`` (the
container's start script) with a temporary DATA_DIR (SQLite) unless ``database_url`` is given.

The app rebuilds its frontend at every start, in ``.web`` by default. Other people's test runs
use that folder too, so by default the benchmark copies it (node_modules included, build output
excluded) to a temporary folder and points ``REFLEX_WEB_WORKDIR`` there; ``.states`` likewise.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

PROJECT_ROOT = Path(__file__).resolve().parents[1]
APP_START_TIMEOUT = 300.0
FAKE_START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop_group(process: subprocess.Popen, timeout: float = 20) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _get_json(url: str, timeout: float = 5) -> object:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def _post_json(url: str, body: dict, timeout: float = 5) -> object:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@dataclass
class FakeServer:
    url: str
    process: subprocess.Popen
    log_path: Path

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def configure(self, **settings: object) -> dict:
        return _post_json(self.url + "/_control", settings)  # type: ignore[return-value]

    def stop(self) -> None:
        _stop_group(self.process)


def start_fake(workdir: Path) -> FakeServer:
    port = free_port()
    log_path = workdir / "fake_openai.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.support.fake_openai", "--host", "127.0.0.1"),
                *("--port", str(port), "--log-level", "warning"),
            ],
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    fake = FakeServer(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + FAKE_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"fake server exited:\n{log_path.read_text()[-2000:]}")
        try:
            _get_json(fake.url + "/_control", timeout=1)
            return fake
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    fake.stop()
    raise RuntimeError("fake server did not start")


@dataclass
class App:
    base_url: str
    process: subprocess.Popen
    log_path: Path
    data_dir: Path
    web_dir: Path
    env: dict[str, str]

    def stop(self) -> None:
        _stop_group(self.process)

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def processes(self) -> list[psutil.Process]:
        """The server's process tree (start.sh execs reflex, which runs gunicorn + worker)."""
        try:
            root = psutil.Process(self.process.pid)
            return [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        total = 0.0
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                total += times.user + times.system
        return total

    def rss_bytes(self) -> tuple[int, int]:
        """(sum over the tree, the largest single process: the worker serving everything)."""
        total = largest = 0
        for proc in self.processes():
            with contextlib.suppress(psutil.Error):
                rss = proc.memory_info().rss
                total += rss
                largest = max(largest, rss)
        return total, largest

    def worker_pid(self) -> int | None:
        """The process that serves requests: the deepest gunicorn/uvicorn child."""
        procs = self.processes()
        workers = [p for p in procs if "gunicorn" in " ".join(_cmdline(p))]
        return (workers[-1] if workers else procs[-1]).pid if procs else None


def _cmdline(proc: psutil.Process) -> list[str]:
    with contextlib.suppress(psutil.Error):
        return proc.cmdline()
    return []


def prepare_web_dir(workdir: Path) -> Path:
    """A private copy of .web (without build output) so concurrent builds cannot collide."""
    source = PROJECT_ROOT / ".web"
    target = workdir / "web"
    if not (source / "node_modules").is_dir():
        raise RuntimeError(
            ".web/node_modules is missing: run the app once (make run) or pass --shared-web-dir"
        )

    def top_level_output(directory: str, names: list[str]) -> set[str]:
        # Only .web/build and .web/.react-router: packages have "build" folders of their own.
        if Path(directory) == source:
            return {n for n in names if n in ("build", ".react-router")}
        return set()

    shutil.copytree(source, target, symlinks=True, ignore=top_level_output)
    return target


def start_app(
    workdir: Path,
    fake: FakeServer,
    *,
    database_url: str = "",
    isolate_web_dir: bool = True,
    extra_env: dict[str, str] | None = None,
) -> App:
    port = free_port()
    data_dir = workdir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    if isolate_web_dir and not (PROJECT_ROOT / ".web" / "node_modules").is_dir():
        print("(.web/node_modules is missing: building in the shared .web this time)")
        isolate_web_dir = False
    web_dir = prepare_web_dir(workdir) if isolate_web_dir else PROJECT_ROOT / ".web"
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "APP_ENV": "development",
        "OPENAI_BASE_URL": fake.base_url,
        "OPENAI_API_KEY": "bench-key",
        "DEFAULT_MODEL": "fake-small",
        # The benchmark sends faster than a person: the per-user send budget is off.
        "SEND_RATE_PER_MINUTE": "0",
        # Registering hundreds of simulated users must not take minutes of bcrypt.
        "BCRYPT_ROUNDS": "4",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_CHECK_LATEST_VERSION": "false",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    }
    if isolate_web_dir:
        env["REFLEX_WEB_WORKDIR"] = str(web_dir)
        env["REFLEX_STATES_WORKDIR"] = str(workdir / "states")
    log_path = workdir / "app.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(PROJECT_ROOT / "scripts" / "start.sh")],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    app = App(f"http://127.0.0.1:{port}", process, log_path, data_dir, web_dir, env)
    deadline = time.monotonic() + APP_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited with {process.returncode}:\n{app.log_tail()}")
        try:
            with urllib.request.urlopen(app.base_url + "/ping", timeout=2) as response:
                if response.status == 200:
                    with urllib.request.urlopen(app.base_url + "/login", timeout=10):
                        return app
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    app.stop()
    raise RuntimeError(f"app did not start in {APP_START_TIMEOUT:.0f}s:\n{app.log_tail()}")


@dataclass
class ResourceSampler:
    """Samples the server tree's RSS in a thread; CPU comes from before/after cpu_times."""

    app: App
    interval: float = 0.25
    peak_total: int = 0
    peak_largest: int = 0
    cpu_start: float = 0.0
    cpu_end: float = 0.0
    wall_start: float = 0.0
    wall_end: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> ResourceSampler:
        self.cpu_start = self.app.cpu_seconds()
        self.wall_start = time.perf_counter()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            total, largest = self.app.rss_bytes()
            self.peak_total = max(self.peak_total, total)
            self.peak_largest = max(self.peak_largest, largest)
            self._stop.wait(self.interval)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.cpu_end = self.app.cpu_seconds()
        self.wall_end = time.perf_counter()

    @property
    def cpu_seconds(self) -> float:
        return self.cpu_end - self.cpu_start

    @property
    def wall_seconds(self) -> float:
        return self.wall_end - self.wall_start


def make_workdir() -> Path:
    return Path(tempfile.mkdtemp(prefix="chat-bench-"))
