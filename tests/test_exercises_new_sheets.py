"""Sheets 01, 02, 05, 07, 08 and 09: each code question passes its reference and a differently written answer
(visible and hidden cases), and rejects the wrong answers real learners write, naming the bug."""

import asyncio
import datetime
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from time import time as now

import pytest
from exercise_answers import assert_catalogue, do_nothing, hangs, reference

from ella_lab import FallbackChain, Retry, Router
from ella_lab.exercises import phase1, phase2, phase4, phase5, phase6, phase7, phase8, phase9

pytestmark = [
    pytest.mark.timeout(180),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning"),  # the learners' threads
    pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning"),  # the learners' coroutines
]

# -- 01 q3 fetch_all -----------------------------------------------------------------------------


def fetch_all_alt(requests, fetch):
    results = {}

    def work(request):
        try:
            results[request] = fetch(request)
        except Exception as exc:
            results[request] = exc

    threads = []
    for request in requests:
        thread = threading.Thread(target=work, args=(request,))
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return [results[r] for r in requests]


def fetch_all_joins_in_loop(requests, fetch):
    answers = [None] * len(requests)

    def work(i, r):
        try:
            answers[i] = fetch(r)
        except Exception as exc:
            answers[i] = exc

    for i, r in enumerate(requests):
        t = threading.Thread(target=work, args=(i, r))
        t.start()
        t.join()  # waits for this one before starting the next
    return answers


def fetch_all_calls_target(requests, fetch):
    answers = [None] * len(requests)

    def work(i, r):
        try:
            answers[i] = fetch(r)
        except Exception as exc:
            answers[i] = exc

    threads = [threading.Thread(target=work(i, r)) for i, r in enumerate(requests)]  # work runs right here
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def fetch_all_no_join(requests, fetch):
    answers = [None] * len(requests)

    def work(i, r):
        try:
            answers[i] = fetch(r)
        except Exception as exc:
            answers[i] = exc

    for i, r in enumerate(requests):
        threading.Thread(target=work, args=(i, r)).start()
    return answers


def fetch_all_appends(requests, fetch):
    answers = []

    def work(r):
        try:
            answers.append(fetch(r))
        except Exception as exc:
            answers.append(exc)

    threads = [threading.Thread(target=work, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def fetch_all_unguarded(requests, fetch):
    answers = [None] * len(requests)

    def work(i, r):
        answers[i] = fetch(r)  # an exception ends the thread, and the answer stays None

    threads = [threading.Thread(target=work, args=(i, r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def fetch_all_stringified(requests, fetch):
    answers = [None] * len(requests)

    def work(i, r):
        try:
            answers[i] = fetch(r)
        except Exception as exc:
            answers[i] = f"error: {exc}"

    threads = [threading.Thread(target=work, args=(i, r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def fetch_all_twice(requests, fetch):
    first = fetch_all_alt(requests, fetch)
    return fetch_all_alt(requests, fetch) or first


def fetch_all_prints(requests, fetch):
    for answer in fetch_all_alt(requests, fetch):
        print(answer)


def fetch_all_sorted_by_name(requests, fetch):
    pairs, lock = [], threading.Lock()

    def work(request):
        try:
            answer = fetch(request)
        except Exception as exc:
            answer = exc
        with lock:
            pairs.append((request, answer))

    threads = [threading.Thread(target=work, args=(r,)) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [answer for _, answer in sorted(pairs, key=lambda pair: pair[0])]


def fetch_all_sleeps(requests, fetch):  # daemon threads and a sleep instead of join()
    answers = [None] * len(requests)

    def work(i, r):
        try:
            answers[i] = fetch(r)
        except Exception as exc:
            answers[i] = exc

    for i, r in enumerate(requests):
        threading.Thread(target=work, args=(i, r), daemon=True).start()
    time.sleep(0.2)
    return answers


def fetch_all_default_pool(requests, fetch):  # ThreadPoolExecutor(): min(32, cores + 4) threads, not one per request
    def safe(request):
        try:
            return fetch(request)
        except Exception as exc:
            return exc

    with ThreadPoolExecutor() as pool:
        return list(pool.map(safe, requests))


def fetch_all_short_joins(requests, fetch):
    answers = [None] * len(requests)

    def work(i, r):
        try:
            answers[i] = fetch(r)
        except Exception as exc:
            answers[i] = exc

    threads = [threading.Thread(target=work, args=(i, r)) for i, r in enumerate(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(0.02)
    return answers


class _FetchThread(threading.Thread):
    def __init__(self, fetch, request):
        super().__init__()
        self.fetch, self.request = fetch, request

    def run(self):
        try:
            self.answer = self.fetch(self.request)
        except Exception as exc:
            self.answer = exc


def fetch_all_thread_subclass(requests, fetch):  # correct
    threads = [_FetchThread(fetch, r) for r in requests]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [t.answer for t in threads]


def fetch_all_pool_of_n(requests, fetch):  # correct: a pool with one thread per request
    with ThreadPoolExecutor(max_workers=max(1, len(requests))) as pool:
        futures = [pool.submit(fetch, r) for r in requests]
    return [f.exception() or f.result() for f in futures]


FETCH_ALL_BUGS = [
    ("start and join in the same loop", fetch_all_joins_in_loop, "start every thread before you join any"),
    ("target=fetch(request)", fetch_all_calls_target, "fetch ran in your own thread"),
    ("no join", fetch_all_no_join, "still had a fetch running"),
    ("answers appended in finishing order", fetch_all_appends, "not in the order of the requests"),
    ("exception lost in the thread", fetch_all_unguarded, "a thread's exception was lost"),
    ("stringified error", fetch_all_stringified, "keep the exception itself"),
    ("every request fetched twice", fetch_all_twice, "was fetched 2 times"),
    ("print instead of return", fetch_all_prints, "returned None"),
    ("hangs", hangs, "did not return within"),
    ("answers sorted by request name", fetch_all_sorted_by_name, "not in the order of the requests"),
    ("sleep instead of join", fetch_all_sleeps, "still had a fetch running"),
    ("a default-size pool", fetch_all_default_pool, "is not one thread per request"),
    ("join with a short timeout", fetch_all_short_joins, "still had a fetch running"),
]

# -- 02 q1 timed ---------------------------------------------------------------------------------


def timed_alt(fn, *args):
    started = time.monotonic()
    try:
        return fn(*args), time.monotonic() - started
    finally:
        pass


def timed_swallows(fn, *args):
    start = time.perf_counter()
    try:
        result = fn(*args)
    except Exception:
        result = None
    return result, time.perf_counter() - start


def timed_imported_wall_clock(fn, *args):
    started = now()
    return fn(*args), now() - started


def timed_datetime(fn, *args):
    started = datetime.datetime.now()
    result = fn(*args)
    return result, (datetime.datetime.now() - started).total_seconds()


def timed_time_ns(fn, *args):
    started = time.time_ns()
    result = fn(*args)
    return result, (time.time_ns() - started) / 1e9


def timed_nanoseconds(fn, *args):
    started = time.perf_counter_ns()
    result = fn(*args)
    return result, time.perf_counter_ns() - started


def timed_rounded(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return result, round(time.perf_counter() - started, 1)


def timed_rounded_to_hundredths(fn, *args):
    started = time.perf_counter()
    result = fn(*args)
    return result, round(time.perf_counter() - started, 2)


def timed_rounded_on_a_busy_machine(fn, *args):
    """round(x, 1) when the machine stretched the call to 0.1 s: the rounded value then equals the call's length."""
    started = time.perf_counter()
    result = fn(*args)
    time.sleep(max(0.0, 0.102 - (time.perf_counter() - started)))  # the call now lasts about 0.1 s, as under load
    return result, round(time.perf_counter() - started, 1)


def timed_wraps_the_error(fn, *args):
    started = time.perf_counter()
    try:
        result = fn(*args)
    except Exception as exc:
        raise RuntimeError("fn failed") from exc
    return result, time.perf_counter() - started


class _Stopwatch:
    def __enter__(self):
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.started


def timed_context_manager(fn, *args):  # correct
    with _Stopwatch() as watch:
        result = fn(*args)
    return result, watch.elapsed


TIMED_BUGS = [
    (
        "seconds only",
        lambda fn, *args: (lambda t: (fn(*args), time.perf_counter() - t)[1])(time.perf_counter()),
        "return a pair",
    ),
    (
        "milliseconds",
        lambda fn, *args: (lambda t: (fn(*args), 1000 * (time.perf_counter() - t)))(time.perf_counter()),
        "is in milliseconds",
    ),
    (
        "clock read twice before the call",
        lambda fn, *args: (time.perf_counter() - time.perf_counter(), fn(*args))[::-1],
        "read the clock before and after the call",
    ),
    ("time.time()", lambda fn, *args: (lambda t: (fn(*args), time.time() - t))(time.time()), "time.perf_counter()"),
    (
        "process_time()",
        lambda fn, *args: (lambda t: (fn(*args), time.process_time() - t))(time.process_time()),
        "time.process_time counts CPU time only",
    ),
    ("fn called twice", lambda fn, *args: (fn(*args), timed_alt(fn, *args)[1]), "fn was called 2 times"),
    ("arguments dropped", lambda fn, *args: timed_alt(fn), "pass the arguments on"),
    ("exception swallowed", timed_swallows, "yours hid it"),
    ("pair reversed", lambda fn, *args: timed_alt(fn, *args)[::-1], "the wrong way round"),
    ("print instead of return", lambda fn, *args: print(timed_alt(fn, *args)), "returned None"),
    ("from time import time", timed_imported_wall_clock, "the wall-clock date"),
    ("datetime.now()", timed_datetime, "the wall-clock date"),
    ("time.time_ns()", timed_time_ns, "the wall-clock date"),
    ("perf_counter_ns() not converted", timed_nanoseconds, "is in nanoseconds"),
    ("rounded to 0.1 s", timed_rounded, "do not round the measurement"),
    ("rounded to 0.01 s", timed_rounded_to_hundredths, "do not round the measurement"),
    ("rounded, on a busy machine", timed_rounded_on_a_busy_machine, "do not round the measurement"),
    ("the error wrapped in another", timed_wraps_the_error, "let fn's own exception through"),
]

# 05 q2 (main.py's exit status) has its catalogue in test_exercises_exit_status.py (q1, a test of main(), in
# test_exercises_main_test.py); the __main__ guard it replaced is notebook 05's exercise (walk05 q1).

# -- 08 q2 async fetch_all -----------------------------------------------------------------------


async def async_alt(requests, fetch, limit):
    semaphore = asyncio.Semaphore(limit)
    answers = [None] * len(requests)

    async def one(index, request):
        async with semaphore:
            answers[index] = await fetch(request)

    results = await asyncio.gather(*(one(i, r) for i, r in enumerate(requests)), return_exceptions=True)
    return [error if isinstance(error, Exception) else answer for answer, error in zip(answers, results, strict=True)]


async def async_sequential(requests, fetch, limit):
    answers = []
    for r in requests:
        try:
            answers.append(await fetch(r))
        except Exception as exc:
            answers.append(exc)
    return answers


async def async_no_limit(requests, fetch, limit):
    return await asyncio.gather(*(fetch(r) for r in requests), return_exceptions=True)


async def async_semaphore_per_call(requests, fetch, limit):
    async def one(r):
        async with asyncio.Semaphore(limit):
            return await fetch(r)

    return await asyncio.gather(*(one(r) for r in requests), return_exceptions=True)


async def async_first_exception(requests, fetch, limit):
    semaphore = asyncio.Semaphore(limit)

    async def one(r):
        async with semaphore:
            return await fetch(r)

    return await asyncio.gather(*(one(r) for r in requests))


async def async_unawaited(requests, fetch, limit):
    return [fetch(r) for r in requests]


def async_with_run(requests, fetch, limit):
    return asyncio.run(async_alt(requests, fetch, limit))


async def async_completion_order(requests, fetch, limit):
    semaphore = asyncio.Semaphore(limit)

    async def one(r):
        async with semaphore:
            try:
                return await fetch(r)
            except Exception as exc:
                return exc

    return [await f for f in asyncio.as_completed([one(r) for r in requests])]


async def async_stringified(requests, fetch, limit):
    return [str(a) if isinstance(a, Exception) else a for a in await async_alt(requests, fetch, limit)]


async def async_prints(requests, fetch, limit):
    print(await async_alt(requests, fetch, limit))


async def async_batches(requests, fetch, limit):  # gather `limit` at a time: slots idle between batches
    answers = []
    for start in range(0, len(requests), limit):
        batch = requests[start : start + limit]
        answers += await asyncio.gather(*(fetch(r) for r in batch), return_exceptions=True)
    return answers


def async_global_semaphore():
    """A fetch_all whose semaphore is made once, outside, and kept: bound to the first run's event loop."""
    kept = {}

    async def fetch_all(requests, fetch, limit):
        semaphore = kept.setdefault("semaphore", asyncio.Semaphore(limit))

        async def one(r):
            async with semaphore:
                try:
                    return await fetch(r)
                except Exception as exc:
                    return exc

        return await asyncio.gather(*map(one, requests))

    return fetch_all


async def async_short_timeout(requests, fetch, limit):  # a 5 ms timeout per fetch: slow answers become errors
    semaphore = asyncio.Semaphore(limit)

    async def one(r):
        async with semaphore:
            try:
                return await asyncio.wait_for(fetch(r), 0.005)
            except Exception as exc:
                return exc

    return await asyncio.gather(*map(one, requests))


async def async_queue_workers(requests, fetch, limit):  # correct: `limit` worker tasks on an asyncio.Queue
    todo, answers = asyncio.Queue(), [None] * len(requests)
    for item in enumerate(requests):
        todo.put_nowait(item)

    async def work():
        while not todo.empty():
            i, r = todo.get_nowait()
            try:
                answers[i] = await fetch(r)
            except Exception as exc:
                answers[i] = exc

    await asyncio.gather(*(work() for _ in range(limit)))
    return answers


async def async_task_group(requests, fetch, limit):  # correct
    semaphore = asyncio.Semaphore(limit)

    async def one(r):
        async with semaphore:
            try:
                return await fetch(r)
            except Exception as exc:
                return exc

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(r)) for r in requests]
    return [t.result() for t in tasks]


ASYNC_BUGS = [
    ("awaits one at a time", async_sequential, "at most 1 fetch(es) ran at once"),
    ("no limit", async_no_limit, "fetches ran at once with limit="),
    ("a semaphore per call", async_semaphore_per_call, "a semaphore made inside each call limits nothing"),
    ("gather without return_exceptions", async_first_exception, "gather stops at the first exception"),
    ("coroutines never awaited", async_unawaited, "coroutines that never ran"),
    ("asyncio.run inside", async_with_run, "asyncio.run() inside fetch_all"),
    ("as_completed order", async_completion_order, "in the order they finished"),
    ("stringified errors", async_stringified, "keep the exception itself"),
    ("print instead of return", async_prints, "returned None"),
    ("not async", lambda requests, fetch, limit: [], "not a coroutine"),
    ("batches of `limit`", async_batches, "waits for a whole batch of `limit`"),
    ("a semaphore kept across runs", async_global_semaphore(), "bound to the event loop of its first run"),
    ("a 5 ms timeout per fetch", async_short_timeout, "a timeout of your own cut it off"),
]

# -- the tables ----------------------------------------------------------------------------------

# Unusual but correct answers (from a review that attacked the checks as a student): each must pass.
ALTERNATIVES = {
    "p1.q3": [fetch_all_thread_subclass, fetch_all_pool_of_n],
    "p2.q1": [timed_context_manager],
    "p8.q2": [async_queue_workers, async_task_group],
}

CODE_QUESTIONS = {
    "p1.q3": (phase1, phase1.q3, "fetch_all", fetch_all_alt, FETCH_ALL_BUGS),
    "p2.q1": (phase2, phase2.q1, "timed", timed_alt, TIMED_BUGS),
    "p8.q2": (phase8, phase8.q2, "fetch_all", async_alt, ASYNC_BUGS),
}

CATALOGUE = [
    pytest.param(key, answer, expected, id=f"{key}: {name}")
    for key, (*_, bugs) in CODE_QUESTIONS.items()
    for name, answer, expected in bugs
]


@pytest.mark.parametrize("key", CODE_QUESTIONS)
def test_reference_and_an_alternative_pass_visible_and_hidden_cases(key):
    module, question, name, alternative, bugs = CODE_QUESTIONS[key]
    assert len(bugs) >= 6
    for answer in (reference(module, question, name), alternative):
        assert question.judge(answer), question.judge(answer)
        assert question.hidden_check(answer), question.hidden_check(answer)


@pytest.mark.parametrize(("key", "answer", "expected"), CATALOGUE)
def test_each_wrong_answer_is_rejected_naming_its_bug_by_the_visible_and_the_hidden_check(key, answer, expected):
    assert_catalogue(CODE_QUESTIONS[key][1], answer, expected)


@pytest.mark.parametrize(
    ("key", "answer"),
    [
        pytest.param(key, answer, id=f"{key}: {i}")
        for key, answers in ALTERNATIVES.items()
        for i, answer in enumerate(answers)
    ],
)
def test_unusual_correct_answers_pass_the_visible_and_the_hidden_check(key, answer):
    question = CODE_QUESTIONS[key][1]
    assert question.judge(answer), question.judge(answer)
    assert question.hidden_check(answer), question.hidden_check(answer)


# 08 q1 (the makespan of batches on Dask) has its catalogue in test_exercises_batch_makespan.py; the engine
# picks it replaced are notebook 08's exercise (walk08 q2).


def test_the_kernel_question():
    q = phase2.q2
    assert q.judge("b") and q.judge(" B ") and not q.judge("a") and "choose one of" in q.judge("e").message


@pytest.mark.parametrize(
    ("question", "right", "slips"),
    [
        (phase1.q1, 5.0, {5000: "in milliseconds", 0.5: "one fetch"}),
        (phase1.q2, 2.0, {2000: "in milliseconds", 4.0: "the guide's own code", 1.5: "fourth round"}),
        (phase2.q3, 0.1, {0.0001: "right in seconds", 2.1: "whole measurement"}),
        (phase5.q3, 4, {5: "off by one", 3: "off by one", 40: "the primary alone", 0.02: "how many of the 200"}),
        (phase7.q2, 110, {111: "off by one", 108: "off by one", 2000: "without a budget", 100: "full bucket"}),
        (phase7.q2, 109, {}),  # what the library lets through: the first request's 0.1 overflows the full bucket
        (phase7.q3, 0.05, {5: "as a percentage", 0.95: "not hedged"}),
        (phase8.q3, 2.0, {2000: "in milliseconds", 0.5: "4 processes"}),
        (phase9.q2, 0.6, {600: "in milliseconds", 0.2: "one attempt"}),
        (phase9.q3, 0.96, {96: "as a percentage", 0.64: "both attempts succeed", 0.04: "is lost"}),
        (phase4.q3, 0.020, {20: "in milliseconds", 0.010: "the median"}),
        (phase6.q3, 0.045, {45: "in milliseconds", 0.1: "the makespan"}),
    ],
    ids=lambda x: getattr(x, "title", None) if hasattr(x, "title") else None,
)
def test_numeric_questions_take_any_number_type_and_name_slips(question, right, slips):
    import numpy as np

    for value in (right, float(right), np.float64(right)):
        assert question.judge(value), question.judge(value)
    if float(right).is_integer():
        assert question.judge(np.int64(right))
    for value, expected in slips.items():
        assert_catalogue(question, value, expected)
    assert not question.judge(True) and not question.judge(str(right))


def test_nothing_useless_is_correct_on_the_new_sheets():
    for question in (phase1.q3, phase2.q1, phase5.q1, phase7.q1, phase8.q2, phase9.q1):
        assert not question.judge(do_nothing)


def test_the_budget_question_is_what_the_library_lets_through():
    from ella_lab.experiments import request_ids
    from ella_lab.resilience import RetryBudget
    from ella_lab.sources import SimulatedSource

    budget = RetryBudget(ratio=0.1, cap=10)
    chain = FallbackChain(
        [SimulatedSource("down", latency=0, failure_rate=1.0, seed=1)], retry=Retry(3, base=0, budget=budget)
    )
    Router(chain, workers=1).run(request_ids(1000))
    assert phase7.q2.judge(budget.retries), (budget.retries, phase7.q2.judge(budget.retries))
    assert "cap=10" in phase7.q2.hints[0] and "floor" not in " ".join(phase7.q2.hints)
