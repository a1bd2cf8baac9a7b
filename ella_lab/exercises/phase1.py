"""Exercises for notebook 01, the mission: ``from ella_lab.exercises import phase1 as ex``."""

from __future__ import annotations

import threading
import time
from typing import Any

from ._core import Incorrect, Question, Rendezvous, SecondsQuestion, call_bounded, same

__all__ = ["q1", "q2", "q3", "q4"]


class Sequential(SecondsQuestion):
    title = "One worker: the requests wait for each other"
    expects = "a number of seconds: sequential = ..."
    answer_name = "sequential"
    hints = ("With one worker, each fetch starts when the previous one ends.",)
    solution_text = """
        sequential = 10 * 0.5  # ten fetches back to back: 5.0 s
    """
    answer = 5.0
    correct = "5.0 s: ten fetches of 0.5 s, one after the other."
    mistakes = (
        (0.5, "0.5 s is one fetch; with one worker the ten fetches run one after the other."),
        (2.0, "2.0 s is the time with 3 workers; this question has one."),
    )
    otherwise = "one worker does the ten fetches one after the other."


class Threaded(SecondsQuestion):
    title = "Three workers: rounds of three"
    expects = "a number of seconds: threaded = ..."
    answer_name = "threaded"
    hints = (
        "Three workers take three requests at a time: a round lasts one fetch, 0.5 s.",
        "How many rounds for 10 requests? The last round has only one request, but it still takes 0.5 s.",
    )
    solution_text = """
        import math

        threaded = math.ceil(10 / 3) * 0.5  # 4 rounds of 0.5 s: 2.0 s
    """
    answer = 2.0
    correct = "2.0 s: ⌈10/3⌉ = 4 rounds of 0.5 s; the tenth request needs a round of its own."
    mistakes = (
        (5 / 3, "10 × 0.5 / 3 ≈ 1.67 s splits the work evenly, but a request cannot be split: count whole rounds."),
        (1.5, "1.5 s is 3 rounds, 9 requests: the tenth needs a fourth round."),
        (
            4.0,
            "4.0 s is what the guide's own code takes: its workers wait 2 s on an empty queue before leaving. "
            "This question asks for the fetches alone.",
        ),
        (5.0, "5.0 s is one worker; with three, three fetches overlap."),
    )
    otherwise = "count the rounds of three requests, then multiply by the fetch time."


class FetchAll(Question):
    title = "One thread per request"
    expects = "a function fetch_all(requests, fetch)"
    answer_name = "fetch_all"
    hints = (
        "Make one threading.Thread per request, with a target function that calls fetch(request) and stores "
        "the answer (or the exception) at the request's index in a list.",
        "Start every thread first; only then join them all. A join inside the start loop waits for each thread "
        "before starting the next: that is the sequential version again.",
        "target=fetch(request) calls fetch right away, in your thread: pass the function, target=..., and its "
        "arguments, args=(...).",
    )
    solution_text = """
        import threading

        def fetch_all(requests, fetch):
            answers = [None] * len(requests)

            def work(index, request):
                try:
                    answers[index] = fetch(request)
                except Exception as exc:  # a failure is an answer too
                    answers[index] = exc

            threads = [threading.Thread(target=work, args=(i, r)) for i, r in enumerate(requests)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            return answers
    """
    # The names do not sort in their order (an answer sorted by name is caught); the first finishes last.
    SCENARIO = (tuple(f"DataRequest-{i}" for i in (7, 3, 12, 0, 9, 4)), "DataRequest-12")
    HIDDEN = ((tuple(f"order-{i}" for i in (27, 9, 30, 21, 8, 25, 2, 14, 11)), "order-21"), (("only",), None))
    BURST = (tuple(f"burst-{i}" for i in range(40)), None)  # more than a default pool's min(32, cores + 4)
    HOLD = 0.3  # the first request holds its thread this long after every fetch has started

    def _check(self, fetch_all: Any) -> str:
        for scenario in (self.SCENARIO, self.BURST):
            self._run(fetch_all, *scenario)
        return "every fetch ran at the same time, each answer in its place, and the failure kept as an answer."

    def _check_hidden(self, fetch_all: Any) -> str:
        for scenario in (*self.HIDDEN, self.BURST):
            self._run(fetch_all, *scenario)
        return "right on every case."

    def _run(self, fetch_all: Any, requests: tuple, failing: str | None) -> None:
        if not callable(fetch_all):
            raise Incorrect(f"expected a function fetch_all(requests, fetch), got {fetch_all!r}")
        meeting = Rendezvous(len(requests), wait=1.0)
        calls: list[tuple[str, str]] = []
        threads: list[threading.Thread] = []
        lock = threading.Lock()
        returned = threading.Event()
        inside = [0]

        def fetch(request: str) -> str:
            with lock:
                calls.append((request, threading.current_thread().name))
                threads.append(threading.current_thread())
                inside[0] += 1
            try:
                meeting.enter()
                try:
                    if request == requests[0] and len(requests) > 1:
                        returned.wait(self.HOLD)  # the first finishes last
                    else:
                        time.sleep(0.005)
                    if request == failing:
                        raise ConnectionError(f"source failed on {request}")
                    return f"Result for {request}"
                finally:
                    meeting.leave()
            finally:
                with lock:
                    inside[0] -= 1

        try:
            answers = call_bounded(fetch_all, list(requests), fetch, what="fetch_all", timeout=4.0)
            with lock:
                running = inside[0]
        finally:
            returned.set()
        if running and not any(name == "ella-exercise" for _, name in calls):
            raise Incorrect(
                f"fetch_all returned while {running} of its thread(s) still had a fetch running: join() every thread "
                "before you return (a sleep only guesses how long they take, and is too short for a slow fetch)."
            )
        if answers is None:
            raise Incorrect("fetch_all returned None: return the list of answers (printing them gives nothing back).")
        if not isinstance(answers, (list, tuple)):
            raise Incorrect(f"fetch_all should return a list of answers, got {type(answers).__name__}.")
        answers = list(answers)
        fetched = [r for r, _ in calls]
        twice = next((r for r in requests if fetched.count(r) > 1), None)
        if twice is not None:
            raise Incorrect(f"{twice} was fetched {fetched.count(twice)} times: one fetch per request.")
        if any(name == "ella-exercise" for _, name in calls):
            raise Incorrect(
                "fetch ran in your own thread, not in the new ones: Thread(target=fetch(request)) calls fetch right "
                "away. Pass the function and its arguments: Thread(target=work, args=(request,))."
            )
        distinct = len({id(t) for t in threads})
        if len(requests) > 1 and not meeting.met and distinct < len(fetched):
            raise Incorrect(
                f"{distinct} thread(s) ran your {len(fetched)} fetches, at most {meeting.peak} at once: a pool "
                "(ThreadPoolExecutor() runs at most min(32, cores + 4) threads) is not one thread per request. "
                "Give each request its own threading.Thread."
            )
        if len(answers) != len(requests):
            raise Incorrect(f"{len(answers)} answers for {len(requests)} requests: one answer per request.")
        if len(requests) > 1 and not meeting.met:
            raise Incorrect(
                f"at most {meeting.peak} fetch(es) ran at once, for {len(requests)} requests: start every thread "
                "before you join any (a join in the start loop waits for each thread in turn)."
            )
        if answers.count(None) and len(fetched) == len(requests):
            raise Incorrect(
                f"{answers.count(None)} answer(s) are None: fetch_all returned before its threads finished, or a "
                "thread's exception was lost. join() every thread, and catch the exception inside the thread."
            )
        expected: list[Any] = [f"Result for {r}" for r in requests]
        if failing is not None:
            index = requests.index(failing)
            errors = [i for i, a in enumerate(answers) if isinstance(a, ConnectionError)]
            texts = [a for a in answers if isinstance(a, str) and "failed" in a]
            if texts and not errors:
                raise Incorrect(
                    f"{failing} failed and its answer is the string {texts[0]!r}: keep the exception itself, so a "
                    "failure can never be mistaken for a result."
                )
            if not errors:
                raise Incorrect(f"{failing} failed; its answer should be the exception itself, got {answers[index]!r}.")
            expected[index] = answers[errors[0]]
        if not same(answers, expected):
            if sorted(map(str, answers)) == sorted(map(str, expected)):
                raise Incorrect(
                    "the answers are not in the order of the requests (the threads finish in any order): store "
                    "each answer at its request's index."
                )
            wrong = next(i for i, a in enumerate(answers) if not same(a, expected[i]))
            raise Incorrect(f"the answer for {requests[wrong]} should be what fetch returned; got {answers[wrong]!r}.")


class WhyThreads(Question):
    title = "Why threads help here"
    checked = False
    solution_text = """
        Model answer. A fetch spends its 0.5 s waiting for the source, not computing. While one thread waits,
        another can send its request: K threads overlap K waits, so N requests take about ⌈N/K⌉ · L instead
        of N · L. The speed-up stops growing when the waits are no longer the bottleneck: too few requests
        to fill the workers, a source that cannot serve K requests at once, or CPU-bound work, where Python's
        GIL lets one thread compute at a time.
    """


q1 = Sequential("q1")
q2 = Threaded("q2")
q3 = FetchAll("q3")
q4 = WhyThreads("q4")
