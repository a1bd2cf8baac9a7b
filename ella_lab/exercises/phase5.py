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


# Imports main.py, then runs it as __main__ once per argument list, in one process, recording every
# SimulatedSource call and what each run printed, and its exit status as Python would set it.
_RUNNER = """
import contextlib, io, json, os, runpy, sys, traceback
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
def run(step):
    del calls[:]
    out, err, status = io.StringIO(), io.StringIO(), 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            step()
        except SystemExit as exc:  # what the interpreter would make of it
            if exc.code is None:
                status = 0
            elif isinstance(exc.code, int):
                status = exc.code % 256
            else:
                print(exc.code, file=sys.stderr)
                status = 1
        except BaseException:
            traceback.print_exc()
            status = 1
    return {"status": status, "out": out.getvalue(), "err": err.getvalue(), "calls": list(calls)}
def as_script(argv):
    sys.argv = ["main.py", *argv]
    runpy.run_path("main.py", run_name="__main__")
runs = [run(lambda: __import__("main"))]
for argv in json.loads(os.environ["ELLA_CHECK_ARGS"]):
    runs.append(run(lambda: as_script(argv)))
with open(os.environ["ELLA_CHECK_OUT"], "w") as record:
    json.dump(runs, record)
"""

BAD, SERVED, SOME_FAILED = 2, 0, 1


class ExitStatus(Question):
    title = "main.py's exit status: 0, 1 or 2"
    expects = "the text of main.py, as a string: SCRIPT = '''...'''"
    answer_name = "SCRIPT"
    hints = (
        "Parse the arguments with argparse (type=int for --requests and --workers, type=float for the rates), "
        "then check the ranges yourself: parser.error(message) prints the message on stderr and exits 2.",
        "main(argv) returns the status: 0 when report.failed is empty, else 1. A request the backup served is "
        "answered: only an outcome with no answer counts as failed.",
        'The last lines: if __name__ == "__main__": sys.exit(main(sys.argv[1:])). Without sys.exit, the '
        "status main returns is thrown away, and the script exits 0 whatever happened.",
    )
    solution_text = '''
        SCRIPT = """
        import argparse
        import sys

        from ella_lab import FallbackChain, Router, SimulatedSource


        def main(argv):
            parser = argparse.ArgumentParser(description="Route DataRequest-0 ... through primary, then backup.")
            parser.add_argument("--requests", type=int, default=10)
            parser.add_argument("--workers", type=int, default=3)
            parser.add_argument("--primary-failure", type=float, default=0.3)
            parser.add_argument("--backup-failure", type=float, default=0.0)
            args = parser.parse_args(argv)  # not a number: a message on stderr, exit status 2
            if args.requests < 1 or args.workers < 1:
                parser.error("--requests and --workers must be at least 1")  # exits 2, before any routing
            if not (0 <= args.primary_failure <= 1 and 0 <= args.backup_failure <= 1):
                parser.error("a failure rate is between 0 and 1")
            primary = SimulatedSource("primary", latency=0.002, failure_rate=args.primary_failure, seed=1)
            backup = SimulatedSource("backup", latency=0.002, failure_rate=args.backup_failure, seed=2)
            requests = [f"DataRequest-{i}" for i in range(args.requests)]
            report = Router(FallbackChain([primary, backup]), workers=args.workers).run(requests)
            print(report.describe())
            return 1 if report.failed else 0  # a request the backup served is answered


        if __name__ == "__main__":
            sys.exit(main(sys.argv[1:]))
        """
    '''
    TIMEOUT = 20.0
    # (arguments, the status they call for: None when it depends on what failed, read from the recorded calls)
    VISIBLE = (
        (["--primary-failure", "0"], SERVED),
        ([], None),
        (["--primary-failure", "1", "--backup-failure", "0", "--workers", "4"], SERVED),
        (["--primary-failure", "1", "--backup-failure", "1"], SOME_FAILED),
        (["--requests", "12", "--primary-failure", "0.5", "--backup-failure", "0.5"], None),
        (["--workers", "0"], BAD),
        (["--requests", "ten"], BAD),
        (["--backup-failure", "1.5"], BAD),
    )
    HIDDEN = (
        (["--requests", "30", "--workers", "5", "--primary-failure", "0.6", "--backup-failure", "0.4"], None),
        (["--requests", "3", "--primary-failure", "0", "--backup-failure", "1"], SERVED),
        (["--requests", "7", "--workers", "2", "--primary-failure", "1", "--backup-failure", "1"], SOME_FAILED),
        (["--requests", "0"], BAD),
        (["--workers", "-2"], BAD),
        (["--primary-failure", "-0.1"], BAD),
        (["--requests", "2.5"], BAD),
    )

    def _check(self, script: Any) -> str:
        self._judge_script(script, self.VISIBLE)
        return (
            "importing main.py runs nothing; run as a script it exits 0 when every request is answered (the "
            "backup's answers too), 1 when some have none, 2 on bad arguments, with a message and nothing routed."
        )

    def _check_hidden(self, script: Any) -> str:
        self._judge_script(script, self.VISIBLE + self.HIDDEN)
        return "right on every case."

    def _judge_script(self, script: Any, cases: tuple) -> None:
        if not isinstance(script, str):
            raise Incorrect(f"give the text of main.py as a string (SCRIPT = '''...'''); got {type(script).__name__}.")
        with tempfile.TemporaryDirectory(prefix="ella-main-") as folder:
            Path(folder, "main.py").write_text(script)
            runs = self._runs(folder, [argv for argv, _ in cases])
            imported = runs[0]
            if imported["status"] != 0:
                raise Incorrect(f"`import main` failed: {self._last_line(imported['err'])}")
            if imported["calls"] or imported["out"].strip():
                raise Incorrect(
                    "importing main.py ran or printed something (a test that imports it would run a batch): put "
                    'the call under if __name__ == "__main__":'
                )
            for (argv, expected), run in zip(cases, runs[1:], strict=True):
                self._judge_run(argv, expected, run)
            failing = next(argv for argv, expected in cases if expected == SOME_FAILED)
            status = self._script(folder, failing)  # the interpreter's own exit status, once, for real
            if status != SOME_FAILED:
                raise Incorrect(
                    f"`python main.py {' '.join(failing)}` exited with status {status}, though requests failed: "
                    "end the script with sys.exit(main(sys.argv[1:]))."
                )

    def _judge_run(self, argv: list[str], expected: int | None, run: dict) -> None:
        shown = f"`python main.py {' '.join(argv)}`".replace(" `", "`")
        status, calls = run["status"], run["calls"]
        if expected == BAD:
            self._judge_refusal(shown, status, calls, run["err"])
            return
        if status == BAD:
            raise Incorrect(
                f"{shown} exited 2, but these arguments are right ({self._last_line(run['err'])}): the failure "
                "rates are numbers like 0.5 (type=float)."
            )
        if status == 1 and "Traceback" in run["err"]:
            raise Incorrect(f"{shown} failed: {self._last_line(run['err'])}")
        lost = self._lost(argv, calls)
        if expected is None:
            expected = SOME_FAILED if lost else SERVED
        if not re.search(rf"requests\s+{self._count(argv)}\b", run["out"]):
            raise Incorrect(f"{shown} printed no report of {self._count(argv)} requests: print(report.describe()).")
        if status == expected:
            return
        if expected == SOME_FAILED and status == 0:
            raise Incorrect(
                f"{shown} exited 0, though {len(lost)} request(s) had no answer: does main return 1 then (not False: "
                "sys.exit(False) exits 0), and does the script end with sys.exit(main(sys.argv[1:]))? Without "
                "sys.exit the status is thrown away."
            )
        if expected == SOME_FAILED and status == len(lost) % 256:
            raise Incorrect(
                f"{shown} exited {status}, the number of requests with no answer: exit 1 whatever the number "
                "(the status is one byte: 256 failures would exit 0, 'success')."
            )
        served_by_backup = sum(1 for name, _, ok in calls if name == "backup" and ok)
        if expected == SERVED and status == 1 and not served_by_backup:
            raise Incorrect(
                f"{shown} exited 1, though the primary answered every request: sys.exit(True) exits 1, because "
                "True is 1. Return 0 when every request is answered."
            )
        if expected == SERVED and status == 1:
            raise Incorrect(
                f"{shown} exited 1, though every request was answered ({served_by_backup} by the backup): a request "
                "the backup served is answered; exit 1 only when some outcome has no answer (report.failed)."
            )
        raise Incorrect(f"{shown} exited with status {status}; expected {expected}.")

    @staticmethod
    def _judge_refusal(shown: str, status: int, calls: list, err: str) -> None:
        """Bad arguments: nothing routed, a message on stderr, exit status 2."""
        if calls:
            raise Incorrect(
                f"{shown} routed requests before it refused its arguments: check every argument first, and exit 2 "
                "before any request is sent."
            )
        last = ExitStatus._last_line(err)
        if status == 1 and "Traceback" in err:
            raise Incorrect(
                f"{shown} ended in a traceback (exit status 1): {last}. A bad argument is the caller's mistake, "
                "not a crash: check it, say what is wrong on stderr and exit 2 (parser.error(...) does both)."
            )
        if status == 1 and err.strip():
            raise Incorrect(
                f"{shown} exited with status 1: sys.exit with a text prints it and exits 1. Bad arguments exit 2 "
                "(parser.error(...), or print to stderr and sys.exit(2))."
            )
        if status != BAD:
            raise Incorrect(f"{shown} exited with status {status}: bad arguments exit 2, with a message on stderr.")
        if not err.strip():
            raise Incorrect(
                f"{shown} exited 2 without a word on stderr: say what is wrong there (stdout is for the report; "
                "parser.error(...) writes to stderr)."
            )

    def _lost(self, argv: list[str], calls: list) -> list[str]:
        """The requests with no successful call, after checking the primary was asked for each request once."""
        count = self._count(argv)
        requests = [f"DataRequest-{i}" for i in range(count)]
        asked = [r for name, r, _ in calls if name == "primary"]
        if sorted(asked) != sorted(requests):
            extra = next((r for r in asked if r not in requests or asked.count(r) > 1), None)
            missing = next((r for r in requests if r not in asked), None)
            if missing is not None and any(name == "backup" and r == missing for name, r, _ in calls):
                raise Incorrect(
                    f"{missing} went to the backup, never to the primary: the primary comes first, "
                    "FallbackChain([primary, backup])."
                )
            raise Incorrect(
                f"with {count} requests the primary was asked for {extra} more than once, or it is not one of them"
                if extra is not None
                else f"with {count} requests the primary was never asked for {missing}: route DataRequest-0 ... "
                f"DataRequest-{count - 1} once each, through FallbackChain([primary, backup])."
            )
        failed = sorted(r for name, r, ok in calls if name == "primary" and not ok)
        backup = sorted(r for name, r, _ in calls if name == "backup")
        if backup != failed:
            raise Incorrect(
                f"the backup was asked for {backup[:3]}..., but the primary failed {failed[:3]}...: the backup "
                "answers exactly the primary's failures (FallbackChain([primary, backup]), in that order)."
            )
        answered = {r for _, r, ok in calls if ok}
        return [r for r in requests if r not in answered]

    @staticmethod
    def _count(argv: list[str]) -> int:
        return int(argv[argv.index("--requests") + 1]) if "--requests" in argv else 10

    def _runs(self, folder: str, cases: list[list[str]]) -> list[dict]:
        out = Path(folder, "runs.json")
        env = {**os.environ, "ELLA_CHECK_ARGS": json.dumps(cases), "ELLA_CHECK_OUT": str(out)}
        try:
            done = subprocess.run(
                [sys.executable, "-c", _RUNNER], cwd=folder, capture_output=True, text=True, timeout=self.TIMEOUT,
                env=env,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise Incorrect(
                f"importing and running main.py {len(cases)} times did not finish within {self.TIMEOUT:g} s (it was "
                "stopped): does it wait for input, or for something that never comes?"
            ) from None
        if not out.exists():
            raise Incorrect(f"main.py stopped the checking process itself: {self._last_line(done.stderr)}")
        return json.loads(out.read_text())

    def _script(self, folder: str, argv: list[str]) -> int | str:
        try:
            return subprocess.run(
                [sys.executable, "main.py", *argv], cwd=folder, capture_output=True, timeout=self.TIMEOUT
            ).returncode
        except subprocess.TimeoutExpired:
            return f"none: it was stopped after {self.TIMEOUT:g} s"

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
q2 = ExitStatus("q2")
q3 = LostRequests("q3")
q4 = WhyProperties("q4")
