"""Parts shared by the walkthrough's "Your turn" exercises (``walk04``, ``walk05``, ``walk06``).

``Prediction``: a number the learner writes *before* a measurement runs; its check compares it with
the model and with the run. ``answer_of``: run the learner's function, turning any error it raises
into a verdict that names it. ``Probe`` and ``Meeting``: instrumented sources for the checks.
"""

from __future__ import annotations

import math
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ..timing import format_seconds
from ._core import BLANK, CheckResult, Incorrect, NotAttempted, Question, as_real, call_bounded

__all__ = ["Meeting", "Prediction", "Probe", "answer_of", "real"]


def real(value: Any) -> float | None:
    """``value`` as a float when it is a real number of any type, else None: ``_core.as_real``, the one rule."""
    return as_real(value)


def answer_of(function: Callable, *args: Any, what: str, timeout: float = 3.0) -> tuple[Any, Exception | None]:
    """``(value, None)`` or ``(None, the exception)`` of the learner's ``function(*args)``, within ``timeout`` s.

    The starter code (``NotImplementedError``) and a hang still end the check (``NotAttempted``, ``Incorrect``).
    """
    try:
        return call_bounded(function, *args, timeout=timeout, what=what), None
    except (Incorrect, NotAttempted):
        raise
    except Exception as exc:
        return None, exc


class Prediction(Question):
    """A number predicted before the measurement: right within ``tolerance`` of the model, and compared with the run.

    Subclasses set ``model``, ``unit`` (``"s"``, ``"fraction"`` or ``"count"``), ``tolerance`` (absolute,
    in the unit), ``why`` (how the model gets its number) and ``mistakes`` as ``(value, why)`` pairs.
    The notebook passes the measurement: ``q.check(prediction, measured=value)``.
    """

    expects = "a number: your prediction"
    example = "0.5"
    unit = "fraction"
    model: float = math.nan
    tolerance = 0.0
    why = ""
    mistakes: Sequence[tuple[float, str]] = ()

    def __init__(self, name: str):
        super().__init__(name)
        self.measured: float | None = None

    def check(self, answer: Any = BLANK, *, measured: Any = None) -> CheckResult:
        """Judge the prediction ``answer``; ``measured`` is what the notebook's run gave, for comparison."""
        if measured is not None:
            self.measured = real(measured)
        return super().check(answer)

    def show(self, value: float) -> str:
        if self.unit == "s":
            return format_seconds(value)
        if self.unit == "count":
            return f"{value:g}"
        return f"{value:.3g}"

    def comparison(self, number: float) -> str:
        """How far ``number`` is from the model, and what the run measured."""
        if self.model and number:
            ratio, model = number / self.model, self.show(self.model)
            off = f"on the model's {model}" if abs(ratio - 1) < 0.005 else f"{ratio:.3g}x the model's {model}"
        else:
            off = f"the model says {self.show(self.model)}"
        run = (
            "run the measurement cell above, then this check, to compare with a run"
            if self.measured is None
            else f"this run measured {self.show(self.measured)}"
        )
        return f"you predicted {self.show(number)}, {off} ({run})."

    def _check(self, value: Any) -> str:
        number = real(value)
        if number is None:
            raise Incorrect(f"give your prediction as a number, like {self.example}; got {value!r}")
        said = self.comparison(number)
        for wrong, why in self.mistakes:
            if math.isclose(number, wrong, rel_tol=0.01, abs_tol=1e-9):
                raise Incorrect(f"{said} {why}")
        slack = self.tolerance + 1e-9  # the edge of the tolerance counts as right, whatever the float rounding
        if abs(number - self.model) <= slack:
            return f"{said} {self.why}"
        if self.unit == "s" and abs(number / 1000 - self.model) <= slack:
            raise Incorrect(f"{said} That is right in milliseconds: give it in seconds. {self.why}")
        if self.unit == "fraction" and abs(number / 100 - self.model) <= slack:
            raise Incorrect(f"{said} That is right as a percentage: give a fraction between 0 and 1. {self.why}")
        direction = "too high" if number > self.model else "too low"
        within = f"(right is within {self.show(self.tolerance)} of {self.show(self.model)})"
        raise Incorrect(f"{said} That is {direction} {within}. {self.why}")


_UNSET: Any = object()


class Probe:
    """A source for the checks: answers ``"<request> from <name>"`` (or ``reply``) or raises, and records each
    call, its thread, and the thread pool it ran on.

    ``fail_on``: the requests it fails, raising ``ConnectionError``, or a mapping request → exception class.
    """

    def __init__(
        self,
        name: str,
        fail_on: Sequence[Any] | Mapping[Any, type[Exception]] = (),
        *,
        delay: Callable[[Any], float] | None = None,
        journal: list[str] | None = None,
        reply: Any = _UNSET,
    ):
        kinds = fail_on if isinstance(fail_on, Mapping) else dict.fromkeys(fail_on, ConnectionError)
        self.name, self.fail_on, self.delay, self.reply = name, dict(kinds), delay, reply
        self.journal = journal  # shared by several probes: the names of the sources called, in call order
        self.calls: list[tuple[Any, str]] = []
        self.errors: dict[Any, Exception] = {}
        self.thread_objects: dict[int, threading.Thread] = {}
        self.pools: dict[int, ThreadPoolExecutor] = {}  # held here, so an unreferenced pool is not collected
        self._lock = threading.Lock()
        self.meeting: Meeting | None = None

    def __call__(self, request: Any) -> str:
        thread = threading.current_thread()
        pool = _pool_of(thread)
        with self._lock:
            self.calls.append((request, thread.name))
            self.thread_objects[id(thread)] = thread
            if pool is not None:
                self.pools[id(pool)] = pool
            if self.journal is not None:
                self.journal.append(self.name)
        if self.meeting is not None:
            self.meeting.enter()
        try:
            if self.delay is not None:
                threading.Event().wait(self.delay(request))
            if request in self.fail_on:
                kind = self.fail_on[request]
                error = kind(f"{self.name} is down for {request}")
                with self._lock:
                    self.errors.setdefault(request, error)
                raise error
            return self.answer(request)
        finally:
            if self.meeting is not None:
                self.meeting.leave()

    def fetch(self, request: Any, *, attempt: int = 0, timeout: float | None = None) -> str:
        """The ``Source`` protocol, so the library's chains and routers take a probe by its name."""
        return self(request)

    def answer(self, request: Any) -> Any:
        return f"{request} from {self.name}" if self.reply is _UNSET else self.reply

    def alive_threads(self, *, wait: float = 0.5) -> list[str]:
        """The threads (other than the caller's) that called this probe and are still alive ``wait`` s later."""
        caller = {threading.current_thread().name, "ella-exercise"}
        threads = [t for t in self.thread_objects.values() if t.name not in caller]
        deadline = threading.Event()
        for _ in range(int(wait / 0.02) + 1):
            if not any(t.is_alive() for t in threads):
                break
            deadline.wait(0.02)
        return sorted(t.name for t in threads if t.is_alive())

    def release(self) -> None:
        """Shut down the pools the probe ran on, without waiting: the check's clean-up after a leaky answer."""
        for pool in self.pools.values():
            pool.shutdown(wait=False, cancel_futures=True)
        self.pools.clear()

    def count(self, request: Any) -> int:
        return sum(1 for r, _ in self.calls if r == request)

    @property
    def threads(self) -> set[str]:
        return {thread for _, thread in self.calls}

    def __repr__(self) -> str:
        return self.name


def _pool_of(thread: threading.Thread) -> ThreadPoolExecutor | None:
    """The ``ThreadPoolExecutor`` whose worker ``thread`` is (CPython passes its worker a weak reference), or None."""
    args = getattr(thread, "_args", ())
    if args and isinstance(args[0], weakref.ReferenceType):
        pool = args[0]()
        if isinstance(pool, ThreadPoolExecutor):
            return pool
    return None


class Meeting:
    """Shows how many calls run at once: the first ``parties`` calls wait (at most ``wait`` s) for each other.

    ``met`` is True when ``parties`` calls were inside together; ``peak`` is the most inside at once.
    Once met, the first ``parties`` calls stay inside up to ``hold`` s more, so an extra thread shows in ``peak``.
    """

    def __init__(self, parties: int, *, wait: float = 2.0, hold: float = 0.2):
        self.parties, self.wait, self.hold = parties, wait, hold
        self._cond = threading.Condition()
        self.inside = self.peak = self.arrived = 0
        self.met = self.gave_up = False

    def enter(self) -> None:
        with self._cond:
            self.inside += 1
            self.arrived += 1
            self.peak = max(self.peak, self.inside)
            if self.inside >= self.parties:
                self.met = True
            self._cond.notify_all()
            if self.arrived > self.parties or self.gave_up:
                return
            if not self._cond.wait_for(lambda: self.met, timeout=self.wait):
                self.gave_up = True  # never met: later calls need not wait too
                return
            self._cond.wait_for(lambda: self.peak > self.parties, timeout=self.hold)

    def leave(self) -> None:
        with self._cond:
            self.inside -= 1
