"""One exercise, one place: no code exercise is asked both in a walkthrough notebook (walkNN) and on its sheet
(phaseN). A sheet goes further than its notebook; it never re-asks the notebook's exercise.

Two code questions look like the same exercise when their model answers define the same parameters (of the
function, or of the class's __init__), or a function of the same name whose parameters one holds all of the
other's, or both the text of a script; or when the sheet's answer is data (a dict) for a question class of the
same name as the notebook's code question. Look-alikes that are different tasks are listed, with the difference.
The pairs still asked twice are listed, each with why: that list may only shrink, and a new pair fails the test.
"""

import ast
import importlib
import textwrap

import pytest

from ella_lab.exercises._core import questions

SHEETS = [f"phase{n}" for n in range(1, 10)]
WALKS = [f"walk{n:02d}" for n in range(1, 10)]

# Still asked twice (issue 19, item 3): each needs a new sheet question, and files of other owners changed too.
STILL_TWICE = {
    ("phase3.q2", "walk03.q2"): "sheet 03 q2 re-asks the sentinel worker; the grader's demo class is built on it",
    ("phase5.q2", "walk05.q3"): "sheet 05 q2 (main.py) re-asks notebook 05's __main__ guard",
    ("phase8.q1", "walk08.q2"): "sheet 08 q1 re-asks notebook 08's engine picks (a dict there, a function here)",
}

# Look alike (a function or class of the same name), yet different tasks: a sheet may build on its notebook's.
DIFFERENT = {
    ("phase7.q1", "walk07.breaker"): "builds on notebook 07's one-trial breaker: `probes` trials, from many threads",
    ("phase1.q3", "walk06.q1"): "fetch_all with one thread per request (01) vs on a pool of `workers` (06)",
    ("phase8.q2", "walk06.q1"): "an asyncio fetch_all with at most `limit` at once vs a thread pool",
}


def _shape(question):
    """What the model answer defines: ('def', name, parameters), ('script',) or None (a number, a choice, a dict)."""
    tree = ast.parse(textwrap.dedent(question.solution_text))
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return ("def", node.name, tuple(a.arg for a in node.args.args))
        if isinstance(node, ast.ClassDef):
            init = next((m for m in node.body if isinstance(m, ast.FunctionDef) and m.name == "__init__"), None)
            return ("def", node.name, tuple(a.arg for a in init.args.args[1:]) if init else ())
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and "__main__" in str(node.value.value)
        ):
            return ("script",)
    return None


def _alike(one, other):
    if one is None or other is None or one[0] != other[0]:
        return False
    if one[0] == "script":
        return True
    (_, name, params), (_, other_name, other_params) = one, other
    nested = set(params) <= set(other_params) or set(other_params) <= set(params)
    return params == other_params or (name == other_name and nested)


def _questions(names):
    found = []
    for name in names:
        module = importlib.import_module(f"ella_lab.exercises.{name}")
        found += [(f"{name}.{q.name}", q) for q in questions(module) if q.checked]
    return found


def asked_twice():
    """Every (sheet question, walkthrough question) pair that is the same exercise."""
    pairs = set()
    for sheet_id, sheet_q in _questions(SHEETS):
        for walk_id, walk_q in _questions(WALKS):
            shape, walk_shape = _shape(sheet_q), _shape(walk_q)
            same_shape = _alike(shape, walk_shape) and (sheet_id, walk_id) not in DIFFERENT
            same_kind = shape is None and walk_shape is not None and type(sheet_q).__name__ == type(walk_q).__name__
            if same_shape or same_kind:
                pairs.add((sheet_id, walk_id))
    return pairs


def test_no_code_exercise_is_asked_in_two_places():
    new = asked_twice() - set(STILL_TWICE)
    assert not new, f"asked both on a sheet and in a notebook: {sorted(new)}; a sheet goes further, never re-asks"


@pytest.mark.parametrize("pair", sorted(STILL_TWICE))
def test_the_list_of_pairs_still_asked_twice_only_shrinks(pair):
    assert pair in asked_twice(), f"{pair} is no longer asked twice: take it off STILL_TWICE"


@pytest.mark.parametrize(
    ("old", "walk"),
    [
        ("def fallback(request, sources):\n    pass\n", "walk04.q1"),  # sheet 04 q1 before
        ("def main(requests, primary, backup, workers):\n    pass\n", "walk05.q2"),  # sheet 05 q1 before
        ("class Breaker:\n    def __init__(self, failures, reset_after, clock):\n        pass\n", "walk07.breaker"),
        ("def fetch(url, request, timeout):\n    pass\n", "walk09.q2"),  # sheet 09 q1 before
    ],
)
def test_the_rule_finds_the_repeats_the_sheets_had(old, walk):
    """The rule must be able to fail: sheets 04, 05, 07 and 09 re-asked their notebook's exercise before."""

    class Old:
        solution_text = old

    walk_q = dict(_questions([walk.split(".")[0]]))[walk]
    assert _alike(_shape(Old), _shape(walk_q))
