"""The 'Your turn' checks of notebook 10: the two predictions, and the AIMD rule (q3), whose catalogue of real
learner bugs each fails, visible and hidden, with a message that names the bug, while differently written correct
rules pass."""

import re
import textwrap
import threading

import numpy as np
import pytest

from ella_lab.exercises import BLANK, walk10
from ella_lab.exercises.walk10 import reference_limit


def verdict(question, answer, **context):
    result = question.check(answer, **context)
    return result.status, result.message


def rule(source):
    """``next_limit`` defined by ``source``, as a learner's cell defines it."""
    namespace = {"np": np}
    exec(textwrap.dedent(source), namespace)
    return namespace["next_limit"]


def test_blank_none_and_starter_are_not_attempted():
    for question in (walk10.q1, walk10.q2, walk10.q3):
        assert verdict(question, BLANK)[0] == "not attempted"
        assert verdict(question, None)[0] == "not attempted"
    assert verdict(walk10.q3, rule(walk10.q3.stub))[0] == "not attempted"


# -- q1, q2: the predictions ------------------------------------------------------------------------------


def test_q1_right_within_four_percent_of_three_tries_a_request():
    status, message = verdict(walk10.q1, 420, measured=416.0)
    assert status == "correct" and "the model says 420/s" in message and "416/s" in message
    assert verdict(walk10.q1, np.float64(404))[0] == verdict(walk10.q1, 436)[0] == "correct"
    assert verdict(walk10.q1, 370)[0] == verdict(walk10.q1, 438)[0] == "incorrect"  # 12 %, 4.3 % from the model


def test_q1_twice_c_is_a_named_mistake_not_near_enough():
    # before: 400 (= 2 x C) and anything in 378-462 passed the 10 % tolerance (seen, third review)
    status, message = verdict(walk10.q1, np.float64(400), measured=419.0)
    assert status == "incorrect" and "400 is 2 × C (2 × 200), or 3 × 140 rounded" in message, message
    assert "the exact count is 3 × 140 = 420" in message  # before: only '2 × C', wrong for who rounded 420 (seen)


@pytest.mark.parametrize(
    ("value", "named"),
    [
        (140, "one try a request"),
        (280, "2 retries"),
        (200, "what the server can answer"),
        (100, "during the trigger"),
        (3, "tries per request"),
        (560, "counts 4 tries"),
        (3780, "three layers"),
        (300, "the example of the format in the cell"),  # the stub's example: was the generic verdict (seen)
    ],
)
def test_q1_each_known_mistake_is_named(value, named):
    status, message = verdict(walk10.q1, value, measured=416.0)
    assert status == "incorrect" and named in message, message


def test_q1_the_verdict_gives_the_distance_from_the_model_its_yardstick():
    # before: 377 was told '9% under the measurement ... More than 10% from the model', 462 only '11% over the
    # measurement', as if the measurement were the yardstick (seen, second review)
    status, message = verdict(walk10.q1, 377, measured=415.0)
    assert status == "incorrect" and "More than 4% from the model (10.2%)" in message, message
    status, message = verdict(walk10.q1, 436, measured=415.0)
    assert status == "correct" and "3.8% from the model, within the 4% allowed" in message, message
    # 462 passed the old 10 % tolerance (seen, third review): 10 % from an exact model of 420
    status, message = verdict(walk10.q1, 462, measured=415.0)
    assert status == "incorrect" and "More than 4% from the model (10.0%)" in message, message


def test_q1_large_numbers_are_shown_in_full():
    assert "1,260/s" in verdict(walk10.q1, 1260)[1]


def test_q2_exact_count_and_its_mistakes():
    status, message = verdict(walk10.q2, 27, measured=27)
    assert status == "correct" and "the same as the measurement" in message
    assert verdict(walk10.q2, 27.0)[0] == verdict(walk10.q2, np.int64(27))[0] == "correct"
    named = (
        (9, "adding the layers"),
        (64, "4³"),
        (8, "retries only"),
        (6, "2 + 2 + 2"),
        (81, "3⁴"),
        # before, these three got the generic 'More than 0% from the model' (seen)
        (40, "counts the calls at every layer"),
        (39, "3 + 9 + 27"),
        (13, "1 + 3 + 9"),
        (28, "27 + 1 counts the request itself"),  # was 'The count is exact' alone (seen, second review)
        # these three were 'The count is exact' alone (seen, fifth review)
        (0, "the database is down, but every call still reaches it"),
        (10, "the example of the format in the cell"),  # the stub's example
        (12, "12 = 3 + 9"),
    )
    for value, name in named:
        status, message = verdict(walk10.q2, value)
        assert status == "incorrect" and name in message, (value, message)


def test_q2_a_count_is_exact_and_whole():
    status, message = verdict(walk10.q2, 26, measured=27)  # a count: no tolerance
    assert status == "incorrect" and "The count is exact" in message and "0%" not in message, message
    # before: 'You predicted 27; the model says 27 ... More than 0% from the model' (seen)
    status, message = verdict(walk10.q2, 27.000001, measured=27)
    assert status == "incorrect" and "27.000001 is not a whole number" in message, message
    assert "You predicted 27.000001;" in message
    assert "the same as the measurement" not in message  # before: said so too, contradicting itself (seen)


def test_q2_a_float_that_is_a_whole_count_up_to_rounding_is_that_count():
    # before: (1/3) ** -3, 27.000000000000004, was told 'not a whole number' (seen, third review)
    status, message = verdict(walk10.q2, (1 / 3) ** -3, measured=27)
    assert status == "correct" and "You predicted 27;" in message and "the same as the measurement" in message
    status, message = verdict(walk10.q2, 3.0**2 + 1e-13)  # 9, up to rounding: its own mistake, named
    assert status == "incorrect" and "adding the layers" in message, message


def test_predictions_that_are_not_numbers_are_refused():
    assert verdict(walk10.q1, "420")[0] == "incorrect"
    assert verdict(walk10.q2, True)[0] == "incorrect"


# -- q3: the AIMD rule -----------------------------------------------------------------------------------


REFERENCE = walk10.q3.solution_text

CORRECT = {
    "one expression, sorted for the clamp": """
        def next_limit(limit, ok, inflight):
            new = limit * 0.9 if not ok else limit + 1 if inflight >= limit / 2 else limit
            return sorted((1, new, 200))[1]
    """,
    "early returns and explicit bounds": """
        def next_limit(limit, ok, inflight):
            if ok:
                if 2 * inflight < limit:
                    return limit
                limit += 1
                if limit > 200:
                    limit = 200
                return limit
            limit = 0.9 * limit
            if limit < 1:
                limit = 1.0
            return limit
    """,
    "a floor and a ceiling written as guards, each after the change": """
        def next_limit(limit, ok, inflight):
            if not ok:
                new = limit * 0.9
                return new if new >= 1 else 1
            if inflight * 2 < limit:
                return limit
            return limit + 1 if limit + 1 <= 200 else 200
    """,
    "numpy clip": """
        def next_limit(limit, ok, inflight):
            grow = ok and 2 * inflight >= limit
            return np.clip(limit + 1 if grow else limit * (1 if ok else 0.9), 1, 200)
    """,
}

WRONG = {  # a learner's bug -> what the message must name
    # the next three got a message naming another bug before (seen, fourth review): '2 * inflight > limit - 1' was
    # told only 'not rounded to a whole number'; '2 * (inflight - 1) >= limit' only 'at exactly half'
    "compares with limit - 1, strictly": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight > limit - 1:
                limit += 1
            return min(200, max(1, limit))
        """,
        "2 * inflight > limit - 1, the same test",
    ),
    "takes the try that ended off inflight": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * (inflight - 1) >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "inflight already counts the try that just ended, so take nothing off it",
    ),
    "grows on every answer, even with the limit unused": (
        """
        def next_limit(limit, ok, inflight):
            limit = limit + 1 if ok else limit * 0.9
            return min(200, max(1, limit))
        """,
        "grow only when 2 * inflight >= limit",
    ),
    "grows only when the limit is full": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif inflight >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "not only when it is full",
    ),
    "grows only past half the limit (> where the rule says >=)": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight > limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "at exactly half the limit in flight, grow too",
    ),
    "subtracts 1 on a failure (additive decrease)": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit -= 1
            elif 2 * inflight >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "multiplicative (× 0.9), not 1 less",
    ),
    # was told 'an answer (ok True) must never lower the limit' (its own 8 + 1 = 9 = 10 × 0.9; seen, fifth review)
    "keeps its own limit and ignores the one it is given": (
        """
        state = {"limit": 8.0}
        def next_limit(limit, ok, inflight):
            if not ok:
                state["limit"] = state["limit"] * 0.9
            elif 2 * inflight >= state["limit"]:
                state["limit"] += 1
            state["limit"] = min(200, max(1, state["limit"]))
            return state["limit"]
        """,
        "Use the limit you are given; the caller holds the state",
    ),
    "increase and decrease swapped": (
        """
        def next_limit(limit, ok, inflight):
            if ok:
                limit *= 0.9
            elif 2 * inflight >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "must never lower the limit",
    ),
    "no floor: the limit falls below 1": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                return limit * 0.9
            if 2 * inflight >= limit:
                limit += 1
            return min(200, limit)
        """,
        "never below 1",
    ),
    "no ceiling": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight >= limit:
                limit += 1
            return max(1, limit)
        """,
        "at most 200",
    ),
    "clamp before the change": (
        """
        def next_limit(limit, ok, inflight):
            limit = min(200, max(1, limit))
            if not ok:
                return max(1, limit * 0.9)
            if 2 * inflight >= limit:
                limit += 1
            return limit
        """,
        "at most 200",
    ),
    "min and max the wrong way round": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight >= limit:
                limit += 1
            return max(200, min(1, limit))
        """,
        "check the clamp",
    ),
    "rounds the limit down to a whole number": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit = int(limit * 0.9)
            elif 2 * inflight >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "keep the limit a float: rounding it down",
    ),
    # told 'takes 1 off every limit under 10 (int(5 × 0.9) = 4)' before, wrong for a limit rounded up (review 10f)
    "rounds the limit up to a whole number": (
        """
        import math

        def next_limit(limit, ok, inflight):
            if not ok:
                limit = math.ceil(limit * 0.9)
            elif 2 * inflight >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "keep the limit a float: rounding it up",
    ),
    "rounds the limit to the nearest whole number": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit = round(limit * 0.9)
            elif 2 * inflight >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "round() every one under 5",
    ),
    # the next two passed the visible check before (37.5, False, 3) and (6.4, True, 3) were among its cases
    "cuts the limit only while it is in use": (
        """
        def next_limit(limit, ok, inflight):
            if 2 * inflight >= limit:
                limit = limit + 1 if ok else limit * 0.9
            return min(200, max(1, limit))
        """,
        "cuts the limit however few tries are in flight",
    ),
    "compares with the limit rounded": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight >= round(limit):
                limit += 1
            return min(200, max(1, limit))
        """,
        "the limit rounded down to a whole number",
    ),
    # the next five passed the visible check before (8.0, True, 8), (4.5, True, 6) and (1.1, False, 1) were among its
    # cases, the first three the hidden one too (seen): no step case had an answer with the limit full
    "grows only while half or more, but not all, of the limit is in flight": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif limit <= 2 * inflight < 2 * limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "the limit of 8 is full: grow here too",
    ),
    "cuts on an answer with more in flight than the limit": (
        """
        def next_limit(limit, ok, inflight):
            if not ok or inflight > limit:
                limit *= 0.9
            elif 2 * inflight >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "never lower the limit, even with more tries in flight than the limit",
    ),
    "sets the limit from inflight when it is full": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif inflight >= limit:
                limit = inflight + 1
            elif 2 * inflight >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "add 1 to the limit, not to the tries in flight",
    ),
    "a floor written as a guard on the cut": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                return limit * 0.9 if limit * 0.9 >= 1 else limit
            if 2 * inflight >= limit:
                limit += 1
            return min(200, limit)
        """,
        "cut, then clamp: 1.1 × 0.9 = 0.99",
    ),
    "a floor written as a guard on the limit": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                return limit * 0.9 if limit > 1 else limit
            if 2 * inflight >= limit:
                limit += 1
            return min(200, limit)
        """,
        "never below 1",
    ),
    # the next four were rejected before, with a wrong explanation (seen): 'not only when it is full', 'keep the
    # limit a float', 'not with it rounded', and the generic line
    "a ceiling written as a guard": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                return max(1, limit * 0.9)
            if 2 * inflight >= limit and limit + 1 <= 200:
                limit += 1
            return limit
        """,
        "add 1 and then clamp",
    ),
    "resets to 1 on a failure below 2": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit = 1 if limit < 2 else limit * 0.9
            elif 2 * inflight >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "down to 1 at the lowest: 1.5 × 0.9 = 1.35, not 1",
    ),
    "counts the try that ended twice": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * (inflight + 1) >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "counts this try twice",
    ),
    "multiplicative increase": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight >= limit:
                limit *= 1.1
            return min(200, max(1, limit))
        """,
        "an answer adds 1 (additive increase), not × 1.1",
    ),
    "doubles on an answer": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight >= limit:
                limit *= 2
            return min(200, max(1, limit))
        """,
        "not × 2",
    ),
    # the next seven were rejected before with a message that named another bug (seen, second review): '+= 2' was told
    # 'not × 1.2', '+= 1 / limit' 'not × 1.01', '// 2' 'counts this try twice', the floor of 2 'a failure must lower
    # the limit', '× 0.5' and 'inflight + 1' the generic line; failures ignored with more in flight than the limit
    # passed every step case and got the generic line in the simulated run
    "adds 2 on an answer": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight >= limit:
                limit += 2
            return min(200, max(1, limit))
        """,
        "an answer adds 1 (additive increase), not + 2",
    ),
    "adds 1 / limit on an answer, as TCP does per acknowledgement": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight >= limit:
                limit += 1 / limit
            return min(200, max(1, limit))
        """,
        "not 1 / limit",
    ),
    "compares with half the limit floor-divided": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif inflight >= limit // 2:
                limit += 1
            return min(200, max(1, limit))
        """,
        "floor division",
    ),
    "ignores a failure while more tries are in flight than the limit": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                if inflight <= limit:
                    limit *= 0.9
            elif 2 * inflight >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "a failure cuts even when tries sent before a cut are still in flight",
    ),
    "a floor of 2": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight >= limit:
                limit += 1
            return min(200, max(2, limit))
        """,
        "the floor is 1",
    ),
    "halves on a failure": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.5
            elif 2 * inflight >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "cuts by × 0.9, not × 0.5",
    ),
    "sets the limit from inflight on every answer that grows it": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight >= limit:
                limit = inflight + 1
            return min(200, max(1, limit))
        """,
        "add 1 to the limit, not to the tries in flight",
    ),
    # the next two got another bug's message (seen): a failure that also grows was told 'not × 0.91', growth from
    # limit - 1 'floor division'
    "grows after a failure too (two ifs, no elif)": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            if 2 * inflight >= limit:
                limit += 1
            return min(200, max(1, limit))
        """,
        "only an answer (ok True) grows it",
    ),
    "grows from one less than the limit": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight >= limit - 1:
                limit += 1
            return min(200, max(1, limit))
        """,
        "A comparison with limit - 1",
    ),
    "forgets the return": (
        """
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight >= limit:
                limit += 1
            limit = min(200, max(1, limit))
        """,
        "forget the `return`",
    ),
}


def test_the_reference_passes_visible_and_hidden_and_reports_the_simulated_run():
    answer = rule(REFERENCE)
    status, message = verdict(walk10.q3, answer)
    assert status == "correct", message
    assert "decisions of the simulated run" in message and "recovered" in message
    assert walk10.q3.hidden_check(answer).status == "correct"


@pytest.mark.parametrize("name", CORRECT)
def test_differently_written_correct_rules_pass_visible_and_hidden(name):
    answer = rule(CORRECT[name])
    assert verdict(walk10.q3, answer)[0] == "correct", verdict(walk10.q3, answer)
    assert walk10.q3.hidden_check(answer).status == "correct"


@pytest.mark.parametrize("name", WRONG)
def test_each_learner_bug_fails_visible_and_hidden_naming_it(name):
    source, named = WRONG[name]
    answer = rule(source)
    status, message = verdict(walk10.q3, answer)
    assert status == "incorrect" and named in message, message
    hidden = walk10.q3.hidden_check(answer)
    assert hidden.status == "incorrect", hidden
    # the hidden check names the same bug, on its own numbers (seen naming another: 'grows after a failure too' was
    # told 'a failure must lower the limit' at (3, False, 6), fourth review)
    assert _numbers_out(named) in _numbers_out(hidden.message) or "in the simulated run" in hidden.message, hidden


def _numbers_out(text):
    return re.sub(r"\d+(\.\d+)?", "#", text)


@pytest.mark.parametrize(
    ("source", "named"),
    [  # the hidden check named another bug for these (seen, fourth review): 'counts this try twice', 'not + 4'
        ("limit = limit + 1 if ok else limit * 0.9", "grow only when 2 * inflight >= limit"),
        ("limit = (limit * 1.1 if 2 * inflight >= limit else limit) if ok else limit * 0.9", "not × 1.1"),
    ],
)
def test_the_hidden_check_names_the_same_bug(source, named):
    answer = rule(f"""
        def next_limit(limit, ok, inflight):
            {source}
            return min(200, max(1, limit))
    """)
    hidden = walk10.q3.hidden_check(answer)
    assert hidden.status == "incorrect" and named in hidden.message, hidden


def test_the_hidden_check_does_not_call_its_run_section_d():
    answer = rule(REFERENCE)
    visible, hidden = verdict(walk10.q3, answer)[1], walk10.q3.hidden_check(answer).message
    assert "the simulated run of section (d) (140 requests a second, a 2 s trigger)" in visible
    assert "section (d)" not in hidden and "a simulated run (170 requests a second, a 2.5 s trigger)" in hidden


def test_a_rule_that_divides_by_inflight_is_right_on_every_input_the_library_produces():
    # inflight counts the try that just ended, so it is at least 1: the hidden cases never pass 0
    answer = rule("""
        def next_limit(limit, ok, inflight):
            if not ok:
                return max(1, limit * 0.9)
            return min(200, limit + 1) if limit / inflight <= 2 else limit
    """)
    assert verdict(walk10.q3, answer)[0] == "correct"
    assert walk10.q3.hidden_check(answer).status == "correct"
    assert all(inflight >= 1 for _, _, inflight in walk10.q3.CASES + walk10.q3.HIDDEN_CASES)


def test_a_rule_right_on_the_listed_steps_but_wrong_elsewhere_is_caught_in_the_simulated_run():
    def fitted(limit, ok, inflight):  # right on the check's cases, wrong in the region the simulation visits
        if 10 < limit < 90 and ok:
            return min(200, limit + 2) if 2 * inflight >= limit else limit
        return reference_limit(limit, ok, inflight)

    status, message = verdict(walk10.q3, fitted)
    assert status == "incorrect" and "in the simulated run" in message, message


def test_not_a_function_and_a_raising_rule_are_incorrect():
    assert verdict(walk10.q3, 3)[0] == "incorrect"

    def raises(limit, ok, inflight):
        raise ZeroDivisionError("oops")

    status, message = verdict(walk10.q3, raises)
    assert status == "incorrect" and "ZeroDivisionError" in message


@pytest.mark.timeout(30)
def test_a_rule_that_never_returns_ends_the_check():
    def hangs(limit, ok, inflight):
        threading.Event().wait(30)

    status, message = verdict(walk10.q3, hangs)
    assert status == "incorrect" and "did not return" in message


def test_a_rule_that_rounds_its_result_is_told_so_with_the_rules_value_in_full():
    answer = rule("""
        def next_limit(limit, ok, inflight):
            if not ok:
                limit *= 0.9
            elif 2 * inflight >= limit:
                limit += 1
            return round(min(200, max(1, limit)), 4)
    """)
    status, message = verdict(walk10.q3, answer)
    assert status == "incorrect" and "rounded to 4 decimal places" in message, message
    want = re.search(r"the rule gives ([\d.]+):", message).group(1)
    got = re.search(r"returned ([\d.]+),", message).group(1)
    assert round(float(want), 4) == float(got) and float(want) != float(got)  # the value in full, not .6g
    assert walk10.q3.hidden_check(answer).status == "incorrect"
