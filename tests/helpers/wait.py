"""Polling for tests: wait until a check returns something truthy, or fail saying what was awaited."""
from __future__ import annotations

import time
from typing import Any, Callable


def wait_for(what: str, check: Callable[[], Any], timeout: float, *, interval: float = 0.5, hint: str = "") -> Any:
    """Call ``check`` every ``interval`` seconds until it returns a truthy value, and return that value.

    After ``timeout`` seconds: AssertionError naming ``what`` and, when given, ``hint`` (e.g. where the logs are).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}" + (f" ({hint})" if hint else ""))
