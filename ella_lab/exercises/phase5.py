"""Exercises for notebook 05, integration and testing: ``from ella_lab.exercises import phase5 as ex``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from ..outcome import Report
from ._core import Incorrect, NumberQuestion, Question, Rendezvous, call_bounded

__all__ = ["q1", "q2", "q3", "q4"]


class _Recorder:
    """A source for the checks: records each call and its thread; fails on the requests it is told to."""

    def __init__(self, name: str, fail_on: set[str], meeting: Rendezvous | None = None):
        self.name, self.fail_on, self.meeting = name, fail_on, meeting
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, request: str) -> str:
        with self.lock:
            self.calls.append((request, threading.current_thread().name))
        if self.meeting is not None:
            self.meeting.enter()
        try:
            time.sleep(0.005)
            if request in self.fail_on:
                raise ConnectionError(f"{self.name} failed on {request}")
            return f"{request} from {self.name}"
        finally:
            if self.meeting is not None:
                self.meeting.leave()

    def count(self, request: str) -> int:
        return sum(1 for r, _ in self.calls if r == request)

    def __repr__(self) -> str:
        return self.name


class Main(Question):
    title = "main(): the router and the fallback, wired"
    expects = "a function main(requests, primary, backup, workers)"
    answer_name = "main"
    hints = (
        "Build the chain first: FallbackChain([primary, backup]) asks the backup only when the primary fails.",
        "Then Router(chain, workers=workers).run(requests): one run, every request, `workers` threads.",
        "Return the Report that run() gives you (the check reads its outcomes); print nothing.",
    )
    solution_text = """
        from ella_lab import FallbackChain, Router

        def main(requests, primary, backup, workers):
            chain = FallbackChain([primary, backup])
            return Router(chain, workers=workers).run(requests)
    """
    SCENARIO = (tuple(f"DataRequest-{i}" for i in range(12)), {"DataRequest-1", "DataRequest-6", "DataRequest-7"}, 4)
    HIDDEN = (
        (tuple(f"order-{i}" for i in range(40, 50)), {"order-40", "order-49"}, 2),
        (tuple(f"q{i}" for i in range(14)), {"q3"}, 6),
    )

    def _check(self, main: Any) -> str:
        self._run(main, *self.SCENARIO)
        return "one run, every request answered once, the backup asked exactly for the primary's failures."

    def _check_hidden(self, main: Any) -> str:
        for scenario in self.HIDDEN:
            self._run(main, *scenario)
        return "right on every case."

    def _run(self, main: Any, requests: tuple, failing: set[str], workers: int) -> None:
        if not callable(main):
            raise Incorrect(f"expected a function main(requests, primary, backup, workers), got {main!r}")
        meeting = Rendezvous(workers, wait=1.0, hold=0.05)
        primary = _Recorder("primary", failing, meeting)
        backup = _Recorder("backup", set())
        report = call_bounded(main, list(requests), primary, backup, workers, what="main", timeout=4.0)
        if report is None:
            raise Incorrect("main returned None: return the Report of the run (printing it gives the caller nothing).")
        if isinstance(report, dict):
            raise Incorrect("main returned a dict (a summary?): return the Report itself, which holds every outcome.")
        if not isinstance(report, Report):
            raise Incorrect(f"main should return the Report of Router.run(...), got {type(report).__name__}.")
        if not primary.calls:
            raise Incorrect("the primary was never asked: the chain's order is [primary, backup], primary first.")
        twice = next((r for r in requests if primary.count(r) > 1), None)
        if twice is not None:
            raise Incorrect(
                f"the primary was called {primary.count(twice)} times for {twice}: run the router once, and no retry "
                "(a request is fetched once per source)."
            )
        if [o.request for o in report] != list(requests):
            raise Incorrect("the report does not hold one outcome per request, in order: run every request once.")
        lost = [o.request for o in report if not o.ok]
        if lost and not backup.calls:
            raise Incorrect(f"{lost[0]} failed: the backup was never asked. Wrap the sources in a FallbackChain.")
        if lost:
            raise Incorrect(f"{lost[0]} failed: every request should be answered, by the primary or the backup.")
        extra = sorted({r for r, _ in backup.calls} - failing)
        if extra:
            raise Incorrect(f"the backup was asked for {extra[0]}, which the primary answered: a fallback, not a copy.")
        if any(name == "ella-exercise" or not name.startswith("ella-worker") for _, name in primary.calls):
            raise Incorrect("the requests did not run on the router's worker threads: use Router(...).run(requests).")
        if meeting.peak > workers:
            raise Incorrect(f"{meeting.peak} requests ran at once with workers={workers}: pass workers to the Router.")
        if not meeting.met:
            raise Incorrect(
                f"at most {meeting.peak} request(s) ran at once with workers={workers}: Router(chain, "
                "workers=workers), one router for the whole batch."
            )


_RAN = re.compile(r"requests\s+10\b")

# Runs main.py (imported, or as the script) with every SimulatedSource call recorded in $ELLA_CHECK_CALLS.
_RUNNER = """
import json, os, runpy, sys
from ella_lab.sources import SimulatedSource
calls = []
original = SimulatedSource.fetch
def recorded(self, request, *args, **kwargs):
    try:
        value = original(self, request, *args, **kwargs)
    except Exception:
        calls.append([self.name, str(request), False])
        raise
    calls.append([self.name, str(request), True])
    return value
SimulatedSource.fetch = recorded
sys.path.insert(0, os.getcwd())
try:
    if sys.argv[1] == "import":
        import main
    else:
        runpy.run_path("main.py", run_name="__main__")
finally:
    with open(os.environ["ELLA_CHECK_CALLS"], "w") as out:
        json.dump(calls, out)
"""


class Guard(Question):
    title = "main.py with its __main__ guard"
    expects = "the text of main.py, as a string: SCRIPT = '''...'''"
    answer_name = "SCRIPT"
    hints = (
        "Put the work in a function, main(), that builds the chain and the router and prints report.describe().",
        'At the bottom: if __name__ == "__main__": main()  (with the parentheses). Python sets __name__ to '
        '"__main__" only for the file it runs; an import sets it to the module\'s name.',
    )
    solution_text = '''
        SCRIPT = """
        from ella_lab import FallbackChain, Router, SimulatedSource


        def main():
            primary = SimulatedSource("primary", latency=0.01, failure_rate=0.3, seed=1)
            backup = SimulatedSource("backup", latency=0.01)
            chain = FallbackChain([primary, backup])
            report = Router(chain, workers=3).run([f"DataRequest-{i}" for i in range(10)])
            print(report.describe())


        if __name__ == "__main__":
            main()
        """
    '''
    TIMEOUT = 4.0
    REQUESTS = tuple(f"DataRequest-{i}" for i in range(10))

    def _check(self, script: Any) -> str:
        if not isinstance(script, str):
            raise Incorrect(f"give the text of main.py as a string (SCRIPT = '''...'''); got {type(script).__name__}.")
        with tempfile.TemporaryDirectory(prefix="ella-main-") as folder:
            Path(folder, "main.py").write_text(script)
            imported, calls = self._python(folder, "import")
            if imported.returncode != 0:
                raise Incorrect(f"`import main` failed: {self._last_line(imported.stderr)}")
            if calls or _RAN.search(imported.stdout):
                raise Incorrect(
                    "importing main.py ran the router (a test that imports it would run a whole batch): put the call "
                    'under if __name__ == "__main__":'
                )
            if imported.stdout.strip():
                raise Incorrect(
                    f"importing main.py printed {imported.stdout.strip()[:40]!r}: a module prints nothing when it is "
                    'imported; put every print under if __name__ == "__main__": (or in main()).'
                )
            ran, calls = self._python(folder, "run")
        if ran.returncode != 0:
            raise Incorrect(f"`python main.py` failed: {self._last_line(ran.stderr)}")
        if not _RAN.search(ran.stdout):
            raise Incorrect(
                "`python main.py` printed no report of 10 requests: does the guard compare __name__ with "
                '"__main__" exactly, and call main() with its parentheses, and does main() print report.describe()?'
            )
        if len(_RAN.findall(ran.stdout)) > 1:
            raise Incorrect("`python main.py` ran the batch more than once: call main() once, under the guard.")
        self._sources(calls)
        if not re.search(r"failed\s+0\b", ran.stdout):
            raise Incorrect("some requests failed: wire the primary and the backup into one FallbackChain.")
        return "importing main.py runs nothing; running it runs the batch once, with its fallback."

    def _sources(self, calls: list[list]) -> None:
        """The recorded calls: the primary asked for each request once, the backup exactly for its failures."""
        if not calls:
            raise Incorrect(
                "`python main.py` printed a report, but no SimulatedSource was ever called: main() must run the "
                "router over the primary and the backup, and print the report it gets back."
            )
        primary = [(r, ok) for name, r, ok in calls if name == "primary"]
        backup = [r for name, r, _ in calls if name == "backup"]
        if not primary:
            raise Incorrect(
                "the primary was never asked: the chain is FallbackChain([primary, backup]) with a "
                'SimulatedSource("primary", ...) first.'
            )
        asked = [r for r, _ in primary]
        other = next((r for r in asked if r not in self.REQUESTS), None)
        if other is not None:
            raise Incorrect(
                f"the primary was asked for {other}, which is not one of DataRequest-0 ... DataRequest-9: run "
                'exactly those ten, [f"DataRequest-{i}" for i in range(10)].'
            )
        twice = next((r for r in self.REQUESTS if asked.count(r) > 1), None)
        missing = next((r for r in self.REQUESTS if r not in asked), None)
        if twice is not None or missing is not None:
            raise Incorrect(
                f"the primary was asked for {twice} {asked.count(twice)} times: run the router once, with no retry."
                if twice is not None
                else f"the primary was never asked for {missing}: run all ten requests, in one run of the router."
            )
        failed = sorted(r for r, ok in primary if not ok)
        if failed and not backup:
            raise Incorrect(
                f"the primary failed {len(failed)} request(s) and the backup was never asked: wire them into one "
                'FallbackChain([primary, backup]), with a SimulatedSource("backup", ...).'
            )
        if sorted(backup) != failed:
            raise Incorrect(
                f"the backup was asked for {sorted(backup)[:3]}..., but the primary failed {failed}: the backup "
                "answers exactly the primary's failures (FallbackChain([primary, backup]), in that order)."
            )

    def _python(self, folder: str, mode: str) -> tuple[subprocess.CompletedProcess, list]:
        record = Path(folder, "calls.json")
        record.unlink(missing_ok=True)
        try:
            done = subprocess.run(
                [sys.executable, "-c", _RUNNER, mode],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=self.TIMEOUT,
                env={**os.environ, "ELLA_CHECK_CALLS": str(record)},
            )
        except subprocess.TimeoutExpired:
            what = "`import main`" if mode == "import" else "`python main.py`"
            raise Incorrect(
                f"{what} did not finish within {self.TIMEOUT:g} s (it was stopped): does it wait for input, sleep, "
                "or wait for something that never comes?"
            ) from None
        calls = json.loads(record.read_text()) if record.exists() else []
        return done, calls

    @staticmethod
    def _last_line(text: str) -> str:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        return lines[-1] if lines else "(no message)"


class LostRequests(NumberQuestion):
    title = "How many requests does the chain lose?"
    expects = "a number of requests: lost = ..."
    example = "12"
    answer_name = "lost"
    unit = "count"
    answer = 4
    correct = "4: a request is lost only when both fail, 200 × 0.2 × 0.1."
    mistakes = (
        (40, "40 is what the primary alone fails; the backup answers most of those."),
        (20, "20 is what the backup alone would fail; it is only asked for the primary's failures."),
        (60, "failure chances multiply when both must fail; they do not add."),
        (0.02, "0.02 is the chance that a request is lost; the question asks how many of the 200."),
    )
    otherwise = "a request is lost only when the primary fails it and then the backup fails it too."
    hints = ("A request is lost only if the primary fails it (20 %) and then the backup fails it (10 %).",)
    solution_text = """
        lost = 200 * 0.2 * 0.1  # both must fail: 4 requests
    """


class WhyProperties(Question):
    title = "What a property test adds"
    checked = False
    solution_text = """
        Model answer. An example test checks the cases its author thought of; the guide's lost request needs
        a failure on exactly the request a lone worker takes first, which nobody writes down. A property
        ("every request gets exactly one outcome, whatever fails and however many workers") is checked on
        many generated cases, and hypothesis shrinks a failure to the smallest case: one worker, the first
        request failing. Seeded sources make the failing run reproducible, so the bug can be fixed and the
        case kept as a regression test.
    """


q1 = Main("q1")
q2 = Guard("q2")
q3 = LostRequests("q3")
q4 = WhyProperties("q4")
