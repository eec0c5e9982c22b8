"""FailureThrottle with a fake clock: no sleeping, exact windows."""

from __future__ import annotations

import pytest

from chat_app.services.throttle import FailureThrottle

WINDOW = 900.0


class FakeClock:
    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def throttle(clock: FakeClock) -> FailureThrottle:
    return FailureThrottle(max_failures=5, window_seconds=WINDOW, clock=clock)


def test_allowed_until_the_fifth_failure(throttle: FailureThrottle, clock: FakeClock) -> None:
    for _ in range(4):
        throttle.record_failure(["account:a"])
        clock.advance(1)
        assert throttle.retry_after(["account:a"]) is None
    throttle.record_failure(["account:a"])
    wait = throttle.retry_after(["account:a"])
    assert wait is not None
    # Blocked until the oldest of the five failures (4 s ago) leaves the window.
    assert wait == pytest.approx(WINDOW - 4)


def test_window_expiry_unblocks(throttle: FailureThrottle, clock: FakeClock) -> None:
    for _ in range(5):
        throttle.record_failure(["k"])
    wait = throttle.retry_after(["k"])
    assert wait == pytest.approx(WINDOW)
    clock.advance(WINDOW - 1)
    assert throttle.retry_after(["k"]) == pytest.approx(1)
    clock.advance(1)
    assert throttle.retry_after(["k"]) is None


def test_sliding_window_counts_only_recent_failures(
    throttle: FailureThrottle, clock: FakeClock
) -> None:
    for _ in range(4):
        throttle.record_failure(["k"])
    clock.advance(WINDOW)  # those four are now outside the window
    throttle.record_failure(["k"])
    assert throttle.retry_after(["k"]) is None
    for _ in range(4):
        throttle.record_failure(["k"])
    assert throttle.retry_after(["k"]) == pytest.approx(WINDOW)


def test_clear_resets_one_key_only(throttle: FailureThrottle) -> None:
    for _ in range(5):
        throttle.record_failure(["account:a", "address:1.2.3.4"])
    throttle.clear("account:a")
    assert throttle.retry_after(["account:a"]) is None
    assert throttle.retry_after(["address:1.2.3.4"]) is not None
    # Any blocked key in the list blocks the attempt.
    assert throttle.retry_after(["account:a", "address:1.2.3.4"]) is not None
    throttle.clear("never-seen")  # harmless


def test_keys_are_independent(throttle: FailureThrottle) -> None:
    for _ in range(5):
        throttle.record_failure(["account:a"])
    for _ in range(4):
        throttle.record_failure(["account:b"])
    assert throttle.retry_after(["account:a"]) is not None
    assert throttle.retry_after(["account:b"]) is None
    assert throttle.retry_after(["account:c"]) is None
    assert throttle.retry_after([]) is None


def test_longest_wait_wins(throttle: FailureThrottle, clock: FakeClock) -> None:
    for _ in range(5):
        throttle.record_failure(["a"])
    clock.advance(100)
    for _ in range(5):
        throttle.record_failure(["b"])
    assert throttle.retry_after(["a"]) == pytest.approx(WINDOW - 100)
    assert throttle.retry_after(["a", "b"]) == pytest.approx(WINDOW)
