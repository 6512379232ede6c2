# Copyright: (c) 2026, multicluster.gitops contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""When and how long to wait before retrying a request that failed for a transient reason.

Capped exponential back-off with full jitter (the delay before attempt n+1 is uniform in
[0, min(cap, base * 2**n)]), a Retry-After header honoured up to the cap of the whole budget,
and a budget of attempts and of seconds spent sleeping, so a flaky API costs seconds, not hangs.
"""
from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

__all__ = ["RetryPolicy", "TRANSIENT_STATUSES", "retry_after_seconds"]

# 429 Too Many Requests, 500 (an apiserver or etcd hiccup), 502/503/504 (a proxy or a restarting apiserver).
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})


def retry_after_seconds(value: Any, *, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date); None when absent or unusable."""
    if value is None:
        return None
    text = str(value).strip()
    if not text:
        return None
    try:
        return max(float(text), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(when.timestamp() - now(), 0.0)


@dataclass
class RetryPolicy:
    """How many times to try a request and how long to sleep between tries.

    ``attempts`` counts the first try. ``budget`` bounds the seconds slept over all retries of one
    request, so that with the defaults a request outlives an API outage of about 20 seconds.
    """

    attempts: int = 8
    base: float = 0.25
    cap: float = 5.0
    budget: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rand: Callable[[], float] = field(default=random.random, repr=False)

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to sleep after failed attempt number ``attempt`` (1-based)."""
        if retry_after is not None:
            return min(retry_after, self.budget)
        return self.rand() * min(self.cap, self.base * 2 ** attempt)

    def should_retry(self, attempt: int, slept: float, delay: float) -> bool:
        """Whether attempt ``attempt`` may be followed by another, given the seconds already slept."""
        return attempt < self.attempts and slept + delay <= self.budget
