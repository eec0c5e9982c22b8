"""Two app processes behind nginx (tests/support/cluster.py), one cluster per module."""

from tests.support.cluster_fixtures import (  # noqa: F401  (fixtures)
    cluster,
    cluster_fake,
    cluster_public_port,
    cluster_web_dir,
)
