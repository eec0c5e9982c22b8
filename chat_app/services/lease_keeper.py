"""Renewing this process's reply leases from a thread of its own (services/redis_bus.py).

A reply's lease says "the process writing it is alive". Renewed from the event loop it would say
"the event loop is responsive": under overload (a loop seconds behind) leases would lapse, and
another process's sweeper would end replies that were only slow (the two-process bench saw it at
200 users). A thread renews while the loop is busy (the interpreter switches threads every few
milliseconds whatever the loop does) and stops with the process: after SIGKILL, and while
SIGSTOPped, the lease still runs out.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import redis

from chat_app.core.redis import COMMAND_TIMEOUT_SECONDS, CONNECT_TIMEOUT_SECONDS

log = logging.getLogger(__name__)


@dataclass
class HeldLease:
    lease_key: str
    conversation_key: str
    token: str  # "{instance}:{epoch}"
    claim: str  # the conversation key's value while the reply is written; "" once released
    renewed_at: float  # monotonic time of the last renewal that succeeded


class LeaseKeeper:
    """Renews every held lease every ``renew_seconds``; reports leases taken back or lost.

    ``on_retaken(message_id)`` and ``on_lost(message_id)`` are called from the keeper's thread:
    the bus hands them to its event loop.
    """

    def __init__(
        self,
        url: str,
        *,
        renew_script: str,
        retake_script: str,
        lease_seconds: float,
        renew_seconds: float,
        on_retaken: Callable[[uuid.UUID], None],
        on_lost: Callable[[uuid.UUID], None],
        on_redis_error: Callable[[], None],
    ) -> None:
        self._url = url
        self._renew_source, self._retake_source = renew_script, retake_script
        self._lease_ms = int(lease_seconds * 1000)
        self._lease_seconds, self._renew_seconds = lease_seconds, renew_seconds
        self._on_retaken, self._on_lost, self._on_redis_error = on_retaken, on_lost, on_redis_error
        self._held: dict[uuid.UUID, HeldLease] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the event loop's side ------------------------------------------------------------

    def hold(self, message_id: uuid.UUID, lease: HeldLease) -> None:
        with self._lock:
            self._held[message_id] = lease
            if self._thread is None or not self._thread.is_alive():
                self._stopping.clear()
                self._thread = threading.Thread(
                    target=self._run, name="reply-lease-keeper", daemon=True
                )
                self._thread.start()

    def release_claim(self, message_id: uuid.UUID) -> None:
        """The reply's text is final: keep its lease (the title may follow), not the claim."""
        with self._lock:
            held = self._held.get(message_id)
            if held is not None:
                held.claim = ""

    def drop(self, message_id: uuid.UUID) -> None:
        with self._lock:
            self._held.pop(message_id, None)

    def stop(self) -> None:
        self._stopping.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=COMMAND_TIMEOUT_SECONDS * 2)

    # ---- the keeper's thread --------------------------------------------------------------

    def _run(self) -> None:
        client = redis.Redis.from_url(
            self._url,
            decode_responses=True,
            socket_timeout=COMMAND_TIMEOUT_SECONDS,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
        )
        renew = client.register_script(self._renew_source)
        retake = client.register_script(self._retake_source)
        try:
            while not self._stopping.wait(self._renew_seconds):
                try:
                    self.renew_once(client, renew, retake)
                except redis.RedisError:
                    self._on_redis_error()
                    log.warning("could not renew reply leases; retrying", exc_info=True)
                except Exception:
                    log.exception("renewing reply leases failed; going on")
        finally:
            client.close()

    def renew_once(self, client: redis.Redis, renew: object, retake: object) -> None:
        with self._lock:
            held = list(self._held.items())
        if not held:
            return
        pipe = client.pipeline(transaction=False)
        for _message_id, lease in held:
            renew(  # type: ignore[operator]
                keys=[lease.lease_key, lease.conversation_key],
                args=[lease.token, self._lease_ms, lease.claim],
                client=pipe,
            )
        results = pipe.execute()
        now = time.monotonic()
        for (message_id, lease), result in zip(held, results, strict=True):
            if result == 1:
                lease.renewed_at = now
            elif result == -1 and now - lease.renewed_at < self._lease_seconds:
                # Redis lost it while we kept renewing (a restart): ours to take back.
                if retake(  # type: ignore[operator]
                    keys=[lease.lease_key, lease.conversation_key],
                    args=[lease.token, self._lease_ms, lease.claim],
                    client=client,
                ):
                    lease.renewed_at = now
                    self._on_retaken(message_id)
            else:
                # Another holder, or it ran out while we could not renew it (this process was
                # frozen, or cut off from Redis): the reply may be ended by now. Hands off.
                self.drop(message_id)
                self._on_lost(message_id)
