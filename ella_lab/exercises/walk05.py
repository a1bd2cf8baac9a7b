"""Notebook 05 "Your turn", integration and testing: ``from ella_lab.exercises import walk05 as walk``."""

from __future__ import annotations

import threading
from typing import Any

from ..outcome import Report
from ._core import Incorrect, Question
from ._walk import Meeting, Prediction, Probe, answer_of

__all__ = ["q1", "q2"]


class BackupCount(Prediction):
    title = "Predict: how many of 20 requests does the backup serve?"
    expects = "a number of requests"
    example = "3"
    unit = "count"
    model = 20 * 0.3 * (1 - 0.3)
    tolerance = 1.0
    why = (
        "On average 20 · 0.3 = 6 primaries fail, and the backup answers 70 % of those: 20 · 0.3 · 0.7 = 4.2. "
        "One run of 20 requests scatters around that by about ±2 (a binomial's spread, √(20 · 0.21 · 0.79))."
    )
    mistakes = (
        (6, "6 = 20 · 0.3 is how many ask the backup; it fails 30 % of those too."),
        (1.8, "1.8 = 20 · 0.3² is how many both sources fail: lost, not served by the backup."),
        (14, "14 = 20 · 0.7 is what the primary serves."),
        (0.21, "0.21 is the backup's share; the question asks how many requests, out of 20."),
    )
    hints = ("How many requests ask the backup at all? What share of those does the backup answer?",)
    solution_text = """
        prediction = 20 * 0.3 * (1 - 0.3)  # 4.2 on average; one run of 20 lands within about ±2 of it
    """


class Main(Question):
    title = "Write main(): a router whose source is a fallback chain"
    expects = "a function main(requests, primary, backup, workers)"
    hints = (
        "The chain first: FallbackChain([primary, backup]) asks the primary, then the backup when it fails.",
        "Then the router: Router(chain, workers=workers).run(requests) returns a Report.",
        "Return that Report (printing it gives the caller nothing to check).",
    )
    solution_text = """
        def main(requests, primary, backup, workers):
            chain = FallbackChain([primary, backup])
            return Router(chain, workers=workers).run(requests)
    """
    REQUESTS = tuple(f"DataRequest-{i}" for i in range(12))
    PRIMARY_DOWN = ("DataRequest-2", "DataRequest-5", "DataRequest-9")
    BACKUP_DOWN = ("DataRequest-9",)

    def _check(self, main: Any) -> str:
        if not callable(main):
            raise Incorrect(f"expected a function main(requests, primary, backup, workers), got {main!r}")
        for workers in (4, 2):
            self._run(main, workers)
        return "one outcome per request, the backup asked exactly when the primary failed, on `workers` threads."

    def _run(self, main: Any, workers: int) -> None:
        primary = Probe("primary", self.PRIMARY_DOWN)
        backup = Probe("backup", self.BACKUP_DOWN)
        primary.meeting = Meeting(workers)
        report, error = answer_of(main, list(self.REQUESTS), primary, backup, workers, what="main", timeout=5.0)
        if error is not None:
            raise Incorrect(f"main raised {error!r}: the router records failures in the Report; let it.")
        if report is None:
            raise Incorrect("main returned None: return the Report of the run (printing it gives the caller nothing).")
        if not isinstance(report, Report):
            raise Incorrect(f"main should return the Report of Router(...).run(requests), got {type(report).__name__}.")
        if [o.request for o in report] != list(self.REQUESTS):
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
                f"{self.PRIMARY_DOWN[0]} failed at the primary and the backup was never asked: wrap both sources "
                "in a FallbackChain and route the chain."
            )
        extra = [r for r, _ in backup.calls if r not in self.PRIMARY_DOWN]
        if extra:
            raise Incorrect(f"the backup was asked for {extra[0]}, which the primary answered: a fallback, not a copy.")
        twice = [r for r in self.REQUESTS if primary.count(r) > 1]
        if twice:
            raise Incorrect(
                f"the primary was asked {primary.count(twice[0])} times for {twice[0]}: route each request once."
            )
        expected = {
            r: None if r in self.BACKUP_DOWN else "backup" if r in self.PRIMARY_DOWN else "primary"
            for r in self.REQUESTS
        }
        if served != expected:
            wrong = next(r for r in self.REQUESTS if served[r] != expected[r])
            raise Incorrect(f"{wrong} was served by {served[wrong]!r}; expected {expected[wrong]!r}.")
        caller = {threading.current_thread().name, "ella-exercise"}
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


q1 = BackupCount("q1")
q2 = Main("q2")
