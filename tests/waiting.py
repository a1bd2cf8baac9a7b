"""Waiting in tests for a condition, never for a fixed time: a busy machine can make anything late."""

import time


def wait_until(predicate, timeout=10.0, interval=0.01):
    """Poll ``predicate()`` until it is true (then True) or ``timeout`` seconds have passed (then False)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True
