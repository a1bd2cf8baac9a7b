"""Notebook 06's feedback messages that a fresh reader found misleading (review 06, 2026-12-08).

q2: the model (``tail_rate=0.1``) says 0.9, but the seeded run's share is 0.895 (10.5 % slow calls); a learner who
computed the seeded share exactly was told "0.994x the model's 0.9" as though it were off. q1: an answer that keeps
a new exception instead of the fetch's own was told only "keep the exception the fetch raised".
"""

from concurrent.futures import ThreadPoolExecutor, as_completed

from ella_lab.exercises import walk06


def test_q2_says_the_model_and_the_seeded_share_apart():
    result = walk06.q2.check(0.895, measured=0.895)
    assert result, result
    message = result.message
    assert "the model, about 10 % of calls slow, says 0.9" in message, message
    assert "the seeded share, the same on every run, is 0.895: exactly your number" in message, message
    assert "x the model's" not in message, message  # no ratio that reads as an error for the exact answer


def test_q2_the_model_answer_is_right_and_shown_beside_the_seeded_share():
    result = walk06.q2.check(0.9, measured=0.895)
    assert result, result
    assert "says 0.9; the seeded share, the same on every run, is 0.895." in result.message, result.message


def test_q2_before_the_run_says_to_run_it():
    fresh = walk06.PrimaryShare("fresh")
    result = fresh.check(0.9)
    assert result and "run the timeout cell above" in result.message, result.message


def fetch_all_copies_the_error(fetch, requests, workers):
    answers = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = {pool.submit(fetch, r): r for r in requests}
        for future in as_completed(futures):
            try:
                answers[futures[future]] = future.result()
            except Exception as exc:
                answers[futures[future]] = type(exc)(*exc.args)  # equal text, a different object
    return answers


def test_q1_a_copy_of_the_exception_is_named():
    result = walk06.q1.check(fetch_all_copies_the_error)
    assert result.status == "incorrect", result
    assert "keep the exception the fetch raised, the same object, not a copy" in result.message, result.message
