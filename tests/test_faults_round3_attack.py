"""Reliability, round 3, attacked (issue 18): variants the first round-3 tests did not walk.

Each test was seen failing on the code before its fix; every wait is bounded, every hung call released.
"""

from __future__ import annotations

import threading

import pytest
from waiting import wait_until

from ella_lab import FallbackChain, Router
from ella_lab.resilience import Hedge
from ella_lab.sources import MAX_ABANDONED, Abandoned


def _running(function) -> int:
    return Abandoned(function).running


# -- the abandoned-call cap: one count per callable, not per line ---------------------------------------


@pytest.mark.timeout(60)
def test_two_lambdas_on_one_line_have_caps_of_their_own():
    """Before: the cap's key was (module, name, file, line), so ``lambda r: hang(r)`` and ``lambda r: "cached"``
    written on one line shared it: once the first had MAX_ABANDONED hung calls, the fallback was refused too
    and every request failed ('not started'), through a chain and through a hedge alike."""
    release = threading.Event()

    def hang(request):
        release.wait(30)
        return "hung"

    primary, fallback = (lambda r: hang(r)), (lambda r: "cached")  # one line, as in a notebook cell
    try:
        chain = Router(FallbackChain([primary, fallback], timeout=0.02), workers=8)
        report = chain.run(range(MAX_ABANDONED + 8))
        assert wait_until(lambda: _running(primary) >= MAX_ABANDONED, timeout=10)
        assert _running(fallback) == 0
        report = chain.run(range(20))  # the primary is refused at once now: the fallback answers each
        assert [o.value for o in report] == ["cached"] * 20, {str(o.error)[:120] for o in report if not o.ok}
        report = Router(Hedge(primary, fallback, after=0.01), workers=4).run(range(20))
        assert [o.value for o in report] == ["cached"] * 20, {str(o.error)[:120] for o in report if not o.ok}
    finally:
        release.set()
    assert wait_until(lambda: _running(primary) == 0, timeout=20)
