"""The compiled frontend: built once for the address browsers use, reused while it is current.

Reflex bakes the backend's URL into the bundle (``.web/env.json``, imported by the JS). Its
client keeps the baked *port* on plain http and only swaps ``localhost`` for the page's host
(``getBackendURL`` in Reflex 0.10.1's state.js; on https it drops the port). So a build is
made for ``http://localhost:<the port browsers reach>`` and is valid for any host name; a
build is reused only while that URL, the app's sources and Reflex's version are unchanged,
which lets the Docker image build once, and several processes serve one build without
rebuilding it (each ``reflex run --env prod`` used to recompile at every start).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlsplit

STAMP_NAME = "chat_app-build.json"
# What the server serves (Reflex 0.10.1: .web/build/client, its index page among them).
BUILT_PAGE = Path("build", "client", "index.html")
# What the compiled pages are made of; data/, tests/ and the like do not change them.
SOURCE_DIRS = ("chat_app", "assets", "reflex.lock")
SOURCE_FILES = ("rxconfig.py",)


def baked_backend_url(app_url: str, port: int) -> str:
    """The backend URL to compile into the frontend.

    ``app_url`` (APP_URL, may be empty) is where users open the app. Over plain http the
    browser connects to the baked port, so it must be APP_URL's (80 when it names none); over
    https, or without APP_URL, the server's own port keeps direct access working as well.
    """
    parts = urlsplit(app_url.split(",")[0].strip()) if app_url.strip() else None
    if parts is not None and parts.scheme == "http":
        return f"http://localhost:{parts.port or 80}"
    return f"http://localhost:{port}"


def fingerprint(root: Path, backend_url: str) -> str:
    """A digest of everything a build depends on."""
    digest = hashlib.sha256()
    digest.update(f"{backend_url}\0reflex {version('reflex')}\0".encode())
    for path in _sources(root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _sources(root: Path) -> Iterator[Path]:
    files = [root / name for name in SOURCE_FILES if (root / name).is_file()]
    for directory in SOURCE_DIRS:
        if (root / directory).is_dir():
            files.extend(p for p in (root / directory).rglob("*") if p.is_file() and _is_source(p))
    yield from sorted(files)


def _is_source(path: Path) -> bool:
    return "__pycache__" not in path.parts and path.suffix not in {".pyc", ".pyo"}


def is_current(web_dir: Path, expected: str) -> bool:
    # A copy of a web dir without its output (bench/servers.py makes those) is not a build.
    if not (web_dir / BUILT_PAGE).is_file():
        return False
    try:
        stamp = json.loads((web_dir / STAMP_NAME).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(stamp, dict) and stamp.get("fingerprint") == expected


def ensure_built(root: Path, web_dir: Path, backend_url: str) -> bool:
    """Build the frontend into ``web_dir`` unless a current build is there; True if it built.

    Processes started together (WORKERS on several hosts sharing a volume, the test harness)
    take turns: the first builds, the others find its stamp and reuse the build.
    """
    expected = fingerprint(root, backend_url)
    with _exclusive(root):
        if is_current(web_dir, expected):
            return False
        (web_dir / STAMP_NAME).unlink(missing_ok=True)
        env = {**os.environ, "REFLEX_API_URL": backend_url, "REFLEX_WEB_WORKDIR": str(web_dir)}
        subprocess.run(
            [sys.executable, "-m", "reflex", "export", "--frontend-only", "--no-zip"],
            cwd=root,
            env=env,
            check=True,
        )
        (web_dir / STAMP_NAME).write_text(
            json.dumps({"fingerprint": expected, "backend_url": backend_url})
        )
        return True


@contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    # flock on the project directory itself: no lock file to clean up, and every build of this
    # checkout (whatever its web dir) also shares reflex.lock/, which a build rewrites.
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
