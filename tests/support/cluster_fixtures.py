"""pytest fixtures around tests/support/cluster.py; import them into a test module or conftest.

One frontend build per test session (for nginx's port, in the cluster's own web dir), one
cluster per module: two app processes, nginx, a migrated PostgreSQL database and Redis.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command

from tests.conftest import IN_CI, alembic_config
from tests.support.cluster import (
    NGINX,
    Cluster,
    build_frontend,
    port_is_free,
    previous_build_port,
    start_cluster,
)
from tests.support.fake_openai import FakeOpenAI, start_fake_openai
from tests.support.served_app import PROJECT_ROOT, free_port


@pytest.fixture(scope="session")
def cluster_public_port() -> int:
    """nginx's port for the whole session: the frontend build has it baked in."""
    if not Path(NGINX).exists():
        message = f"nginx not found at {NGINX} (apt-get install nginx)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    # The port the last session's build was made for, while it is free: that build is then
    # still current and nothing is rebuilt (unless the sources changed).
    previous = previous_build_port()
    return previous if previous is not None and port_is_free(previous) else free_port()


@pytest.fixture(scope="session")
def cluster_web_dir(cluster_public_port: int, tmp_path_factory: pytest.TempPathFactory) -> Path:
    tools = PROJECT_ROOT / ".tools" / "node_modules" / ".bin"
    env = {
        **os.environ,
        "APP_ENV": "development",
        "APP_URL": f"http://127.0.0.1:{cluster_public_port}",
        "DATA_DIR": str(tmp_path_factory.mktemp("cluster-build")),
        "PATH": f"{tools}:{os.environ.get('PATH', '')}",
        "REFLEX_TELEMETRY_ENABLED": "false",
        "REFLEX_CHECK_LATEST_VERSION": "false",
    }
    return build_frontend(cluster_public_port, env)


@pytest.fixture(scope="module")
def cluster_fake() -> Iterator[FakeOpenAI]:
    server = start_fake_openai()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def cluster(
    cluster_web_dir: Path,
    cluster_public_port: int,
    cluster_fake: FakeOpenAI,
    make_postgres_database,
    redis_server_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    database_url = make_postgres_database()
    command.upgrade(alembic_config(database_url), "head")
    workdir = tmp_path_factory.mktemp("cluster")
    with start_cluster(
        workdir,
        database_url=database_url,
        redis_url=redis_server_url,
        openai_base_url=cluster_fake.base_url,
        public_port=cluster_public_port,
    ) as running:
        yield running
