"""The environment self-check a student runs before class (notebook 02, ``python -m ella_lab check``).

``run_checks()`` says whether the environment works; ``noise_check()`` says whether the machine is quiet
enough, right now, for the lessons' measured claims (a busy machine is no broken environment, so it is
not one of ``run_checks()``).
"""

from __future__ import annotations

import importlib
import sys
import threading
from typing import NamedTuple

from .claims import Noise, calibrate
from .timing import format_seconds

__all__ = ["QUIET_CPU_SHARE", "QUIET_WAKE_LATE_S", "Check", "noise_check", "run_checks"]

# What Noise.quiet asks of a machine (tests/test_selfcheck_noise.py keeps these in step with it)
QUIET_WAKE_LATE_S = 0.002  # a thread sleeping 1 ms wakes at most this late, 9 times in 10
QUIET_CPU_SHARE = 0.8  # a busy loop gets more than this share of a core

PACKAGES = ("pandas", "matplotlib", "tqdm", "ipywidgets", "ipykernel", "hypothesis")


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str


def _python() -> Check:
    version = ".".join(map(str, sys.version_info[:3]))
    return Check("Python >= 3.11", sys.version_info >= (3, 11), version)


def _package(name: str) -> Check:
    try:
        module = importlib.import_module(name)
    except ImportError as exc:
        return Check(f"import {name}", False, f"{exc} (run `make lab`, or pip install -r requirements.txt)")
    return Check(f"import {name}", True, getattr(module, "__version__", "?"))


def _threads() -> Check:
    seen: list[str] = []
    threads = [threading.Thread(target=lambda: seen.append(threading.current_thread().name)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    return Check("threads start and join", len(seen) == 4, f"{len(seen)} of 4 threads ran")


def _router() -> Check:
    from .router import Router
    from .sources import SimulatedSource

    report = Router(SimulatedSource("check", latency=0.001), workers=2).run(range(4))
    ok = [o.ok for o in report] == [True] * 4
    return Check("ella_lab Router runs", ok, f"{sum(o.ok for o in report)} of 4 requests answered")


def _kernel() -> Check:
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    name = type(shell).__name__ if shell else "none"
    return Check("inside a Jupyter kernel", name == "ZMQInteractiveShell", name)


def run_checks(*, kernel: bool = True) -> list[Check]:
    """Every check, in order; ``kernel=False`` skips the one that only passes inside Jupyter."""
    checks = [_python(), *map(_package, PACKAGES), _threads(), _router()]
    if kernel:
        checks.append(_kernel())
    return checks


def noise_check(noise: Noise | None = None) -> Check:
    """Whether this machine is quiet enough for the lessons' measured claims, and what to do if it is not.

    ``noise`` is a calibration (``ella_lab.claims.calibrate()``); by default a fresh one (about 40 ms).
    The verdict is ``noise.quiet``; the detail says which measurement decided it.
    """
    if noise is None:
        noise = calibrate(fresh=True)
    if not isinstance(noise, Noise):
        raise TypeError(f"noise must be a Noise from ella_lab.claims.calibrate(), got {noise!r}")
    late, share = noise.wake_late_p90_s, noise.cpu_share
    if noise.quiet:
        detail = (
            f"Quiet enough: a sleeping thread wakes at most {format_seconds(late)} late (9 times in 10, within "
            f"{format_seconds(QUIET_WAKE_LATE_S)}) and a busy loop got {share:.0%} of a core (over "
            f"{QUIET_CPU_SHARE:.0%}). The lessons' measured times should fall in their bands."
        )
    else:
        why = []
        if not late < QUIET_WAKE_LATE_S:
            why.append(
                f"a sleeping thread wakes up to {format_seconds(late)} late (9 times in 10), more than the "
                f"{format_seconds(QUIET_WAKE_LATE_S)} the lessons allow"
            )
        if not share > QUIET_CPU_SHARE:
            why.append(f"a busy loop got only {share:.0%} of a core (other programs are using the cores)")
        detail = (
            f"Busy: {'; '.join(why)}. Close what you can (browser tabs, video calls, updates), plug a laptop in "
            "(power saving slows it down), wait a minute and measure again. On a busy machine the lessons "
            "still run: a measured claim that misses is measured again, then shown in an orange box instead of "
            "stopping Run All; the exact results (counts, models, seeded simulations) do not change."
        )
    if noise.cores < 2:
        detail += f" This process may use {noise.cores} core: notebook 08's processes cannot run side by side here."
    return Check("quiet enough for measured claims", noise.quiet, detail)
