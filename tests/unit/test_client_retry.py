"""The retry policy: only UNAVAILABLE / connection failures, jittered exponential waits, bounded."""

from __future__ import annotations

import pytest

from clients.errors import (
    ConnectionFailed,
    DeadlineExceeded,
    InvalidArgument,
    NotFound,
    ServingError,
    Unavailable,
)
from clients.retry import NO_RETRY, RetryPolicy, call_with_retry


class FakeTime:
    """A clock that only moves when the code under test sleeps (deterministic, no real waiting)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def run(
    errors: list[ServingError | None], policy: RetryPolicy, timeout: float | None = None
) -> tuple[int, FakeTime]:
    """Attempts raise `errors` in turn (None = succeed); returns (attempts made, time)."""
    time = FakeTime()
    calls = []

    def attempt(remaining: float | None) -> str:
        calls.append(remaining)
        error = errors[len(calls) - 1]
        if error is not None:
            raise error
        return "ok"

    assert (
        call_with_retry(attempt, policy, timeout, clock=time.clock, sleep=time.sleep, rng=lambda: 1.0) == "ok"
    )
    return len(calls), time


def test_unavailable_and_connection_failures_are_retried_until_success() -> None:
    attempts, time = run([Unavailable("queue full"), ConnectionFailed("refused"), None], RetryPolicy())
    assert attempts == 3
    assert time.sleeps == [0.05, 0.1]  # exponential (rng pinned to the top of the jitter range)


@pytest.mark.parametrize("error", [InvalidArgument("bad"), NotFound("no model"), DeadlineExceeded("slow")])
def test_other_errors_are_never_retried(error: ServingError) -> None:
    time = FakeTime()
    calls: list[float | None] = []

    def attempt(remaining: float | None) -> None:
        calls.append(remaining)
        raise error

    with pytest.raises(type(error)):
        call_with_retry(attempt, RetryPolicy(), None, clock=time.clock, sleep=time.sleep)
    assert len(calls) == 1 and time.sleeps == []


def test_attempts_are_bounded_and_the_last_error_is_raised() -> None:
    time = FakeTime()
    errors = iter([Unavailable(f"try {i}") for i in range(10)])

    def attempt(remaining: float | None) -> None:
        raise next(errors)

    with pytest.raises(Unavailable, match="try 2"):
        call_with_retry(attempt, RetryPolicy(max_attempts=3), None, clock=time.clock, sleep=time.sleep)


def test_total_time_is_bounded_by_the_call_timeout_and_max_elapsed() -> None:
    policy = RetryPolicy(max_attempts=100, initial_backoff=1.0, max_backoff=1.0, max_elapsed=60.0)
    for timeout, expected in ((2.5, 2.5), (None, 60.0)):
        time = FakeTime()

        def attempt(remaining: float | None, limit: float | None = timeout) -> None:
            if limit is not None:
                assert remaining is not None and remaining <= limit
            raise Unavailable("down")

        with pytest.raises(Unavailable):
            call_with_retry(attempt, policy, timeout, clock=time.clock, sleep=time.sleep, rng=lambda: 1.0)
        assert time.now <= expected
        assert len(time.sleeps) >= int(expected) - 1


def test_backoff_is_jittered_exponential_and_capped() -> None:
    policy = RetryPolicy(initial_backoff=0.1, multiplier=2.0, max_backoff=0.5)
    assert [policy.backoff(a, lambda: 1.0) for a in (1, 2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.5, 0.5]
    assert policy.backoff(3, lambda: 0.25) == pytest.approx(0.1)
    assert policy.backoff(3, lambda: 0.0) == 0.0


def test_no_retry_and_invalid_policies() -> None:
    time = FakeTime()

    def attempt(remaining: float | None) -> None:
        raise Unavailable("down")

    with pytest.raises(Unavailable):
        call_with_retry(attempt, NO_RETRY, None, clock=time.clock, sleep=time.sleep)
    assert time.sleeps == []
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
