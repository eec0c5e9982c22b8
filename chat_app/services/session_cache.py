"""What a session token resolved to, remembered for at most a second.

Every Reflex event and every API request re-checks its session (a database read). A busy tab or
a 200-user process asks the same question many times a second; the answer may be reused for
``SESSION_CACHE_SECONDS``, so a logout, a disabled account or a revoked token elsewhere (another
process, the admin CLI) takes effect within that time. In this process, logging out and logging
out everywhere forget the user's entries at once.

The key is a digest of the token, so the process keeps no extra copy of the credential.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from chat_app.models.user import UserPublic

SESSION_CACHE_SECONDS = 1.0
# Past this many entries the expired ones are dropped (and all of them, if none had expired).
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class _Entry:
    expires_at: float
    user: UserPublic | None


class SessionCache:
    def __init__(
        self,
        ttl_seconds: float = SESSION_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = ttl_seconds
        self._clock = clock
        self._entries: dict[bytes, _Entry] = {}

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.blake2b(token.encode("utf-8", "surrogatepass"), digest_size=16).digest()

    def get(self, token: str) -> tuple[bool, UserPublic | None]:
        """(found, user): ``found`` False when the token must be checked against the database."""
        entry = self._entries.get(self._key(token))
        if entry is None or entry.expires_at <= self._clock():
            return False, None
        return True, entry.user

    def put(self, token: str, user: UserPublic | None, *, valid_until: float | None = None) -> None:
        """Remember the answer; ``valid_until`` (the token's own expiry, same clock) caps it."""
        expires_at = self._clock() + self._ttl
        if valid_until is not None:
            expires_at = min(expires_at, valid_until)
        if len(self._entries) >= MAX_ENTRIES:
            self._prune()
        self._entries[self._key(token)] = _Entry(expires_at, user)

    def forget_token(self, token: str) -> None:
        self._entries.pop(self._key(token), None)

    def forget_user(self, user_id: uuid.UUID) -> None:
        for key in [k for k, e in self._entries.items() if e.user and e.user.id == user_id]:
            del self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def _prune(self) -> None:
        now = self._clock()
        self._entries = {k: e for k, e in self._entries.items() if e.expires_at > now}
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()


sessions = SessionCache()
