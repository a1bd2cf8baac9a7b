"""Sheets 03, 04 and 06: each code question passes its reference and a differently written answer (on the
visible and the hidden cases), and rejects the wrong answers real learners write, naming the bug."""

import math
import random
import time

import numpy as np
import pytest
from exercise_answers import assert_catalogue, reference

from ella_lab.exercises import phase3, phase4, phase6

pytestmark = pytest.mark.timeout(120)

# -- 03 q1 makespan ------------------------------------------------------------------------------


def makespan_alt(n, k, latency):
    rounds, partial = divmod(n, k)
    return (rounds + (partial > 0)) * latency


VISIBLE_MAKESPAN = {(10, 3, 0.5): 2.0, (8, 4, 0.1): 0.2, (1, 4, 0.1): 0.1, (9, 1, 0.01): 0.09, (0, 3, 0.5): 0.0}

MAKESPAN_BUGS = [
    ("work split evenly N·L/K", lambda n, k, latency: n * latency / k, "so count whole rounds"),
    ("one worker alone", lambda n, k, latency: n * latency, "the time for one worker alone"),
    ("rounds rounded down", lambda n, k, latency: (n // k) * latency, "round up, not down"),
    ("print instead of return", lambda n, k, latency: print(n, k, latency), "forget `return`"),
    ("milliseconds", lambda n, k, latency: math.ceil(n / k) * latency * 1000, "right in milliseconds"),
    ("one round too many", lambda n, k, latency: (n // k + 1) * latency, "one round too many"),
    ("whole seconds", lambda n, k, latency: math.ceil(n * latency / k), "work it out by hand"),
    ("a string", lambda n, k, latency: f"{math.ceil(n / k) * latency} s", "expected a number"),
]

# 03 q2 (a cache computed once per key) has its catalogue in test_exercises_compute_once.py; the sentinel worker
# it replaced is notebook 03's exercise (walk03 q2), whose catalogue (test_walk_exercises_01_03.py) holds its bugs.

# -- 03 q3 workers_needed ------------------------------------------------------------------------

NEEDED_BUGS = [
    ("not rounded", lambda x, latency: x * latency, "whole number of threads"),
    ("X / L", lambda x, latency: x / latency, "K = X · L"),
    ("round()", lambda x, latency: round(x * latency), "Round up"),
    ("int() floors", lambda x, latency: int(x * latency), "Round up"),
    ("one spare worker", lambda x, latency: math.ceil(x * latency - 1e-9) + 1, "off by one (one too many)"),
    ("print instead of return", lambda x, latency: print(math.ceil(x * latency)), "forget `return`"),
    ("a string", lambda x, latency: str(math.ceil(x * latency)), "expected a number"),
]

# -- 04 q2 chain_success (q1, the per-source budget: test_exercises_fallback_within.py) --------------


CHAIN_BUGS = [
    ("every source succeeds", lambda p, k: (1 - p) ** k, "every source succeeds"),
    ("chances added", lambda p, k: 1 - p * k, "multiply, they do not add"),
    ("ignores k", lambda p, k: 1 - p, "ignores k"),
    ("the failure rate", lambda p, k: p**k, "every source fails: 1 minus that"),
    ("percent", lambda p, k: 100 * (1 - p**k), "as a percentage"),
    ("print instead of return", lambda p, k: print(1 - p**k), "forget `return`"),
]

# -- 06 q1 full jitter (q2, profile: test_exercises_profile.py) -------------------------------


def jitter_alt(attempts, base, cap, rng):
    waits, ceiling = [], base
    for _ in range(attempts - 1):
        waits.append(min(ceiling, cap) * rng.random())
        ceiling *= 2
    return waits


CAPPED = [min(0.1, 0.01 * 2 ** (n - 1)) for n in range(1, 10)]


def jitter_ceiling(n, base, cap):
    return min(cap, base * 2 ** (n - 1))


def jitter_reuses_draw(attempts, base, cap, rng):
    u = rng.random()
    return [u * jitter_ceiling(n, base, cap) for n in range(1, attempts)]


def jitter_mixes_global(attempts, base, cap, rng):
    return [rng.uniform(0, base)][: attempts - 1] + [
        random.uniform(0, jitter_ceiling(n, base, cap)) for n in range(2, attempts)
    ]


def jitter_own_rng(attempts, base, cap, rng):
    mine = random.Random(0)
    return [mine.uniform(0, jitter_ceiling(n, base, cap)) for n in range(1, attempts)]


def jitter_reseeds(attempts, base, cap, rng):
    rng.seed(42)
    return [rng.uniform(0, jitter_ceiling(n, base, cap)) for n in range(1, attempts)]


def jitter_global_seeded_from_rng(attempts, base, cap, rng):
    random.seed(rng.random())
    return [random.uniform(0, jitter_ceiling(n, base, cap)) for n in range(1, attempts)]


def jitter_time_seeded(attempts, base, cap, rng):
    mine = random.Random(time.perf_counter_ns())
    return [mine.uniform(0, jitter_ceiling(n, base, cap)) for n in range(1, attempts)]


def jitter_generator(attempts, base, cap, rng):  # correct: a generator, rng.random() * ceiling
    ceiling = base
    for _ in range(attempts - 1):
        yield rng.random() * min(cap, ceiling)
        ceiling *= 2


def jitter_tuple_reversed_bounds(attempts, base, cap, rng):  # correct: uniform(b, a) is uniform(a, b)
    return tuple(rng.uniform(jitter_ceiling(n, base, cap), 0) for n in range(1, attempts))


JITTER_BUGS = [
    ("no jitter", lambda a, b, c, rng: [jitter_ceiling(n, b, c) for n in range(1, a)], "that is no jitter"),
    (
        "equal jitter",
        lambda a, b, c, rng: [jitter_ceiling(n, b, c) * (0.5 + rng.random() / 2) for n in range(1, a)],
        "equal jitter",
    ),
    (
        "ignores the rng (global random)",
        lambda a, b, c, rng: [random.uniform(0, jitter_ceiling(n, b, c)) for n in range(1, a)],
        "used Python's global random module",
    ),
    ("one draw reused for every retry", jitter_reuses_draw, "every retry uses the same random draw"),
    ("global random mixed in", jitter_mixes_global, "used Python's global random module"),
    ("no cap", lambda a, b, c, rng: [rng.uniform(0, b * 2 ** (n - 1)) for n in range(1, a)], "outside [0, "),
    (
        "exponent off by one",
        lambda a, b, c, rng: [rng.uniform(0, min(c, b * 2**n)) for n in range(1, a)],
        "the first is base itself",
    ),
    (
        "exponent one too low (ceilings halved)",
        lambda a, b, c, rng: [rng.uniform(0, jitter_ceiling(n, b, c)) for n in range(0, a - 1)],
        "your exponent is one too low",
    ),
    ("a random.Random of its own", jitter_own_rng, "your waits do not come from that rng"),
    ("reseeds the given rng", jitter_reseeds, "reseeds the rng it was given"),
    ("global random seeded from rng", jitter_global_seeded_from_rng, "used Python's global random module"),
    ("a Random seeded from the clock", jitter_time_seeded, "none came from the rng you were given"),
    ("a wait per attempt", lambda a, b, c, rng: [rng.uniform(0, b) for _ in range(a)], "no retry, so no wait"),
    (
        "not uniform (squared)",
        lambda a, b, c, rng: [jitter_ceiling(n, b, c) * rng.random() ** 1.5 for n in range(1, a)],
        "full jitter averages 0.5",
    ),
    (
        "not uniform (triangular)",
        lambda a, b, c, rng: [rng.triangular(0, jitter_ceiling(n, b, c)) for n in range(1, a)],
        "not uniform",
    ),
    ("print instead of return", lambda a, b, c, rng: print([rng.uniform(0, b)]), "returned None"),
]


# -- the tables ----------------------------------------------------------------------------------

# Unusual but correct answers (from a review that attacked the checks as a student): each must pass.
ALTERNATIVES = {
    "p3.q1": [lambda n, k, latency: -(-n // k) * latency],
    "p3.q3": [lambda x, latency: math.ceil(x / (1 / latency) - 1e-9)],
    "p6.q1": [jitter_generator, jitter_tuple_reversed_bounds],
}

CODE_QUESTIONS = {
    "p3.q1": (phase3, phase3.q1, "makespan", makespan_alt, MAKESPAN_BUGS),
    "p3.q3": (
        phase3,
        phase3.q3,
        "workers_needed",
        lambda x, latency: np.ceil(np.float64(x) * latency - 1e-9).astype(np.int64),
        NEEDED_BUGS,
    ),
    "p4.q2": (phase4, phase4.q2, "chain_success", lambda p, k: 1 - math.prod([p] * k), CHAIN_BUGS),
    "p6.q1": (phase6, phase6.q1, "full_jitter_delays", jitter_alt, JITTER_BUGS),
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


def test_answers_fitted_to_the_visible_cases_fail_the_hidden_ones():
    looked_up = lambda n, k, latency: VISIBLE_MAKESPAN[(n, k, latency)]  # noqa: E731
    assert phase3.q1.judge(looked_up) and not phase3.q1.hidden_check(looked_up)
    printed = lambda report: {"wait": 0.15, "sources": {"primary": 0.65, "backup": 0.7}}  # noqa: E731
    assert phase6.q2.judge(printed) and not phase6.q2.hidden_check(printed)
    assert "expected the total of started_at - queued_at" in phase6.q2.hidden_check(printed).message


def test_counts_accept_integral_floats_and_numpy_integers():
    assert phase3.q3.judge(lambda x, latency: float(math.ceil(x * latency - 1e-9)))
    assert phase3.q3.judge(lambda x, latency: np.int64(math.ceil(x * latency - 1e-9)))
    assert not phase3.q3.judge(lambda x, latency: True)
