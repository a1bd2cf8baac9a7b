"""Notebook 06 "Your turn", optimization: ``from ella_lab.exercises import walk06 as walk``."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

from ._core import BLANK, Incorrect, Question
from ._walk import Meeting, Prediction, Probe, answer_of

__all__ = ["BLANK", "____", "q1", "q2", "q3"]

____ = BLANK  # the blank a learner replaces by a number


class FetchAll(Question):
    title = "submit + as_completed, with a try per future"
    expects = "a function fetch_all(fetch, requests, workers)"
    hints = (
        "Submit every request first: futures = {pool.submit(fetch, request): request for request in requests}.",
        "Then `for future in as_completed(futures):` and look the request up with futures[future].",
        "Wrap each future.result() in try/except Exception (any failure, not only ConnectionError), and store the "
        "value or the exception itself.",
    )
    stub = """
        def fetch_all(fetch, requests, workers):
            # YOUR CODE HERE (about 9 lines): in a `with ThreadPoolExecutor(...)` block, submit every request,
            # then collect with as_completed, a try around each future.result(); return {request: answer or exception}.
            raise NotImplementedError
    """
    solution_text = """
        def fetch_all(fetch, requests, workers):
            answers = {}
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = {pool.submit(fetch, request): request for request in requests}
                for future in as_completed(futures):
                    try:
                        answers[futures[future]] = future.result()
                    except Exception as exc:
                        answers[futures[future]] = exc
            return answers
    """
    REQUESTS = tuple(f"DataRequest-{i}" for i in range(12))
    FAILING: ClassVar[dict[str, type[Exception]]] = {
        "DataRequest-1": ConnectionError,
        "DataRequest-6": ConnectionError,
        "DataRequest-9": ValueError,
    }
    HIDDEN_REQUESTS = tuple(f"Q{i:02d}" for i in range(15))
    HIDDEN_FAILING: ClassVar[dict[str, type[Exception]]] = {
        "Q02": ConnectionError,
        "Q07": KeyError,
        "Q13": ConnectionError,
    }

    def _check(self, fetch_all: Any) -> str:
        if not callable(fetch_all):
            raise Incorrect(f"expected a function fetch_all(fetch, requests, workers), got {fetch_all!r}")
        for workers in (3, 2):
            self._run(fetch_all, workers, self.REQUESTS, self.FAILING)
        return "every request answered once, failures kept as exceptions, on a pool of `workers` threads."

    def _check_hidden(self, fetch_all: Any) -> str:
        if not callable(fetch_all):
            raise Incorrect(f"expected a function fetch_all(fetch, requests, workers), got {fetch_all!r}")
        for workers in (4, 2):
            self._run(fetch_all, workers, self.HIDDEN_REQUESTS, self.HIDDEN_FAILING)
        return "every request answered once, failures kept as exceptions, on a pool of `workers` threads."

    def _run(self, fetch_all: Any, workers: int, requests: tuple[str, ...], failing: dict) -> None:
        # The early requests are the slow ones, so the futures finish out of submission order.
        slow = set(requests[:4])
        fetch = Probe("source", failing, delay=lambda r: 0.03 if r in slow else 0.0)
        fetch.meeting = Meeting(workers)
        try:
            self._judge_run(fetch_all, fetch, workers, requests, failing)
        finally:
            fetch.release()

    def _judge_run(self, fetch_all: Any, fetch: Probe, workers: int, requests: tuple[str, ...], failing: dict) -> None:
        answers, error = answer_of(fetch_all, fetch, list(requests), workers, what="fetch_all", timeout=5.0)
        if (
            error is not None
            and any(error is e for e in fetch.errors.values())
            and not isinstance(error, ConnectionError)
        ):
            raise Incorrect(
                f"fetch_all raised {error!r}, a failure of the fetch, which ended it: wrap each future.result() in "
                "its own try/except Exception, to keep every failure, not only ConnectionError."
            )
        if isinstance(error, ConnectionError):
            raise Incorrect(
                f"fetch_all raised {error!r}: one failure ended the loop (pool.map, or result() outside a try). "
                "Wrap each future.result() in its own try/except."
            )
        if error is not None:
            raise Incorrect(f"fetch_all raised {error!r}.")
        if answers is None:
            raise Incorrect("fetch_all returned None: return the dict (printing it gives the caller nothing).")
        if not isinstance(answers, dict):
            raise Incorrect(f"return a dict {{request: answer or exception}}; got a {type(answers).__name__}.")
        missing = [r for r in requests if r not in answers]
        if missing:
            lost_success = [r for r in missing if r not in failing]
            if lost_success:
                raise Incorrect(
                    f"{lost_success[0]} succeeded and has no entry: the loop stopped early, at a failure (one try "
                    "around the whole loop, pool.map, a break or a return). Put the try inside the loop, around "
                    "each future.result()."
                )
            raise Incorrect(f"{missing[0]} failed and has no entry: keep the exception as its answer, don't skip it.")
        twice = [r for r in requests if fetch.count(r) > 1]
        if twice:
            raise Incorrect(f"{twice[0]} was fetched {fetch.count(twice[0])} times: submit each request once.")
        for request in requests:
            got = answers[request]
            others = [r for r in requests if r != request]
            if any(got == fetch.answer(r) or (r in fetch.errors and got is fetch.errors[r]) for r in others):
                raise Incorrect(
                    f"the entry for {request} is {got!r}, another request's answer: map each future back to its own "
                    "request (futures = {pool.submit(fetch, request): request ...})."
                )
        for request in failing:
            got = answers[request]
            if isinstance(got, str) and "is down" in got:
                raise Incorrect(f"the entry for {request} is the string {got!r}: keep the exception object itself.")
            if got is not fetch.errors.get(request):
                if isinstance(got, BaseException):
                    raise Incorrect(f"the entry for {request} is {got!r}: keep the exception the fetch raised.")
                raise Incorrect(
                    f"{request} failed, and its entry is {got!r}: store the exception itself (swallowing it "
                    "hides the failure)."
                )
        for request in requests:
            if request in failing or answers[request] == fetch.answer(request):
                continue
            raise Incorrect(
                f"the entry for {request} is {answers[request]!r}: map each future back to its own request "
                "(futures = {pool.submit(fetch, request): request ...})."
            )
        caller = {threading.current_thread().name, "ella-exercise"}
        if fetch.threads <= caller:
            raise Incorrect("every request ran in the calling thread: submit them to a ThreadPoolExecutor.")
        meeting = fetch.meeting
        if meeting.peak > workers:
            raise Incorrect(
                f"{meeting.peak} requests ran at once with workers={workers}: make the pool "
                "ThreadPoolExecutor(max_workers=workers)."
            )
        if not meeting.met:
            raise Incorrect(
                f"at most {meeting.peak} request(s) ran at once with workers={workers}: submit them all before "
                "waiting for any result, to a pool of max_workers=workers."
            )
        alive = fetch.alive_threads()
        if alive:
            raise Incorrect(
                f"the pool's threads ({', '.join(alive)}) were still alive after fetch_all returned: shut the pool "
                "down (with ThreadPoolExecutor(...) as pool: does it at the end of the block), or its threads leak."
            )


class MoreWorkers(Prediction):
    title = "Predict: the mean latency with twice the workers"
    expects = "a number of seconds"
    example = "0.05"
    unit = "s"
    model = sum((i // 8) * 0.010 + 0.010 for i in range(40)) / 40
    tolerance = 0.0015
    why = (
        "With K = 8 the 40 requests run in 5 rounds: request i waits ⌊i/8⌋ · L (0 to 4 L, 2 L on average), "
        "then is served in L: 3 L = 30 ms."
    )
    mistakes = (
        (0.0275, "27.5 ms halves the whole 55 ms: more workers shorten the wait, not the 10 ms service."),
        (0.0325, "32.5 ms halves the mean wait 45 → 22.5 ms; but the wait comes in whole rounds: 0 to 4 L, mean 2 L."),
        (0.02, "20 ms is the mean wait alone; add the 10 ms of service."),
        (0.055, "55 ms is the latency with K = 4; with 8 workers there are half as many rounds."),
    )
    hints = ("How many rounds of 8 are 40 requests? Round r waits r · L, then takes L.",)
    stub = """
        mean_latency_prediction = ____  # seconds
    """
    solution_text = """
        # 0.030 s: a request waits 2 L on average (0 to 4 rounds of L), then takes its own L
        mean_latency_prediction = sum((i // 8) * 0.010 + 0.010 for i in range(40)) / 40
    """


class PrimaryShare(Prediction):
    title = "Predict: what share does the primary serve with the timeout?"
    example = "0.5"
    model = 0.9
    tolerance = 0.03
    why = (
        "The 20 ms timeout fires only on the slow calls (100 ms), about 10 % of them (`tail_rate=0.1`); "
        "the other 90 % answer in 5 ms, well inside it."
    )
    mistakes = (
        (
            0.0,
            "a timeout turns only calls *longer* than it into failures; the primary's usual 5 ms is well inside 20 ms.",
        ),
        (0.1, "0.1 is the share that times out and goes to the backup."),
        (1.0, "the slow calls take 100 ms, past the 20 ms timeout: those go to the backup."),
    )
    hints = ("Which calls take longer than 20 ms?",)
    stub = """
        primary_share_prediction = ____  # a fraction between 0 and 1
    """
    solution_text = """
        primary_share_prediction = 0.9  # only the slow 10 % (100 ms) pass the 20 ms timeout; the rest answer in 5 ms
    """


q1 = FetchAll("q1")
q2 = PrimaryShare("q2")
q3 = MoreWorkers("q3")
