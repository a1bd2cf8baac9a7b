"""A question's own use is not tampering: hints, solutions and a predict check's measurement (issue 20).

A learner who asks for a hint (``ex.q1.hint()`` counts them in ``q1._next_hint``) or checks a prediction with
the run's measurement (``ex.q1.check(p, measured=..., cores=...)`` keeps them in ``q1._measured`` and
``_context``) changed a question object the grader seals. Before this fix the seal reported it, and the row
was "check by hand": an honest class that asked for hints filled the gradebook with them (seen: "the notebook
changed or reached for what the checks rely on (phase3.q1._next_hint ...)"). Now that state is put back
silently, from a copy taken at the seal, before every judgement: a value the notebook sets there (or writes
into the sealed dictionary itself) cannot reach a hidden verdict. What a verdict relies on (a check method, a
tolerance, whether on the class or shadowed on the question object) is still put back and reported.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest

from ella_lab.grading import grade_submissions
from ella_lab.grading.collect import answer_names, checked_names

ROOT = Path(__file__).resolve().parents[1]
SHEET03 = ROOT / "notebooks" / "exercises" / "ex03-threaded-router.ipynb"
_spec = importlib.util.spec_from_file_location("make_demo_class", ROOT / "tests" / "fixtures" / "make_demo_class.py")
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)
ALL_WRONG = {"makespan": demo.MAKESPAN_NLK, "get_once": demo.GET_ONCE_NO_LOCK, "workers_needed": demo.NEEDED_ROUND}
SUSPECTED = "the notebook changed or reached for what the checks rely on"

HINTS_AND_SOLUTIONS = "ex.q1.hint()\nex.q1.hint()\nex.q1.hint(1)\nex.q1.solution()\nex.q2.hint()\nex.q3.solution()"


def instructor_sheet_with(cell: str) -> nbformat.NotebookNode:
    """The instructor's sheet 03 (every answer right) with ``cell`` after q1's check."""
    nb = nbformat.reads(SHEET03.read_text(), as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "ex.q1.check(" in c.source)
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(cell))
    return nb


def walkthrough(sheet: str, *cells: str) -> nbformat.NotebookNode:
    """A walkthrough notebook as the learner runs it: the setup import, then ``cells``."""
    setup = f"from ella_lab.exercises import {sheet} as ex\nfrom ella_lab.exercises.{sheet} import ____"
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(setup), *(nbformat.v4.new_code_cell(c) for c in cells)]
    return nb


def grade_folder(folder: Path, notebooks: dict[str, nbformat.NotebookNode], **settings) -> dict[str, dict]:
    """Grade ``notebooks``: each student's row, with ``verdicts``: question -> the hidden check's verdict."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, nb in notebooks.items():
        (folder / f"{name}.ipynb").write_text(nbformat.writes(nb))
    grades = grade_submissions([folder], jobs=2, timeout=120, cell_timeout=60, memory_mb=2048, **settings)
    rows = {row["student"]: {**row, "verdicts": {}} for row in grades.grades_frame().to_dict("records")}
    for answer in grades.answers_frame().to_dict("records"):
        rows[answer["student"]]["verdicts"][answer["question"]] = answer["verdict"]
    return rows


# -- the use of the exercises: full marks, nothing suspected ----------------------------------------


@pytest.mark.timeout(300)
def test_hints_and_solutions_on_a_sheet_earn_full_marks_unsuspected(tmp_path):
    rows = grade_folder(tmp_path, {"hinted": instructor_sheet_with(HINTS_AND_SOLUTIONS)}, sheet="phase3")
    row = rows["hinted"]
    assert (row["score"], row["max_score"], row["status"], row["reason"]) == (3, 3, "graded", ""), row


WALK_RIGHT = {  # sheet: cells of a learner who predicts right, checks with the run's measurement, asks for help
    "walk08": (
        "predicted_speedup = 2",
        "ex.q1.check(predicted_speedup, measured=1.6, cores=2, idle=0.9)\nex.q1.hint()\nex.q1.solution()",
    ),
    "walk09": (
        "predicted_rps = 800",
        "ex.q1.check(predicted_rps, measured=610.0, k=8, latency=0.010)\nex.q1.hint()\nex.q1.hint()",
    ),
}


@pytest.mark.timeout(300)
def test_a_predict_check_with_its_measurement_and_hints_is_not_suspected(tmp_path):
    notebooks = {f"right-{sheet}": walkthrough(sheet, *cells) for sheet, cells in WALK_RIGHT.items()}
    rows = {}
    for sheet in WALK_RIGHT:  # one sheet a grading run
        graded = grade_folder(
            tmp_path / sheet,
            {f"right-{sheet}": notebooks[f"right-{sheet}"]},
            sheet=sheet,
            sheets_folder=ROOT / "notebooks",
        )
        rows.update(graded)
    for sheet in WALK_RIGHT:
        row = rows[f"right-{sheet}"]
        assert (row["q1"], row["verdicts"]["q1"]) == (1, "correct"), row
        assert row["status"] == "graded" and SUSPECTED not in row["reason"], row


# -- hostile values in that state: the hidden verdict does not move ---------------------------------

# walk09 q1's model is K / L read from the check's context (K = 8, L = 10 ms by default: 800 req/s); 200 is
# the model of K = 2: each cell below made the visible check say "correct" for it, never the hidden one.
HOSTILE_CONTEXT = {
    "context-set": "ex.q1._context = {'k': 2, 'latency': 0.010}",
    "context-written-into": "ex.q1._context['k'] = 2",  # the sealed dictionary itself, in place
    "context-by-the-check": "ex.q1.check(200, k=2, latency=0.010)",
    "context-own-class": (  # a dictionary whose get() lies, put there by the notebook
        "class _Lying(dict):\n    def get(self, key, default=None):\n        return 2 if key == 'k' else default\n"
        "ex.q1._context = _Lying()"
    ),
    "measured-set": "ex.q1._measured = 200.0\nex.q1._context = {'k': 2}",
    "state-set-on-the-class": "type(ex.q1)._context = {'k': 2}\ntype(ex.q1)._measured = 200.0",
}


def test_each_hostile_state_makes_the_visible_check_say_correct():
    """The catalogue above is real: on a fresh question (of a class of its own, so that nothing leaks), each cell
    makes the visible check accept 200."""
    from ella_lab.exercises import walk09

    for kind, cell in HOSTILE_CONTEXT.items():
        fresh = type("Fresh", (walk09.RealThroughput,), {})("q1")
        ex = SimpleNamespace(q1=fresh)
        assert fresh.judge(200).status == "incorrect", kind
        with contextlib.redirect_stdout(io.StringIO()):
            exec(cell, {"ex": ex})
        assert fresh.judge(200).status == "correct" or kind == "state-set-on-the-class", kind


@pytest.mark.timeout(300)
def test_hostile_values_in_a_questions_own_state_do_not_change_the_hidden_verdict(tmp_path):
    notebooks = {kind: walkthrough("walk09", cell, "predicted_rps = 200") for kind, cell in HOSTILE_CONTEXT.items()}
    for nb in notebooks.values():  # each made the visible check pass: the hostile state is real
        nb.cells.append(nbformat.v4.new_code_cell("print('visible:', ex.q1.judge(predicted_rps).status)"))
    rows = grade_folder(tmp_path, notebooks, sheet="walk09", sheets_folder=ROOT / "notebooks")
    for kind in HOSTILE_CONTEXT:
        row = rows[kind]
        assert (row["q1"], row["verdicts"]["q1"]) == (0, "incorrect"), (kind, row)  # judged, and refused
    # setting the state on the class is not the question's own use: a class attribute is what the checks rely on
    assert rows["state-set-on-the-class"]["status"] == "check by hand", rows["state-set-on-the-class"]


# -- a real tamper is still put back and reported --------------------------------------------------

# Each cell runs before the answers (so every answer is judged after it); the answers are all wrong (0 points).
REAL_TAMPERS = {
    "check-method-on-the-class": "type(ex.q1)._check = lambda self, answer: 'fine'",
    "hidden-check-on-the-class": "type(ex.q1)._check_hidden = lambda self, answer: 'fine'",
    "check-method-on-the-question": "ex.q1._check = ex.q1._check_hidden = lambda answer: 'fine'",
    "hidden-check-on-the-question": "ex.q1._check_hidden = lambda answer: 'fine'",
    "judge-on-the-question": (
        "import types\nfrom ella_lab.exercises._core import CheckResult\n"
        "ex.q1._judge = types.MethodType(lambda self, answer, hidden=False: CheckResult('q1', 'correct', ''), ex.q1)"
    ),
    "points-on-the-question": "ex.q1.points = 100",
    "hint-counter-on-the-class": "type(ex.q1)._next_hint = 5",  # the class's, not the question's own use
}


def sheet03_with_first(cell: str) -> nbformat.NotebookNode:
    """Sheet 03 with three wrong answers, and ``cell`` just before the first of them."""
    nb = demo.student_notebook(ALL_WRONG, [])
    at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "def makespan(" in c.source)
    nb.cells.insert(at, nbformat.v4.new_code_cell(cell))
    return nb


@pytest.mark.timeout(300)
def test_a_real_tamper_is_still_reported_and_earns_nothing(tmp_path):
    notebooks = {kind: sheet03_with_first(cell) for kind, cell in REAL_TAMPERS.items()}
    rows = grade_folder(tmp_path, notebooks, sheet="phase3")
    for kind in REAL_TAMPERS:
        row = rows[kind]
        assert (row["score"], row["max_score"], row["verdicts"]["q1"]) == (0, 3, "incorrect"), (kind, row)
        assert row["status"] == "check by hand" and SUSPECTED in row["reason"], (kind, row)


TOLERANCE = {  # walk09 q1 allows 10 % from K / L = 800: 200 is far outside
    "tolerance-on-the-class": "type(ex.q1).rel = 10.0",
    "tolerance-on-the-question": "ex.q1.rel = 10.0",
}


@pytest.mark.timeout(300)
def test_a_changed_tolerance_is_reported_and_does_not_widen_the_hidden_check(tmp_path):
    notebooks = {kind: walkthrough("walk09", cell, "predicted_rps = 200") for kind, cell in TOLERANCE.items()}
    rows = grade_folder(tmp_path, notebooks, sheet="walk09", sheets_folder=ROOT / "notebooks")
    for kind in TOLERANCE:
        row = rows[kind]
        assert (row["q1"], row["verdicts"]["q1"], row["status"]) == (0, "incorrect", "check by hand"), (kind, row)
        assert SUSPECTED in row["reason"], (kind, row)


def test_a_predict_checks_answer_is_found_when_the_measurement_follows_it():
    """``ex.q1.check(predicted_rps, measured=..., k=8)``: the answer is ``predicted_rps`` (before, no name was
    found in a check call with more arguments, and every predict answer of a walkthrough was "not attempted")."""
    nb = {
        "cells": [
            {"cell_type": "code", "source": "ex.q1.check(predicted_rps, measured=610.0, k=8)\nex.q2.check(fetch)"}
        ]
    }
    assert answer_names(nb) == {"q1": "predicted_rps", "q2": "fetch"}
    assert checked_names(nb) == {"q1": ["predicted_rps"], "q2": ["fetch"]}
    assert answer_names({"cells": [{"cell_type": "code", "source": "ex.q1.check(f(3))\nex.q2.check(x.y)"}]}) == {}


# -- the list of a question's own state is the exercises' -------------------------------------------


def test_every_attribute_a_question_sets_on_itself_after_init_is_known():
    """A question that starts keeping a new record of its use (``self._x = ...`` in a method other than
    ``__init__``) must be named in ``USE_STATE`` (or the seal reports every learner who used it), and decided:
    a hidden check must not read it, as the grader puts it back before judging."""
    import ast
    import inspect
    import pkgutil
    import textwrap

    import ella_lab.exercises as exercises
    from ella_lab.exercises._core import Question
    from ella_lab.grading.judge import USE_STATE

    kept: dict[str, str] = {}
    classes = set()
    for info in pkgutil.iter_modules(exercises.__path__):
        module = importlib.import_module(f"ella_lab.exercises.{info.name}")
        classes |= {
            c for v in vars(module).values() if isinstance(v, type) and issubclass(v, Question) for c in v.__mro__
        }
    for cls in classes - {object}:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
        for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name != "__init__"):
            for node in ast.walk(function):
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                for target in targets:
                    for item in ast.walk(target) if target is not None else ():
                        if isinstance(item, ast.Attribute) and getattr(item.value, "id", "") == "self":
                            kept[item.attr] = f"{cls.__module__}.{cls.__qualname__}.{function.name}"
    assert kept, "the scan found nothing: it no longer sees the exercises' methods"
    unknown = {name: where for name, where in kept.items() if name not in USE_STATE}
    assert not unknown, unknown
    json.dumps(sorted(kept))  # plain names
