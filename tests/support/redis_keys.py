"""Deleting a test's or a benchmark's Redis keys (the server is shared: never FLUSHDB)."""

from __future__ import annotations


def delete_keys(url: str, prefix: str) -> int:
    """Delete every key under ``prefix`` (SCAN, never KEYS or FLUSHDB)."""
    import redis

    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
        return len(keys)
    finally:
        client.close()
