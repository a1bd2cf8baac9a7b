"""Exercises for notebook 05, integration and testing: ``from ella_lab.exercises import phase5 as ex``."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..fallback import FallbackChain
from ..router import Router
from ._core import Incorrect, NotAttempted, NumberQuestion, Question, call_bounded, raised_by_answer

_LOG = logging.getLogger(__name__)

__all__ = ["q1", "q2", "q3", "q4"]


def _right(requests: Any, primary: Any, backup: Any, workers: int) -> Any:
    return Router(FallbackChain([primary, backup]), workers=workers).run(requests)


def _right_by_keywords(requests: Any, primary: Any, backup: Any, workers: int) -> Any:
    router = Router(source=FallbackChain(sources=[primary, backup]), workers=workers)
    return router.run(list(requests))


def _right_by_steps(requests: Any, primary: Any, backup: Any, workers: int) -> Any:
    chain = FallbackChain((primary, backup))
    report = Router(chain, workers=int(workers)).run(tuple(requests))
    return report


def _no_fallback(requests: Any, primary: Any, backup: Any, workers: int) -> Any:
    return Router(primary, workers=workers).run(requests)


def _backup_first(requests: Any, primary: Any, backup: Any, workers: int) -> Any:
    return Router(FallbackChain([backup, primary]), workers=workers).run(requests)


def _default_workers(requests: Any, primary: Any, backup: Any, workers: int) -> Any:
    return Router(FallbackChain([primary, backup])).run(requests)


def _one_worker_too_many(requests: Any, primary: Any, backup: Any, workers: int) -> Any:
    return Router(FallbackChain([primary, backup]), workers=workers + 1).run(requests)


def _prints(requests: Any, primary: Any, backup: Any, workers: int) -> None:
    _LOG.info("%s", _right(requests, primary, backup, workers).describe())


def _loses_the_last(requests: Any, primary: Any, backup: Any, workers: int) -> Any:
    return _right(list(requests)[:-1], primary, backup, workers)


def _sorted(requests: Any, primary: Any, backup: Any, workers: int) -> Any:
    return _right(sorted(requests, key=str), primary, backup, workers)


def _twice(requests: Any, primary: Any, backup: Any, workers: int) -> Any:
    _right(requests, primary, backup, workers)
    return _right(requests, primary, backup, workers)


def _backup_for_all(requests: Any, primary: Any, backup: Any, workers: int) -> Any:
    for request in requests:  # "warming" the backup: a copy, not a fallback
        with contextlib.suppress(Exception):
            backup(request)
    return _right(requests, primary, backup, workers)


class MainTest(Question):
    title = "An end-to-end test of main()"
    expects = "a function test_main(main)"
    answer_name = "test_main"
    hints = (
        "Make two sources of your own, plain functions: a primary that raises ConnectionError on some requests "
        "you choose, and a backup; let both record the requests they are asked for.",
        "Call main(requests, primary, backup, workers) with requests out of sorted order and workers other than "
        "the Router's default of 3, then assert on the Report it returns: one outcome per request, in order, "
        "each answered, by the right source (o.source), and report.workers.",
        "Count the calls: the primary asked once for every request, the backup exactly for the primary's "
        "failures. A test that asserts nothing, or whose primary never fails, passes a broken main.",
    )
    solution_text = """
        def test_main(main):
            requests = ["r3", "r1", "r4", "r0", "r2"]  # not sorted: the order must be kept
            failing = {"r1", "r4"}
            asked = {"primary": [], "backup": []}

            def primary(request):
                asked["primary"].append(request)
                if request in failing:
                    raise ConnectionError(f"primary down for {request}")
                return f"{request} from primary"

            def backup(request):
                asked["backup"].append(request)
                return f"{request} from backup"

            report = main(requests, primary, backup, 2)  # not the Router's default of 3
            assert [o.request for o in report] == requests
            assert all(o.ok for o in report)
            for o in report:
                source = "backup" if o.request in failing else "primary"
                assert (o.source, o.value) == (source, f"{o.request} from {source}"), o
            assert sorted(asked["primary"]) == sorted(requests)  # each once
            assert sorted(asked["backup"]) == sorted(failing)  # exactly the primary's failures
            assert report.workers == 2
    """
    RIGHT = (_right,)
    HIDDEN_RIGHT = (_right, _right_by_keywords, _right_by_steps)
    # (main, what is wrong with it, what a test needs to catch it)
    BROKEN = (
        (
            _no_fallback,
            "never asks the backup (no FallbackChain)",
            "let your primary fail on some requests, and assert that each is answered, by the backup",
        ),
        (_backup_first, "asks the backup first", "assert which source served each request (o.source)"),
        (
            _default_workers,
            "ignores `workers` (the Router's default, 3)",
            "call main with a number of workers other than 3, and assert report.workers",
        ),
        (_prints, "prints the report and returns None", "assert on the Report main returns"),
        (_loses_the_last, "loses the last request", "assert one outcome per request"),
        (_sorted, "routes the requests sorted", "give requests out of sorted order, and assert the outcomes' order"),
        (_twice, "runs the whole batch twice", "count the calls each source gets: the primary once per request"),
    )
    HIDDEN_BROKEN = (
        (
            _backup_for_all,
            "asks the backup for every request too",
            "count the backup's calls: only the primary's failures",
        ),
        (_one_worker_too_many, "runs workers + 1 threads", "assert report.workers"),
    )

    def _check(self, test_main: Any) -> str:
        self._judge_test(test_main, self.RIGHT, self.BROKEN)
        return (
            f"your test passes a right main and fails each of {len(self.BROKEN)} broken ones (no fallback, backup "
            "first, `workers` ignored, None returned, a request lost, the order changed, the batch run twice)."
        )

    def _check_hidden(self, test_main: Any) -> str:
        self._judge_test(test_main, self.HIDDEN_RIGHT, self.BROKEN + self.HIDDEN_BROKEN)
        return "right on every case."

    def _judge_test(self, test_main: Any, right: tuple, broken: tuple) -> None:
        if not callable(test_main):
            raise Incorrect(f"expected a function test_main(main), got {test_main!r}")
        for main in right:
            try:
                result = call_bounded(test_main, main, what="your test", timeout=4.0)
            except (Incorrect, NotAttempted):
                raise
            except Exception as exc:
                if not raised_by_answer(exc, self):
                    raise
                raise Incorrect(
                    f"your test failed a right main (FallbackChain([primary, backup]) routed by Router(chain, "
                    f"workers=workers)): {exc!r}. A test that fails correct code is a false alarm: assert only what "
                    "main promises."
                ) from None
            if result is not None:
                raise Incorrect(
                    f"your test returned {result!r}: a test says 'wrong' by raising (assert ...), and returns None "
                    "when all is well; a returned value is ignored by pytest."
                )
        for main, bug, needs in broken:
            try:
                call_bounded(test_main, main, what="your test", timeout=4.0)
            except (Incorrect, NotAttempted):
                raise
            except Exception as exc:
                if not raised_by_answer(exc, self):
                    raise
                continue  # the test failed it, as it should (AssertionError, or any error the broken main causes)
            raise Incorrect(f"your test passed a main that {bug}: {needs}.")


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


q1 = MainTest("q1")
q2 = Guard("q2")
q3 = LostRequests("q3")
q4 = WhyProperties("q4")
