"""The environment self-check a student runs before class (notebook 02, ``python -m ella_lab check``)."""

from __future__ import annotations

import importlib
import sys
import threading
from typing import NamedTuple

__all__ = ["Check", "run_checks"]

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
