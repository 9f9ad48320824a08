"""When and how the clients retry: only when the server could not be reached or refused as unavailable.

Retried: `Unavailable` (HTTP 503 / gRPC UNAVAILABLE, e.g. a full batch queue or a server restarting) and
`ConnectionFailed` (connection refused or reset). Never retried: every other error (a bad request stays
bad; a timed-out call is reported, not repeated). Predict, classify and regress are pure functions of
their inputs, so a repeat after a reset is harmless. Waits grow exponentially with full jitter, and both
the number of attempts and the total time (including the waits) are bounded:

    policy = RetryPolicy(max_attempts=4, initial_backoff=0.05, max_backoff=1.0, max_elapsed=10.0)
    policy.backoff(attempt=2, rng=random.random)   # uniform in [0, 0.2)
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from clients.errors import ServingError, Unavailable

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded, jittered exponential backoff. `max_attempts=1` disables retries."""

    max_attempts: int = 4
    initial_backoff: float = 0.05
    multiplier: float = 2.0
    max_backoff: float = 1.0
    max_elapsed: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"RetryPolicy.max_attempts must be >= 1, got {self.max_attempts}")
        if self.initial_backoff < 0 or self.max_backoff < 0 or self.max_elapsed < 0:
            raise ValueError("RetryPolicy backoffs and max_elapsed must be >= 0")

    def backoff(self, attempt: int, rng: Callable[[], float] = random.random) -> float:
        """Wait before retry number `attempt` (1 = first retry): uniform in [0, min(cap, base*mult^(a-1)))."""
        ceiling = min(self.max_backoff, self.initial_backoff * self.multiplier ** (attempt - 1))
        return ceiling * rng()

    @staticmethod
    def retryable(error: ServingError) -> bool:
        return isinstance(error, Unavailable)


NO_RETRY = RetryPolicy(max_attempts=1)


def call_with_retry(
    attempt: Callable[[float | None], T],
    policy: RetryPolicy,
    timeout: float | None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
) -> T:
    """Run `attempt(remaining_timeout)` until it succeeds, fails for good, or the budget is spent.

    `timeout` bounds the whole call (every attempt and wait); None means only the policy bounds it. The
    last error is raised unchanged when no retry is left.
    """
    start = clock()
    budget = policy.max_elapsed if timeout is None else min(policy.max_elapsed, timeout)
    number = 1
    while True:
        remaining = None if timeout is None else max(timeout - (clock() - start), 0.001)
        try:
            return attempt(remaining)
        except ServingError as error:
            if not policy.retryable(error) or number >= policy.max_attempts:
                raise
            wait = policy.backoff(number, rng)
            if clock() - start + wait >= budget:
                raise
            sleep(wait)
            number += 1
