"""The login throttle's schedules and its wait messages (pure functions, no database)."""

from __future__ import annotations

import pytest

from chat_app.services.auth import wait_message
from chat_app.services.login_throttle import PER_ACCOUNT, PER_ADDRESS, PER_PAIR, Backoff


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        # (account, address): 5 typos are free, then 5 s doubling, capped at 15 minutes.
        (PER_PAIR, [0, 0, 0, 0, 0, 5, 10, 20, 40, 80, 160, 320, 640, 900, 900]),
        # Per address: looser (a shared office), same growth.
        (PER_ADDRESS, [0] * 20 + [5, 10, 20, 40, 80, 160, 320, 640, 900, 900]),
        # Per account from everywhere: much later, and never more than a minute.
        (PER_ACCOUNT, [0] * 100 + [1, 2, 4, 8, 16, 32, 60, 60]),
    ],
    ids=["pair", "address", "account"],
)
def test_schedules(schedule: Backoff, expected: list[float]) -> None:
    assert [schedule.delay(n) for n in range(len(expected))] == expected


@pytest.mark.parametrize("schedule", [PER_PAIR, PER_ADDRESS, PER_ACCOUNT])
def test_delays_grow_and_stay_capped_for_any_count(schedule: Backoff) -> None:
    counts = [*range(0, 300), 1_000, 10**6, 10**12, 2**63]
    delays = [schedule.delay(n) for n in counts]
    assert delays == sorted(delays)  # never shorter after another failure
    assert max(delays) == schedule.max_delay  # and a huge count neither overflows nor grows
    assert all(d == 0 for d in delays[: schedule.free_failures])


@pytest.mark.parametrize(
    ("seconds", "message"),
    [
        (0.01, "Try again in 1 second."),
        (1.0, "Try again in 1 second."),
        (4.2, "Try again in 5 seconds."),
        (59.5, "Try again in 60 seconds."),
        (60.0, "Try again in 1 minute."),
        (61.0, "Try again in 2 minutes."),
        (900.0, "Try again in 15 minutes."),
    ],
)
def test_wait_message_rounds_up(seconds: float, message: str) -> None:
    assert wait_message(seconds) == f"Too many failed attempts. {message}"
