"""Loopback endpoints that misbehave: nothing listening, or a listener that never answers."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def silent_listener() -> Iterator[int]:
    """A port whose connections are accepted by the kernel and then never answered."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(16)  # never accept(): clients connect into the backlog and wait
        yield int(server.getsockname()[1])
