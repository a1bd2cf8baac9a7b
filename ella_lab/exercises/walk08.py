"""Your turn in notebook 08, beyond threads: ``from ella_lab.exercises import walk08 as ex``.

q1 predicts the speed-up of two processes over one thread on CPU-bound work; q2 picks the engine for
three measured workloads.
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

from ._core import Incorrect, Question, call_bounded
from ._predict import PredictQuestion, near

__all__ = ["ENGINES", "q1", "q2"]

ENGINES = ("threads", "asyncio", "processes", "dask")


class ProcessSpeedup(PredictQuestion):
    title = "Predict: two processes against one thread, on CPU-bound requests"
    expects = "your predicted speed-up, a number like 1.5"
    unit = "×"
    rel = 0.3
    hints = (
        "Speed-up = time with one thread / time with two processes: above 1 when the processes are faster.",
        "Each process has its own interpreter and its own GIL, so two of them can compute at once: if there are "
        "two cores for them.",
        "The model: min(number of processes, number of cores); a little less for starting them and pickling.",
    )
    solution_text = """
        predicted_speedup = min(2, os.cpu_count())  # 2 on a machine with two cores or more, a bit less in practice
    """

    def model(self) -> float:
        cores = self._context.get("cores") or 2
        return float(min(2, cores))

    def slip(self, value: float, model: float) -> str | None:
        cores = self._context.get("cores")
        if value >= 100:
            return f"{value:g} looks like a percentage: a speed-up is a ratio, so twice as fast is 2, not 200."
        if value > 2.1:
            if cores and cores > 2 and near(value, cores, 0.1):
                return (
                    f"{value:g} is the number of cores, but only 2 processes were started: "
                    "at most min(2, cores) of them compute at once."
                )
            return "two processes cannot be more than 2× faster than one thread: each does one core's worth at most."
        if model >= 2 and near(value, 1.0, 0.1):
            return (
                "1× is the answer for two threads, which share one GIL; each process has its own interpreter "
                "and its own GIL, so two processes can compute at once."
            )
        if model >= 2 and near(value, 0.5, 0.1):
            return (
                "0.5 is the time ratio the wrong way round: speed-up = time(one thread) / time(two processes), "
                "above 1 when the processes are faster."
            )
        return None

    def why(self, model: float, measured: float | None) -> str:
        if measured is None or measured >= 0.85 * model:
            return "Below the model by the cost of starting the processes and pickling requests and answers."
        return (
            "The measurement is well below the model: besides starting the processes and pickling, other "
            "programs were using the cores (see 'idle cores': near 0 means there was no core to spare)."
        )


class PickEngines(Question):
    title = "Pick the engine for three measured workloads"
    expects = "a function pick_engines(workloads) returning a dict"
    hints = (
        "Loop over workloads.items(); decide from each one's numbers, never from its name.",
        "A request that computes longer than it waits (cpu_s > wait_s) is CPU-bound: only processes give it "
        "more than one core.",
        "Waiting workloads: threads up to a few dozen at once; asyncio from the hundreds (at_once >= 256), where "
        "a thread's extra CPU per wait showed in the measurement.",
    )
    solution_text = """
        def pick_engines(workloads):
            choice = {}
            for name, w in workloads.items():
                if w["cpu_s"] > w["wait_s"]:
                    choice[name] = "processes"  # CPU-bound: one GIL per process (speed-up measured above)
                elif w["at_once"] >= 256:
                    choice[name] = "asyncio"  # many waits: less CPU per wait than a thread (measured above)
                else:
                    choice[name] = "threads"  # a few dozen waits: as efficient, and the simplest
            return choice
    """

    # (name, workload, engines accepted); the names change between rounds, so a dict written by name fails.
    CASES = (
        ("CpuSource requests", {"cpu_s": 0.040, "wait_s": 0.0, "at_once": 2}, ("processes",)),
        ("32 fetches of 10 ms", {"cpu_s": 20e-6, "wait_s": 0.010, "at_once": 32}, ("threads",)),
        ("2,000 waits of 10 ms", {"cpu_s": 10e-6, "wait_s": 0.010, "at_once": 2000}, ("asyncio",)),
        ("resize 500 images", {"cpu_s": 0.020, "wait_s": 0.001, "at_once": 500}, ("processes",)),
        ("16 slow API calls", {"cpu_s": 0.001, "wait_s": 0.050, "at_once": 16}, ("threads",)),
        ("600 websockets", {"cpu_s": 50e-6, "wait_s": 1.0, "at_once": 600}, ("asyncio",)),
        ("128 fetches", {"cpu_s": 20e-6, "wait_s": 0.010, "at_once": 128}, ("threads", "asyncio")),
    )

    WHY: ClassVar[dict[tuple[str, str], str]] = {
        ("processes", "threads"): "threads share one GIL: two threads kept at most one core busy in the GIL lesson.",
        ("processes", "asyncio"): "asyncio runs every coroutine on one thread: computing blocks the whole loop.",
        ("processes", "dask"): "dask is for more than one machine; on one, processes do it without a scheduler's "
        "cost per task (measured: hundreds of µs a task).",
        ("threads", "processes"): "processes for a waiting workload: a waiting thread already releases the GIL, and "
        "processes cost start-up and pickling. Compare cpu_s with wait_s: it waits far longer than it computes.",
        ("threads", "asyncio"): "asyncio would work, but for a few dozen waits threads were as efficient (measured) "
        "and need no async code: pick the simplest engine that keeps up.",
        ("threads", "dask"): "dask is for more than one machine; a few dozen waits need one thread each, no cluster.",
        ("asyncio", "threads"): "thousands of waits on threads: each wait cost several times asyncio's CPU in the "
        "measurement, and a thread each is thousands of OS threads.",
        ("asyncio", "processes"): "a process per wait: thousands of interpreters to wait on sockets; the workload "
        "waits far longer than it computes, so asyncio's cheap waits fit.",
        ("asyncio", "dask"): "dask is for more than one machine; one event loop holds thousands of waits here.",
    }

    def _check(self, pick: Any) -> str:
        if not callable(pick):
            raise Incorrect(f"expected a function pick_engines(workloads) that returns a dict, got {pick!r}")
        for group in (self.CASES[:3], self.CASES[3:]):
            workloads = {name: dict(w) for name, w, _ in group}
            got = call_bounded(pick, copy.deepcopy(workloads), what="pick_engines")
            if got is None:
                raise Incorrect("pick_engines returned None: did it print instead of return, or forget `return`?")
            if not isinstance(got, dict):
                raise Incorrect(f"return a dict {{workload name: engine}}, got a {type(got).__name__}: {got!r}")
            missing = [name for name in workloads if name not in got]
            if missing:
                raise Incorrect(
                    f"no engine for {missing[0]!r}: the keys must be the names in `workloads` (build the dict from "
                    f"it, deciding from each workload's measurements, not from names written in advance); "
                    f"got keys {list(got)!r}."
                )
            for name, workload, accepted in group:
                engine = got[name]
                if engine not in ENGINES:
                    raise Incorrect(
                        f"{name!r}: {engine!r} is not an engine; use an executor= value: {', '.join(ENGINES)}."
                    )
                if engine not in accepted:
                    because = self.WHY.get((accepted[0], engine), "")
                    raise Incorrect(f"{name!r} {workload} got {engine!r}, expected {accepted[0]!r}: {because}")
        return (
            "CPU-bound to processes, a few dozen waits to threads, thousands of waits to asyncio: "
            "each choice follows from a measurement, not from a name."
        )


q1 = ProcessSpeedup("q1")
q2 = PickEngines("q2")
