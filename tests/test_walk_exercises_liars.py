"""The walkthrough checks of walk05, walk07 and walk09 compare with ``_core.same()``: an answer whose values
claim to equal anything (``__eq__`` always true) is not correct there. Each test failed before (``==``)."""

import textwrap

import pytest

from ella_lab import FallbackChain, Router
from ella_lab.exercises import walk05, walk07, walk09
from ella_lab.outcome import Report
from ella_lab.resilience import CircuitOpenError

pytestmark = pytest.mark.timeout(60)


class Liar:
    """Equal to anything but None, hashed like ``like``."""

    def __init__(self, like=None):
        self.like = like

    def __eq__(self, other):
        return other is not None

    def __ne__(self, other):
        return other is None

    def __hash__(self):
        return hash(self.like)


class LyingText(str):
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = str.__hash__


def _solution(question, name, **namespace):
    exec(textwrap.dedent(question.solution_text), namespace)
    return namespace[name]


def main_with_lying_sources(requests, primary, backup, workers):
    report = Router(FallbackChain([primary, backup]), workers=workers).run(requests)
    outcomes = [o if o.source is None else o._replace(source=Liar(o.source)) for o in report]
    return Report(outcomes, workers=report.workers, started_at=report.started_at, finished_at=report.finished_at)


def main_with_lying_requests(requests, primary, backup, workers):
    report = Router(FallbackChain([primary, backup]), workers=workers).run(requests)
    outcomes = [o._replace(request=Liar(o.request)) for o in reversed(report.outcomes)]  # and out of order
    return Report(outcomes, workers=report.workers, started_at=report.started_at, finished_at=report.finished_at)


def _lying_state_breaker():
    """The model answer run on a private state, ``_s``; ``state``, what the check reads, claims to be anything."""
    source = textwrap.dedent(walk07.breaker.solution_text).replace("self.state", "self._s")
    namespace = {"CircuitOpenError": CircuitOpenError}
    exec(source, namespace)
    base = namespace["Breaker"]

    class LyingState(base):
        state = Liar("closed")

    return LyingState


def fetch_with_lying_body(url, timeout):
    _solution(walk09.q2, "fetch")(url, timeout)  # a real fetch, whose body it hides
    return LyingText("not the body at all")


@pytest.mark.parametrize("method", ["judge", "hidden_check"])
@pytest.mark.parametrize(
    ("question", "answer", "names"),
    [
        (walk05.q3, main_with_lying_sources, "was served by"),
        (walk05.q3, main_with_lying_requests, "one outcome per request, in order"),
        (walk09.q2, fetch_with_lying_body, "expected the body"),
    ],
    ids=["walk05 sources", "walk05 requests", "walk09 body"],
)
def test_an_answer_whose_values_equal_anything_is_not_correct(question, answer, names, method):
    result = getattr(question, method)(answer)
    assert result.status == "incorrect", result
    assert names in result.message, result.message


def test_a_breaker_whose_state_equals_anything_is_not_correct():
    result = walk07.breaker.judge(_lying_state_breaker())
    assert result.status == "incorrect", result
    assert "self.state should be" in result.message, result.message
