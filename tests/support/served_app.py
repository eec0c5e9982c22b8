"""Serve the real app (scripts/start.sh, the container's start script) on 127.0.0.1 for tests."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 240


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServedApp:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    data_dir: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            # The start script execs reflex, which starts the server workers in its own
            # process group (start_new_session below): signal that group, and only it.
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def serve_app(
    data_dir: Path, env: dict[str, str] | None = None, port: int | None = None
) -> ServedApp:
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "server.log"
    full_env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "DATA_DIR": str(data_dir),
        "APP_ENV": "development",
        "DATABASE_URL": "",
        **(env or {}),
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [str(PROJECT_ROOT / "scripts" / "start.sh")],
            cwd=PROJECT_ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    app = ServedApp(f"http://127.0.0.1:{port}", process, log_path, data_dir)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited with {process.returncode}:\n{app.log_tail()}")
        try:
            with urllib.request.urlopen(app.base_url + "/ping", timeout=2) as response:
                if response.status == 200:
                    with urllib.request.urlopen(app.base_url + "/login", timeout=5):
                        return app
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    app.stop()
    raise RuntimeError(f"app did not start in {START_TIMEOUT_SECONDS}s:\n{app.log_tail()}")
