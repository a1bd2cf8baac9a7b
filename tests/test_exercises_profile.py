"""Sheet 06 q2: profile(report), where the time of a run goes (the queue wait, and each source's time, failed
attempts and retries included), on reports whose stamps the check chose: exact, no real time. The wrong answers
learners write are named by the visible and the hidden check; answers written differently pass both."""

from collections import Counter, defaultdict

import pytest
from exercise_answers import assert_catalogue, do_nothing, hangs, reference, starter

from ella_lab.exercises import phase6

pytestmark = pytest.mark.timeout(60)
q = phase6.q2


def with_defaultdict(report):
    by_source = defaultdict(float)
    for outcome in report.outcomes:
        for attempt in outcome.attempts:
            by_source[attempt.source] += attempt.duration
    return {"wait": sum(o.wait for o in report), "sources": dict(by_source)}


def with_a_counter(report):
    times = Counter()
    for o in report:
        for a in o.attempts:
            times[a.source] += a.finished_at - a.started_at
    wait = 0
    for o in report:
        wait = wait + (o.started_at - o.queued_at)
    return {"sources": {name: float(t) for name, t in times.items()}, "wait": wait}


def one_entry_per_source_and_request(report):  # a dict per outcome: a retry overwrites the try before it
    times = Counter()
    for o in report:
        times.update({a.source: a.duration for a in o.attempts})
    return {"wait": sum(o.wait for o in report), "sources": dict(times)}


def with_comprehensions(report):
    attempts = [a for o in report for a in o.attempts]
    names = sorted({a.source for a in attempts})
    return {
        "wait": sum(o.started_at - o.queued_at for o in report),
        "sources": {n: sum(a.duration for a in attempts if a.source == n) for n in names},
    }


CORRECT = [reference(phase6, q, "profile"), with_defaultdict, with_a_counter, with_comprehensions]


@pytest.mark.parametrize("answer", CORRECT, ids=lambda f: getattr(f, "__name__", "reference"))
def test_answers_written_differently_pass_the_visible_and_the_hidden_check(answer):
    assert q.judge(answer), q.judge(answer)
    assert q.hidden_check(answer), q.hidden_check(answer)


# -- wrong ----------------------------------------------------------------------------------------------------


def _right(report):
    return reference(phase6, q, "profile")(report)


def latency_as_wait(report):
    return {**_right(report), "wait": sum(o.finished_at - o.queued_at for o in report)}


def answered_only(report):
    return {**_right(report), "wait": sum(o.started_at - o.queued_at for o in report if o.ok)}


def mean_wait(report):
    return {**_right(report), "wait": sum(o.started_at - o.queued_at for o in report) / len(report)}


def credited_to_the_server(report):
    sources = {}
    for o in report:
        if o.ok:
            sources[o.source] = sources.get(o.source, 0.0) + o.finished_at - o.started_at
    return {**_right(report), "sources": sources}


def successes_only(report):
    sources = {}
    for o in report:
        for a in o.attempts:
            sources.setdefault(a.source, 0.0)
            if a.ok:
                sources[a.source] += a.duration
    return {**_right(report), "sources": sources}


def no_retries(report):
    sources = {}
    for o in report:
        seen = set()
        for a in o.attempts:
            if a.source not in seen:
                seen.add(a.source)
                sources[a.source] = sources.get(a.source, 0.0) + a.duration
    return {**_right(report), "sources": sources}


def milliseconds(report):
    right = _right(report)
    return {"wait": right["wait"] * 1000, "sources": {k: v * 1000 for k, v in right["sources"].items()}}


def keyed_by_index(report):
    right = _right(report)
    return {**right, "sources": dict(enumerate(right["sources"].values()))}


def failed_requests_skipped(report):
    sources = {}
    for o in report:
        if not o.ok:
            continue
        for a in o.attempts:
            sources[a.source] = sources.get(a.source, 0.0) + a.duration
    return {"wait": sum(o.started_at - o.queued_at for o in report if o.ok), "sources": sources}


BUGS = [
    ("the latency as the wait", latency_as_wait, "the total latency (finished - queued)"),
    ("the answered requests' wait only", answered_only, "a request that failed waited too"),
    ("the mean wait", mean_wait, "the mean wait"),
    ("time credited to the source that served", credited_to_the_server, "add each attempt's time to a.source"),
    ("successful attempts only", successes_only, "a failed attempt cost time too"),
    ("retries left out", no_retries, "leaves out its retries"),
    ("milliseconds", milliseconds, "milliseconds; give seconds"),
    ("sources keyed by number", keyed_by_index, "key the sources by name"),
    ("failed requests skipped", failed_requests_skipped, "a request that failed waited too"),
    ("a retry overwrites the try before it", one_entry_per_source_and_request, "expected the total of its attempts'"),
    ("print instead of return", lambda report: print(_right(report)), "profile returned None"),
    ("a list, not the dict", lambda report: list(_right(report).values()), "profile should return"),
    ("a hang", hangs, "may still be running"),
]


@pytest.mark.parametrize(("name", "answer", "expected"), BUGS, ids=[b[0] for b in BUGS])
def test_each_wrong_answer_is_rejected_naming_its_bug_by_the_visible_and_the_hidden_check(name, answer, expected):
    assert_catalogue(q, answer, expected)


def test_starter_and_nothing():
    assert q.judge(starter).status == "not attempted"
    assert not q.judge(do_nothing)
