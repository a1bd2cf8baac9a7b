"""Waiting for a thread after a Ctrl-C, on every supported Python.

On CPython 3.11, a ``Thread.join()`` that a ``KeyboardInterrupt`` interrupts marks the thread stopped while it
still runs (CPython gh-90882): ``is_alive()`` then says False and every later ``join()`` returns at once. A
thread still listed by ``threading.enumerate()`` has not finished its target, whatever ``is_alive()`` says.
"""

from __future__ import annotations

import threading
import time

from .timing import clock

_POLL = 0.005  # seconds between looks at a thread that an interrupted join marked stopped


def running(thread: threading.Thread) -> bool:
    """Is ``thread`` still running its target (``is_alive()``, corrected for an interrupted join)?"""
    return thread.is_alive() or thread in threading.enumerate()


def join(thread: threading.Thread, timeout: float | None) -> bool:
    """``thread.join(timeout)`` that holds after an interrupted join too; True if the thread has ended."""
    deadline = None if timeout is None else clock() + timeout
    thread.join(timeout)
    while thread in threading.enumerate():  # still running its target: join() returned early (see above)
        left = None if deadline is None else deadline - clock()
        if left is not None and left <= 0:
            return False
        time.sleep(_POLL if left is None else min(_POLL, left))
    return not thread.is_alive()
