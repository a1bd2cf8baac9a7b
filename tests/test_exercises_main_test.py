"""Sheet 05 q1: an end-to-end test of main(). The check runs the learner's test against right mains (it must
pass them) and broken ones (it must fail each): the tests learners write that miss a bug, or fail right code,
are named by the visible and the hidden check; tests written differently pass both."""

import contextlib

import pytest
from exercise_answers import assert_catalogue, do_nothing, hangs, reference, starter

from ella_lab.exercises import phase5

pytestmark = pytest.mark.timeout(120)
q = phase5.q1


def make_sources(failing, log):
    def primary(request):
        log.append(("primary", request))
        if request in failing:
            raise ConnectionError(f"down for {request}")
        return f"{request} from primary"

    def backup(request):
        log.append(("backup", request))
        return f"{request} from backup"

    return primary, backup


def full_test(main, *, workers=2, requests=("b", "a", "d", "c"), failing=("a", "c"), count=True, sources=True):
    log = []
    primary, backup = make_sources(set(failing), log)
    report = main(list(requests), primary, backup, workers)
    assert [o.request for o in report] == list(requests)
    assert all(o.ok for o in report)
    if sources:
        assert [o.source for o in report] == ["backup" if r in failing else "primary" for r in requests]
    if count:
        assert sorted(r for s, r in log if s == "primary") == sorted(requests)
        assert sorted(r for s, r in log if s == "backup") == sorted(failing)
    assert report.workers == workers


# -- right, written differently ---------------------------------------------------------------------------


class _Counting:
    """A source as a class: counts its calls per request, fails on the ones it is told."""

    def __init__(self, name, failing=()):
        self.name, self.failing, self.calls = name, set(failing), {}

    def __call__(self, request):
        self.calls[request] = self.calls.get(request, 0) + 1
        if request in self.failing:
            raise ConnectionError(request)
        return self.name


def answer_with_classes(main):
    requests = [f"DataRequest-{i}" for i in (5, 2, 8, 1, 9, 0)]
    primary, backup = _Counting("p", {"DataRequest-2", "DataRequest-9"}), _Counting("b")
    primary.__name__, backup.__name__ = "primary", "backup"
    report = main(requests, primary, backup, 4)
    assert report.workers == 4
    assert len(report) == len(requests)
    for request, outcome in zip(requests, report, strict=True):
        assert outcome.request == request and outcome.ok
        assert outcome.value == ("b" if request in primary.failing else "p")
    assert primary.calls == dict.fromkeys(requests, 1)
    assert backup.calls == dict.fromkeys(primary.failing, 1)


def answer_with_a_summary_and_a_journal(main):
    journal = []
    primary, backup = make_sources({"x1"}, journal)
    report = main(["x3", "x1", "x2"], primary, backup, 5)
    assert report is not None, "main returned nothing"
    summary = report.summary()
    assert summary["requests"] == 3 and summary["failed"] == 0, summary
    assert [(o.request, o.value) for o in report] == [
        ("x3", "x3 from primary"),
        ("x1", "x1 from backup"),
        ("x2", "x2 from primary"),
    ]
    assert sorted(journal) == sorted([("primary", "x3"), ("primary", "x1"), ("primary", "x2"), ("backup", "x1")])
    assert report.workers == 5


CORRECT = [reference(phase5, q, "test_main"), full_test, answer_with_classes, answer_with_a_summary_and_a_journal]


@pytest.mark.parametrize("answer", CORRECT, ids=lambda f: f.__name__)
def test_tests_written_differently_pass_the_visible_and_the_hidden_check(answer):
    assert q.judge(answer), q.judge(answer)
    assert q.hidden_check(answer), q.hidden_check(answer)


# -- wrong: tests that miss a bug, or fail right code ------------------------------------------------------------


def asserts_nothing(main):
    primary, backup = make_sources({"a"}, [])
    main(["a", "b"], primary, backup, 2)


def primary_never_fails(main):
    full_test(main, failing=())


def default_workers(main):
    full_test(main, workers=3)


def sorted_requests(main):
    full_test(main, requests=("a", "b", "c", "d"))


def no_call_count(main):
    full_test(main, count=False)


def no_source_check(main):
    log = []
    primary, backup = make_sources({"a", "c"}, log)
    report = main(["b", "a", "d", "c"], primary, backup, 2)
    assert [o.request for o in report] == ["b", "a", "d", "c"] and all(o.ok for o in report)
    assert report.workers == 2


def too_strict(main):  # expects the primary to serve everything, though it fails some
    log = []
    primary, backup = make_sources({"a"}, log)
    report = main(["b", "a"], primary, backup, 2)
    assert all(o.source == "primary" for o in report)


def swallows_its_asserts(main):  # the learner's try/except AssertionError: pass, written with suppress
    with contextlib.suppress(AssertionError):
        full_test(main)


def returns_a_verdict(main):  # returns False instead of failing
    try:
        full_test(main)
    except AssertionError:
        return False
    return True


def no_count_of_the_backup(main):
    log = []
    primary, backup = make_sources({"a", "c"}, log)
    report = main(["b", "a", "d", "c"], primary, backup, 2)
    assert [(o.request, o.source) for o in report] == [
        ("b", "primary"),
        ("a", "backup"),
        ("d", "primary"),
        ("c", "backup"),
    ]
    assert sorted(r for s, r in log if s == "primary") == ["a", "b", "c", "d"]
    assert report.workers == 2


def workers_not_checked(main):
    log = []
    primary, backup = make_sources({"a", "c"}, log)
    report = main(["b", "a", "d", "c"], primary, backup, 2)
    assert [(o.request, o.source) for o in report] == [
        ("b", "primary"),
        ("a", "backup"),
        ("d", "primary"),
        ("c", "backup"),
    ]
    assert sorted(log) == sorted([("primary", r) for r in "abcd"] + [("backup", "a"), ("backup", "c")])


BUGS = [
    ("asserts nothing", asserts_nothing, "your test passed a main that never asks the backup"),
    ("a primary that never fails", primary_never_fails, "let your primary fail on some requests"),
    ("workers=3, the default", default_workers, "ignores `workers` (the Router's default, 3)"),
    ("requests already sorted", sorted_requests, "routes the requests sorted"),
    ("calls never counted", no_call_count, "runs the whole batch twice"),
    ("sources never named", no_source_check, "asks the backup first"),
    ("too strict: fails a right main", too_strict, "your test failed a right main"),
    ("its own asserts swallowed", swallows_its_asserts, "your test passed a main that"),
    ("returns a verdict", returns_a_verdict, "a test says 'wrong' by raising"),
    ("the backup's calls not counted", no_count_of_the_backup, (None, "asks the backup for every request too")),
    ("workers not checked", workers_not_checked, "ignores `workers`"),
    ("not a function", "test_main", "expected a function test_main(main)"),
    ("a hang", hangs, "may still be running"),
]


@pytest.mark.parametrize(("name", "answer", "expected"), BUGS, ids=[b[0] for b in BUGS])
def test_each_wrong_test_is_rejected_naming_what_it_misses_by_the_visible_and_the_hidden_check(name, answer, expected):
    if isinstance(expected, tuple) and expected[0] is None:  # only the hidden mains show this one
        assert q.judge(answer), q.judge(answer)
        result = q.hidden_check(answer)
        assert result.status == "incorrect" and expected[1] in result.message, result
        return
    assert_catalogue(q, answer, expected)


def test_starter_and_nothing():
    assert q.judge(starter).status == "not attempted"
    assert not q.judge(do_nothing)
