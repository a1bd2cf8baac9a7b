"""Notebook 05 "Your turn", integration and testing: ``from ella_lab.exercises import walk05 as walk``."""

from __future__ import annotations

import ast
import math
import os
import secrets
import subprocess
import sys
import tempfile
import textwrap
import threading
from pathlib import Path
from typing import Any

from ..outcome import Report
from ._core import BLANK, Incorrect, NotAttempted, Question, same
from ._walk import Meeting, Prediction, Probe, answer_of, real

__all__ = ["BLANK", "____", "q1", "q2", "q3"]

____ = BLANK  # the blank a learner replaces by a number


class Guard(Question):
    title = "Add the __main__ guard to a script"
    expects = "the text of a script: main() as given, then your guard"
    hints = (
        'Python sets __name__ to "__main__" only in the program being run (python file.py, python -m module).',
        'The last lines: `if __name__ == "__main__":`, then `main()` indented under it.',
    )
    stub = '''
        script = """
        def main():
            print("routing 20 requests")

        # YOUR CODE HERE (2 lines): call main() only when this file is the program being run
        """
    '''
    solution_text = '''
        script = """
        def main():
            print("routing 20 requests")


        if __name__ == "__main__":
            main()
        """
    '''
    MARK = "routing 20 requests"
    STUB_SCRIPT = """
def main():
    print("routing 20 requests")

# YOUR CODE HERE (2 lines): call main() only when this file is the program being run
"""

    def _check(self, script: Any) -> str:
        return self._judge_script(script)

    def _check_hidden(self, script: Any) -> str:
        return self._judge_script(script)

    def _judge_script(self, script: Any) -> str:
        """Run the script imported (by ``-c``, and by another script under more names) and as a program (by path,
        ``-m``).

        Instrumented: the given main() is made to print a random token, so only a call of main() itself counts
        (text printed elsewhere does not), and the module gets random names, so a guard that tests for a
        particular module name, or for how Python was started, is caught. The other script imports it under names
        that share a part with "__main__", each fooling a guard that tests only that part: ``main``, ``__main``,
        ``main__`` (``__name__ in "__main__"``, ``in ("__main__", "main")``, ``.strip("_") == "main"``), a
        package's ``__main__`` module (``endswith("__main__")``, ``rsplit(".")[-1]``, ``[-8:]``), names with
        "main" in them, starting with "__" and ending with "_main__", or starting with "__main__"; the one-liner's
        name has eight characters, like "__main__" (``len(__name__) == 8``). A program started with ``-m`` imports
        it (a guard on ``sys.orig_argv``), and it is imported again as multiprocessing's spawn imports the program
        in a child, ``runpy.run_path(file, run_name="__mp_main__")`` (a guard on ``sys.argv[0]``). A guard that
        never reads ``__name__`` is rejected even when it passes these ways: it tests how Python was started.
        """
        if not isinstance(script, str):
            raise Incorrect(f"give the script as a string (the text of the file), got {type(script).__name__}")
        text = textwrap.dedent(script)
        if self.is_stub(text):
            raise NotAttempted("add the guard below main(), then run the check again.")
        token = f"main-ran-{secrets.token_hex(8)}"
        instrumented = self.instrument(text, token)
        module = f"script{secrets.token_hex(1)}"  # eight characters, as many as "__main__"
        package = f"pkg_{secrets.token_hex(4)}"
        mainly = {  # module name -> what it shares with "__main__", for the message
            "main": "`main`",
            "__main": "`__main`",
            "main__": "`main__`",
            f"{package}.__main__": "a package's `__main__` module",
            f"main_{secrets.token_hex(4)}": 'a name with "main" in it',
            f"__{secrets.token_hex(4)}_main__": 'a name starting with "__" and ending with "_main__"',
            f"__main__{secrets.token_hex(4)}": 'a name starting with "__main__"',
        }
        with tempfile.TemporaryDirectory() as folder:
            Path(folder, package).mkdir()
            Path(folder, package, "__init__.py").write_text("", encoding="utf-8")
            for name in (module, *mainly):
                Path(folder, *name.split(".")).with_suffix(".py").write_text(instrumented, encoding="utf-8")
            importer = "".join(f"print({name!r}, flush=True)\nimport {name}\n" for name in mainly)
            Path(folder, "importer.py").write_text(importer, encoding="utf-8")
            Path(folder, "runner.py").write_text(f"import {module}\n", encoding="utf-8")
            respawned = f"import runpy\nrunpy.run_path({str(Path(folder, module + '.py'))!r}, run_name='__mp_main__')"
            ways = {
                "imported": ["-c", f"import {module}"],
                "imported by another script": ["importer.py"],
                "imported by a program run with -m": ["-m", "runner"],
                "imported again as a spawned process": ["-c", respawned],
                "run as `python script.py`": [f"{module}.py"],
                "run as `python -m script`": ["-m", module],
            }
            runs = {how: self._python(folder, args) for how, args in ways.items()}
        for how, (code, _, err) in runs.items():
            if code != 0:
                last = err.strip().splitlines()[-1] if err.strip() else f"exit status {code}"
                for name in (*[n for n in mainly if len(n) > 6], package, module):  # the random names, longest first
                    last = last.replace(name, "script")
                raise Incorrect(f"{how}, the script failed: {last}")
        programs = {how: out.count(token) for how, (_, out, _) in runs.items() if not how.startswith("imported")}
        if self.compares_name_by_identity(text):  # whatever this Python did: 3.13 interns both strings, 3.11 not
            raise Incorrect(
                '`__name__ is "__main__"` asks whether two objects are the same one, and the name Python sets need '
                "not be the same string object as your literal (on some Pythons it is, on others not: the guard runs "
                'main() on one and never on the other); compare strings with `==`, not `is`: '
                '`if __name__ == "__main__":`.'
            )
        for how, n in programs.items():
            if n == 0:  # first: a guard that never lets main() run is wrong whatever the imports did
                self._ran(how, n, runs[how][1], text)
        if token in runs["imported"][1]:
            raise Incorrect(
                "imported (as a test would import it), the script ran main(): call it only under "
                '`if __name__ == "__main__":` (a module imported under any name, by any program, must run nothing).'
            )
        fooled = self.fooled_by(runs["imported by another script"][1], token, mainly)
        if fooled is not None and not self.reads_name(text):
            raise Incorrect(
                f"imported by another script as {fooled}, the script ran main(): your guard never reads __name__, "
                "so it cannot tell a module being imported from the program being run; "
                '`if __name__ == "__main__":` can (a module imported under any name, by any program, must run '
                "nothing)."
            )
        if fooled is not None:
            raise Incorrect(
                f"imported by another script as {fooled}, the script ran main(): compare the whole name, "
                '`if __name__ == "__main__":` (a module imported under any name, by any program, must run nothing; '
                'a test of a part of "__main__" is fooled by a name that shares that part).'
            )
        if token in runs["imported by a program run with -m"][1]:
            raise Incorrect(
                "imported by a program started with `python -m` (as `python -m pytest` imports the modules it "
                "tests), the script ran main(): how Python was started does not tell whether this file is the "
                'program; `if __name__ == "__main__":` does.'
            )
        if token in runs["imported again as a spawned process"][1]:
            raise Incorrect(
                "imported again as multiprocessing's spawn start method imports the program's file in each new "
                'process (under the name "__mp_main__", with sys.argv[0] set to the file), the script ran main(): '
                'there `if __name__ == "__main__":` is false, and runs nothing, as it must.'
            )
        if not self.reads_name(text):
            raise Incorrect(
                'your guard never reads __name__, the one name Python sets to "__main__" only in the program '
                "being run; a test of anything else (sys.argv, the __main__ module's file, how Python was started) "
                "passed the ways tried here but is fooled by some way of running or importing a file: "
                '`if __name__ == "__main__":`.'
            )
        for how, n in programs.items():
            if n != 1:
                self._ran(how, n, runs[how][1], text)
        return "imported, it runs nothing; run as a script (by path or with -m), it runs main() once."

    def _ran(self, how: str, n: int, out: str, text: str) -> None:
        """main() ran ``n`` times (not once) when the script was run as a program ``how``."""
        printed = " (printing its text is not calling it)" if n == 0 and self.MARK in out else ""
        if n == 0 and self.compares_name_by_identity(text):
            printed = (
                ": `is` asks whether two objects are the same one, and the name Python sets need not be the same "
                "string object as your literal; compare strings with `==`, not `is`"
            )
        raise Incorrect(
            f'{how}, main() ran {n} times{printed}; expected once: `if __name__ == "__main__":` then `main()` under it.'
        )

    def is_stub(self, text: str) -> bool:
        """Whether the script is the stub as given: its comment "YOUR CODE HERE" kept and no code beside main().
        Code added below the comment, a guard or not, is an attempt; so is main() alone, the comment deleted."""
        if "YOUR CODE HERE" not in text:
            return False
        try:
            return ast.dump(ast.parse(text)) == ast.dump(ast.parse(textwrap.dedent(self.STUB_SCRIPT)))
        except SyntaxError:
            return False

    @staticmethod
    def reads_name(text: str) -> bool:
        """Whether the script reads ``__name__`` anywhere (a guard on ``sys.argv`` or ``__spec__`` does not);
        ``globals()["__name__"]`` counts."""
        return any(
            (isinstance(node, ast.Name) and node.id == "__name__")
            or (isinstance(node, ast.Constant) and node.value == "__name__")
            for node in ast.walk(ast.parse(text))
        )

    @staticmethod
    def compares_name_by_identity(text: str) -> bool:
        """Whether the script compares ``__name__`` with ``is`` or ``is not`` (an identity test, not equality)."""
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Compare) and any(isinstance(op, ast.Is | ast.IsNot) for op in node.ops):
                sides = [node.left, *node.comparators]
                if any(isinstance(side, ast.Name) and side.id == "__name__" for side in sides):
                    return True
        return False

    @staticmethod
    def fooled_by(out: str, token: str, names: dict[str, str]) -> str | None:
        """The first import, among ``names`` (printed by the importer before each), after which main() ran."""
        current = None
        for line in out.splitlines():
            if line in names:
                current = names[line]
            elif token in line:
                return current or "a module name"
        return None

    def instrument(self, text: str, token: str) -> str:
        """``text`` with the given main()'s printed text replaced by ``token``, found by parsing, not by spelling.

        Either quote, a return annotation, comments or blank lines: any top-level ``def main()`` that prints
        the given text is the given main().
        """
        try:
            tree = ast.parse(text)
        except SyntaxError as exc:
            raise Incorrect(f"the script failed: SyntaxError: {exc.msg} (line {exc.lineno})") from None
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef) and node.name == "main"):
                continue
            for call in ast.walk(node):
                if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "print"):
                    continue
                for arg in call.args:
                    if isinstance(arg, ast.Constant) and arg.value == self.MARK and arg.lineno == arg.end_lineno:
                        lines = text.splitlines(keepends=True)
                        line = lines[arg.lineno - 1].encode("utf-8")
                        start, end = arg.col_offset, arg.end_col_offset  # byte offsets in the line
                        lines[arg.lineno - 1] = (line[:start] + repr(token).encode() + line[end:]).decode("utf-8")
                        return "".join(lines)
        raise Incorrect(f'keep the given main(), which prints "{self.MARK}", and add the guard below it.')

    @staticmethod
    def _python(folder: str, args: list[str]) -> tuple[int, str, str]:
        """Run ``python *args`` in ``folder``, bounded; (exit status, stdout, stderr)."""
        try:
            done = subprocess.run(
                [sys.executable, *args],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=10,
                env={**os.environ, "PYTHONPATH": folder, "PYTHONDONTWRITEBYTECODE": "1"},
            )
        except subprocess.TimeoutExpired:
            raise Incorrect("the script did not end within 10 s: does main() wait forever?") from None
        return done.returncode, done.stdout, done.stderr


class AllAnswered(Prediction):
    title = "Predict: the chance that a run of 20 requests loses none (exit status 0)"
    expects = "a chance, between 0 and 1"
    example = "0.5"
    unit = "fraction"
    model = (1 - 0.3**2) ** 20
    tolerance = 0.009  # 0.15, 0.16, 1/6.6 and 1/7 are right; 0.91¹⁹ = 0.167 and 0.91²¹ = 0.138 are off by one request;
    # e^(−1.8) = 0.165 is the Poisson approximation (within 1 % of 0.167: the mistakes are tried nearest first).
    # The right band, up to 0.1606, ends 0.003 below the nearest mistake's 1 % band (from 0.1636), so answers rise
    # from right through "too high" to a named mistake, never back to right.
    why = (
        "A request is lost only when both sources fail it: 0.3² = 0.09, so each is answered with probability 0.91. "
        "The 20 requests fail independently, so all 20 are answered with probability 0.91²⁰ ≈ 0.152: one "
        "run in 6.6 exits with status 0, although each request is answered 91 % of the time."
    )
    mistakes = (
        (0.91, "0.91 = 1 − 0.3² is one request's chance; all 20 must be answered, each independently: multiply."),
        (0.09, "0.09 = 0.3² is the chance that one request is lost."),
        (1 - 0.91**20, "0.848 = 1 − 0.91²⁰ is the chance that at least one is lost: exit status 1."),
        (0.7**20, "0.0008 = 0.7²⁰ is the chance that the primary serves all 20; the backup answers what it misses."),
        (1.8, "1.8 = 20 · 0.3² is how many requests are lost on average, not a chance."),
        (1 - 20 * 0.09, "1 − 20 · 0.09 adds the chances of loss; for independent requests, multiply those of success."),
        (0.91**10, "0.389 = 0.91¹⁰ is a run of 10 requests (main.py's default); this run routes 20: 0.91²⁰."),
        (0.9**20, "0.122 = 0.9²⁰: one request is answered with probability 1 − 0.3² = 0.91, not 0.9 (0.91²⁰ ≈ 0.152)."),
        (
            0.91**19,
            "0.167 is 0.91¹⁹, which counts 19 requests, or 1/6, one run in 6: the run routes 20, each answered with "
            "probability 0.91, so 0.91²⁰ ≈ 0.152, one run in 6.6.",
        ),
        (
            math.exp(-1.8),
            "0.165 = e^(−1.8) is the Poisson approximation, from the 1.8 losses expected per run; the exact value is "
            "0.91²⁰ ≈ 0.152: 20 requests, each answered with probability 0.91, independently.",
        ),
        (0.91**21, "0.138 = 0.91²¹ counts 21 requests: the run routes 20, so 0.91²⁰ ≈ 0.152."),
    )
    hints = (
        "When is one request lost? So what is the chance that one request is answered?",
        "The run loses none only if each of its 20 requests is answered, independently of the others: multiply.",
    )
    stub = """
        all_answered_prediction = ____  # a chance, between 0 and 1
    """

    def _check(self, value: Any) -> str:
        """As every prediction's check, but the nearest mistake names the answer: e^(−1.8) = 0.165 and
        0.91¹⁹ = 0.167 are within 1 % of each other, and each has its own reason."""
        number = real(value)
        near = [m for m in self.mistakes if number is not None and math.isclose(number, m[0], rel_tol=0.01)]
        if near:
            _, why = min(near, key=lambda m: abs(m[0] - number))
            raise Incorrect(f"{self.comparison(number)} {why}")
        return super()._check(value)

    solution_text = """
        all_answered_prediction = (1 - 0.3**2) ** 20  # 0.152: each of the 20 is answered with probability 0.91
    """


class Main(Question):
    title = "Write main(): a router whose source is a fallback chain"
    expects = "a function main(requests, primary, backup, workers)"
    hints = (
        "The chain first: FallbackChain([primary, backup]) asks the primary, then the backup when it fails.",
        "Then the router: Router(chain, workers=workers).run(requests) returns a Report.",
        "Return that Report (printing it gives the caller nothing to check).",
    )
    stub = """
        def main(requests, primary, backup, workers):
            # YOUR CODE HERE (2 or 3 lines): a FallbackChain of primary then backup, routed by a Router
            # with `workers` threads; return the Report.
            raise NotImplementedError
    """
    solution_text = """
        def main(requests, primary, backup, workers):
            chain = FallbackChain([primary, backup])
            return Router(chain, workers=workers).run(requests)
    """
    REQUESTS = tuple(f"DataRequest-{i}" for i in range(12))
    PRIMARY_DOWN = ("DataRequest-2", "DataRequest-5", "DataRequest-9")
    BACKUP_DOWN = ("DataRequest-9",)
    HIDDEN_REQUESTS = tuple(f"job-{i}" for i in (7, 3, 11, 0, 5, 9, 1, 8, 2))  # not in sorted order
    HIDDEN_PRIMARY_DOWN = ("job-3", "job-0", "job-8")
    HIDDEN_BACKUP_DOWN = ("job-0",)

    def _check(self, main: Any) -> str:
        if not callable(main):
            raise Incorrect(f"expected a function main(requests, primary, backup, workers), got {main!r}")
        for workers in (4, 2):
            self._run(main, workers, self.REQUESTS, self.PRIMARY_DOWN, self.BACKUP_DOWN)
        return "one outcome per request, the backup asked exactly when the primary failed, on `workers` threads."

    def _check_hidden(self, main: Any) -> str:
        if not callable(main):
            raise Incorrect(f"expected a function main(requests, primary, backup, workers), got {main!r}")
        for workers in (3, 5):
            self._run(main, workers, self.HIDDEN_REQUESTS, self.HIDDEN_PRIMARY_DOWN, self.HIDDEN_BACKUP_DOWN)
        return "one outcome per request, the backup asked exactly when the primary failed, on `workers` threads."

    def _run(
        self, main: Any, workers: int, requests: tuple[str, ...], primary_down: tuple[str, ...], backup_down: tuple
    ) -> None:
        primary = Probe("primary", primary_down)
        backup = Probe("backup", backup_down)
        primary.meeting = Meeting(workers)
        report, error = answer_of(main, list(requests), primary, backup, workers, what="main", timeout=5.0)
        caller = {threading.current_thread().name, "ella-exercise"}
        if error is not None and primary.threads and primary.threads <= caller:
            raise Incorrect(
                f"main raised {error!r} in the calling thread: no Router ran the requests. Route the chain with "
                "Router(chain, workers=workers).run(requests), which runs them on its threads and records each "
                "failure in the Report."
            )
        if self.from_sources(error):
            raise Incorrect(f"main raised {error!r}: the router records failures in the Report; let it.")
        if isinstance(error, TypeError) and "Router.__init__() takes" in str(error):
            raise Incorrect(
                f"main itself failed: {error!r}. Name the thread count: Router(chain, workers=workers) "
                "(workers= must be named)."
            )
        if error is not None:
            raise Incorrect(f"main itself failed: {error!r}")
        if report is None:
            raise Incorrect("main returned None: return the Report of the run (printing it gives the caller nothing).")
        if not isinstance(report, Report):
            raise Incorrect(f"main should return the Report of Router(...).run(requests), got {type(report).__name__}.")
        got = [o.request for o in report]
        if not same(got, list(requests)) and same(sorted(map(str, got)), sorted(requests)):
            raise Incorrect(
                "the Report holds every request, but not in the order given: route the requests as they come "
                "(Router.run keeps their order), without sorting or reordering them."
            )
        if not same(got, list(requests)):
            raise Incorrect("the Report does not hold one outcome per request, in order: run every request once.")
        if not primary.calls and backup.calls:
            raise Incorrect(
                "the primary was never asked: the chain is FallbackChain([primary, backup]), primary first."
            )
        served = {o.request: o.source for o in report}
        first_backup = next((r for r, _ in backup.calls), None)
        if first_backup is not None and primary.count(first_backup) == 0:
            raise Incorrect(
                f"the backup was asked for {first_backup} before the primary: the primary comes first in the chain."
            )
        if not backup.calls:
            raise Incorrect(
                f"{primary_down[0]} failed at the primary and the backup was never asked: wrap both sources "
                "in a FallbackChain and route the chain."
            )
        extra = [r for r, _ in backup.calls if r not in primary_down]
        if extra:
            raise Incorrect(f"the backup was asked for {extra[0]}, which the primary answered: a fallback, not a copy.")
        self._asked_once(report, requests, primary, primary_down)
        self._asked_once(report, requests, backup, backup_down)
        expected = {r: None if r in backup_down else "backup" if r in primary_down else "primary" for r in requests}
        if not same(served, expected):
            wrong = next(r for r in requests if not same(served.get(r), expected[r]))
            raise Incorrect(f"{wrong} was served by {served[wrong]!r}; expected {expected[wrong]!r}.")
        if primary.threads <= caller:
            raise Incorrect("every request ran in the calling thread: route them with Router(...).run(requests).")
        meeting = primary.meeting
        if meeting.peak > workers:
            raise Incorrect(f"{meeting.peak} requests ran at once with workers={workers}: pass workers to the Router.")
        if not meeting.met:
            raise Incorrect(
                f"at most {meeting.peak} request(s) ran at once with workers={workers}: pass workers to the Router, "
                "Router(chain, workers=workers)."
            )

    @staticmethod
    def _asked_once(report: Report, requests: tuple[str, ...], probe: Probe, down: tuple[str, ...]) -> None:
        """Each request reaches ``probe`` at most once: a source listed twice, a retry and a second routing each
        ask it again, and each has its own message (the attempts of the request tell them apart)."""
        twice = [r for r in requests if probe.count(r) > 1]
        if not twice:
            return
        name, request = probe.name, twice[0]
        attempts = next(o for o in report if o.request == request).attempts
        order = [a.source for a in attempts]
        if "backup" in order and name == "primary" and "primary" in order[order.index("backup") :]:
            raise Incorrect(
                f"the primary was asked again for {request} after the backup (the chain asked "
                f"{', '.join(order)}): list each source once, FallbackChain([primary, backup])."
            )
        if [a.number for a in attempts if a.source == name].count(0) > 1:
            raise Incorrect(
                f"the {name} is listed twice in the chain (it asked {', '.join(order)} for {request}): list each "
                "source once, FallbackChain([primary, backup])."
            )
        if set(twice) <= set(down):
            raise Incorrect(
                f"the {name} was asked {probe.count(request)} times for {request}, which it failed: the chain "
                "retried it. Leave out retry=: FallbackChain([primary, backup]) asks each source once."
            )
        raise Incorrect(f"the {name} was asked {probe.count(request)} times for {request}: route each request once.")

    @staticmethod
    def from_sources(error: Exception | None) -> bool:
        """Whether ``error`` is a source's failure that escaped main: a ``ConnectionError`` (``SourceError`` is
        one), or a group of them (a chain whose sources all failed)."""
        if isinstance(error, BaseExceptionGroup):
            return error.split(ConnectionError)[1] is None
        return isinstance(error, ConnectionError)


q1 = Guard("q1")
q2 = AllAnswered("q2")
q3 = Main("q3")
