"""The grader finds every question by the name its sheet gives it, not only ``q1``, ``q2``, ...

walk07 names its questions ``storm``, ``hedge`` and ``breaker`` (``ex.storm.check(calls_per_request)``).
The grader's patterns for check calls, verdict lines, hint lines and solution lines were ``q\\d+``: on
notebook 07 ``answer_names`` gave ``{}`` (seen), so a class's notebook 07 was graded as if nothing was
answered, and its checks, hints and solutions were not logged. The names now come from the sheet module.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from ella_lab.grading import grade_submissions
from ella_lab.grading.collect import answer_names, attempt_log, checked_names, question_names
from ella_lab.tools.student import answer_key

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK07 = ROOT / "notebooks" / "07-resilience-patterns.ipynb"
SUSPECTED = "the notebook changed or reached for what the checks rely on"
ANSWERS07 = {"storm": "calls_per_request", "hedge": "extra_calls_at_p95", "breaker": "Breaker"}


def test_every_sheets_questions_are_named_by_the_sheet():
    assert question_names("walk07") == ("storm", "hedge", "breaker")  # the module's order, the notebook's
    assert question_names("phase3") == ("q1", "q2", "q3", "q4")
    assert question_names("walk99") == () and question_names(None) == ()


def test_notebook_07s_answers_are_found():
    nb = json.loads(NOTEBOOK07.read_text())
    assert answer_names(nb) == ANSWERS07
    assert checked_names(nb) == {question: [name] for question, name in ANSWERS07.items()}


def test_a_qn_walkthrough_still_finds_every_answer():
    nb = json.loads((ROOT / "notebooks" / "03-threaded-router.ipynb").read_text())
    assert answer_names(nb) == {"q1": "my_prediction", "q2": "worker", "q3": "tally", "q4": "transfer"}


def code_notebook(*cells: str) -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    return json.loads(nbformat.writes(nb))


def test_a_check_on_an_imported_question_is_found_and_other_checks_are_not():
    nb = code_notebook(
        "from ella_lab.exercises import walk07 as ex\nfrom ella_lab.exercises.walk07 import storm",
        "storm.check(my_guess)\nvalidator.check(config)\nex.hedge.check(share, measured=0.05)",
    )
    assert answer_names(nb) == {"storm": "my_guess", "hedge": "share"}  # validator is no question of walk07
    assert answer_names(nb, "phase3") == {}  # the sheet given: only its own questions


def with_output(nb: nbformat.NotebookNode, at: int, text: str) -> None:
    """A walkthrough's saved output: its checks, hints and solutions print plain lines (no structured record)."""
    nb.cells[at].outputs = [nbformat.v4.new_output("stream", text=text)]


STORM_OUTPUT = (
    "storm ✗ Incorrect: not yet\nstorm hint 1/3: count the calls\nstorm ✓ Correct: well done.\n"
    "storm solution:\ncalls_per_request = 1.96\nhedge … Not attempted yet: give a fraction\n"
    "q1 ✓ Correct: no question of walk07\n"
)


def test_the_attempt_log_of_a_walkthrough_counts_its_named_questions():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("from ella_lab.exercises import walk07 as ex"),
        nbformat.v4.new_code_cell("ex.storm.check(calls_per_request)\nex.storm.hint()\nex.storm.solution()"),
    ]
    with_output(nb, 1, STORM_OUTPUT)
    log = attempt_log(json.loads(nbformat.writes(nb)))
    assert log == {
        "storm": {"checks": 2, "correct_checks": 1, "hints": 1, "solutions": 1},
        "hedge": {"checks": 1, "correct_checks": 0, "hints": 0, "solutions": 0},
    }


def notebook07(**answers: str) -> nbformat.NotebookNode:
    """Notebook 07 as ``make key`` writes it (every model answer), cut to its setup, answer and check cells;
    ``answers``: an answer cell's source put in place of the model's (``storm="calls_per_request = 2.5"``)."""
    key = answer_key(NOTEBOOK07)
    setup = next(c for c in key.cells if c.cell_type == "code" and "walk07 as ex" in c.source)
    cells = [setup]
    for cell in key.cells:
        question = cell.get("metadata", {}).get("ella_lab", {}).get("answer")
        if question:
            if question in answers:
                cell.source = answers[question]
            cells.append(cell)
    checks = (
        "ex.storm.check(calls_per_request)\nex.storm.hint()\nex.storm.solution()",
        "ex.hedge.check(extra_calls_at_p95, measured=0.05)\nex.hedge.hint()",
        "ex.breaker.check(Breaker)\nex.breaker.solution()",
    )
    key.cells = cells + [nbformat.v4.new_code_cell(c) for c in checks]
    with_output(key, len(cells), STORM_OUTPUT)
    return key


@pytest.mark.timeout(300)
def test_notebook_07_with_the_model_answers_earns_full_marks_and_a_wrong_one_earns_nothing(tmp_path):
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "right.ipynb").write_text(nbformat.writes(notebook07()))
    (folder / "wrong.ipynb").write_text(nbformat.writes(notebook07(storm="calls_per_request = 2.5")))
    grades = grade_submissions(
        [folder], sheet="walk07", sheets_folder=ROOT / "notebooks", jobs=2, timeout=240, cell_timeout=120
    )
    frame = grades.grades_frame()
    assert list(frame.columns[3:6]) == ["storm", "hedge", "breaker"]  # the notebook's order
    rows = {row["student"]: row for row in frame.to_dict("records")}
    answers = {(a["student"], a["question"]): a for a in grades.answers_frame().to_dict("records")}
    from ella_lab.exercises import walk07

    points = {name: getattr(walk07, name).points for name in ANSWERS07}
    right, wrong = rows["right"], rows["wrong"]
    assert {q: right[q] for q in ANSWERS07} == points, right
    assert (right["score"], right["max_score"]) == (sum(points.values()),) * 2, right
    assert right["status"] == "graded" and SUSPECTED not in right["reason"], right
    assert {q: wrong[q] for q in ANSWERS07} == {**points, "storm": 0}, wrong
    assert answers[("wrong", "storm")]["verdict"] == "incorrect", answers[("wrong", "storm")]
    logged = answers[("right", "storm")]
    assert (logged["checks_seen"], logged["hints_used"], logged["solution_shown"]) == (2, 1, True), logged


# -- what a real notebook 07 does that is no tampering (each seen making the row "check by hand") -----------

IMPORT_PROBE = r"""
import importlib.machinery, sys
from ella_lab.grading.judge import imports_the_file
seen = []
def hook(event, args):
    if event == "compile" and len(args) > 1 and str(args[1]).endswith("probe_mod.py"):
        seen.append(imports_the_file(sys._getframe(1), args[1]))
sys.addaudithook(hook)
sys.path.insert(0, sys.argv[1])
import probe_mod  # no cached bytecode (-B): the import system compiles the file
path = probe_mod.__file__
compile("x = 2", path, "exec")  # code of the notebook's own, under the file's name
class Forged(importlib.machinery.SourceFileLoader):
    def get_data(self, p):
        return b"x = 3"
Forged("probe_mod2", path).get_code("probe_mod2")
print(seen)
"""


def test_an_import_compiling_a_library_file_is_told_from_code_compiled_under_its_name(tmp_path):
    import subprocess
    import sys

    (tmp_path / "probe_mod.py").write_text("x = 1\n")
    done = subprocess.run(
        [sys.executable, "-B", "-c", IMPORT_PROBE, str(tmp_path)], capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "[True, False, False]", done.stderr


def test_equal_plain_data_rebuilt_is_no_change_and_other_data_is():
    from ella_lab.grading.judge import same_plain

    assert same_plain(("UTC", "UTC"), ("UTC", "UTC")) and same_plain(1.5, 1.5)
    assert not same_plain(("UTC", "CET"), ("UTC", "UTC")) and not same_plain(1, 1.0) and not same_plain(True, 1)

    class Equal:
        def __eq__(self, other):
            return True

    assert not same_plain((Equal(),), ("UTC",)) and not same_plain([1], [1])


@pytest.mark.timeout(300)
def test_a_walkthroughs_own_use_of_the_library_is_not_suspected(tmp_path):
    """Notebook 07's setup and cells: library modules imported after the seal (``ella_lab.experiments``: also
    by ex.storm's own check), ``import pandas`` (it rebuilds ``time.tzname``), ``claims.calibrate()`` (its cache
    ``claims._last``): each made the row "check by hand" (seen), every answer right."""
    setup = (
        "from ella_lab.exercises import walk07 as ex\nfrom ella_lab.experiments import paced, request_ids\n"
        "import pandas as pd\nfrom ella_lab.claims import calibrate"
    )
    cells = (
        setup,
        "calibrate(fresh=True)",
        "calls_per_request = 1 + 0.6 + 0.6**2",
        "ex.storm.check(calls_per_request)",
    )
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    (tmp_path / "own-use.ipynb").write_text(nbformat.writes(nb))
    grades = grade_submissions([tmp_path], sheet="walk07", sheets_folder=ROOT / "notebooks", jobs=1, timeout=200)
    (row,) = grades.grades_frame().to_dict("records")
    assert (row["storm"], row["status"], row["reason"], row["look_at"]) == (1, "graded", "", ""), row
