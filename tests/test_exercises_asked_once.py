"""One exercise, one place: no code exercise is asked both in a walkthrough notebook (walkNN) and on its sheet
(phaseN). A sheet goes further than its notebook; it never re-asks the notebook's exercise.

Two code questions look like the same exercise when their model answers define the same parameters (of the
function, or of the class's __init__), or a function of the same name whose parameters one holds all of the
other's, or both the text of a script whose main() takes the same parameters; or when the sheet's answer is data
(a dict) for a question class of the same name as the notebook's code question. Look-alikes that are different
tasks are listed, with the difference. No pair may be asked twice: the sheets' former repeats (03's sentinel
worker, 04's fallback, 05's main() and its __main__ guard, 07's breaker, 08's engine picks, 09's fetch) are kept
below, to show that the rule still finds them.
"""

import ast
import importlib
import textwrap

import pytest

from ella_lab.exercises._core import questions

SHEETS = [f"phase{n}" for n in range(1, 10)]
WALKS = [f"walk{n:02d}" for n in range(1, 11)]

# Look alike (a function or class of the same name), yet different tasks: a sheet may build on its notebook's.
DIFFERENT = {
    ("phase7.q1", "walk07.breaker"): "builds on notebook 07's one-trial breaker: `probes` trials, from many threads",
    ("phase1.q3", "walk06.q1"): "fetch_all with one thread per request (01) vs on a pool of `workers` (06)",
    ("phase8.q2", "walk06.q1"): "an asyncio fetch_all with at most `limit` at once vs a thread pool",
}


def _main_parameters(script):
    """The parameters of the main() a script's text defines (None when it defines none, or is not Python)."""
    try:
        tree = ast.parse(textwrap.dedent(script))
    except SyntaxError:
        return None
    main = next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"), None)
    return tuple(a.arg for a in main.args.args) if main else None


def _shape(question):
    """What the model answer defines: ('def', name, parameters), ('script', main's parameters) or None (a number,
    a choice, a dict)."""
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
            return ("script", _main_parameters(node.value.value))
    return None


def _alike(one, other):
    if one is None or other is None or one[0] != other[0]:
        return False
    if one[0] == "script":
        return one == other
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
    twice = asked_twice()
    assert not twice, f"asked both on a sheet and in a notebook: {sorted(twice)}; a sheet goes further, never re-asks"


@pytest.mark.parametrize(
    ("old", "walk"),
    [
        ("def fallback(request, sources):\n    pass\n", "walk04.q1"),  # sheet 04 q1 before
        ("def main(requests, primary, backup, workers):\n    pass\n", "walk05.q3"),  # sheet 05 q1 before
        ("class Breaker:\n    def __init__(self, failures, reset_after, clock):\n        pass\n", "walk07.breaker"),
        ("def fetch(url, request, timeout):\n    pass\n", "walk09.q2"),  # sheet 09 q1 before
        ("def worker(tasks, results, fetch):\n    pass\n", "walk03.q2"),  # sheet 03 q2 before
        ('SCRIPT = """\ndef main():\n    pass\n\nif __name__ == "__main__":\n    main()\n"""\n', "walk05.q1"),  # 05 q2
    ],
)
def test_the_rule_finds_the_repeats_the_sheets_had(old, walk):
    """The rule must be able to fail: sheets 03, 04, 05, 07 and 09 re-asked their notebook's exercise before."""

    class Old:
        solution_text = old

    walk_q = dict(_questions([walk.split(".")[0]]))[walk]
    assert _alike(_shape(Old), _shape(walk_q))


def test_the_rule_finds_a_dict_answer_to_the_notebooks_question_of_the_same_name():
    """Sheet 08 q1 was a dict of engine picks, for a question class named as notebook 08's pick_engines question."""
    walk_q = dict(_questions(["walk08"]))["walk08.q2"]
    old = type(type(walk_q).__name__, (), {"solution_text": 'picks = {"cpu": "processes"}\n'})()
    assert _shape(old) is None and _shape(walk_q) is not None and type(old).__name__ == type(walk_q).__name__
