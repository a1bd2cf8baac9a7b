"""What fits a teacher's tools (issue 20, item 5): nbgrader's collected layout, and gradebook import files."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from ella_lab.grading import Grades
from ella_lab.grading.collect import collect
from ella_lab.grading.report import write_gradebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = {
    "cells": [{"cell_type": "code", "source": "from ella_lab.exercises import phase3 as ex", "outputs": []}],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def test_nbgraders_collected_layout_names_the_student_by_folder(tmp_path):
    """submitted/<student>/<assignment>/<notebook>: the old rule named every student after the assignment."""
    for student in ("alice", "bob"):
        folder = tmp_path / "course" / "submitted" / student / "ps3"
        folder.mkdir(parents=True)
        (folder / "ex03-threaded-router.ipynb").write_text(json.dumps(NOTEBOOK))
        (folder / "timestamp.txt").write_text("2026-12-07 10:00:00")
    work = tmp_path / "work"
    work.mkdir()
    skipped: list[str] = []
    for given in (tmp_path / "course" / "submitted", tmp_path / "course"):
        subs = collect([given], work, ["ex03-threaded-router"], skipped)
        assert sorted(s.student for s in subs) == ["alice", "bob"], given
    assert all(name.endswith("timestamp.txt") for name in skipped)


def _row(student: str, score: float, status: str = "graded", sheet: str = "phase3", file: str | None = None) -> dict:
    questions = [
        {"question": f"q{i}", "points": 1.0, "status": "correct" if i <= score else "incorrect", "message": ""}
        for i in (1, 2, 3)
    ]
    return {
        "student": student,
        "sheet": sheet,
        "file": file or f"{student}.ipynb",
        "status": status,
        "reason": "",
        "attempts": {},
        "flags": [],
        "questions": questions,
    }


def _read(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.reader(stream))


def test_canvas_and_moodle_files_have_the_documented_columns(tmp_path):
    grades = Grades(
        [
            _row("ann", 3),
            _row("bob", 1),
            _row("cat", 3, status="check by hand"),  # not imported as it is: the teacher looks first
            _row("dan", 2, file="dan-1.ipynb"),
            _row("dan", 3, file="dan-2.ipynb"),  # two submissions: the teacher picks
            _row("=evil", 3),
        ]
    )
    canvas = _read(write_gradebook(grades, tmp_path, "canvas"))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "phase3"]
    assert canvas[1] == ["Points Possible", "", "", "", "", "3"]
    by_student = {row[3]: row[5] for row in canvas[2:]}
    assert by_student == {"ann": "3", "bob": "1", "cat": "", "dan": "", "'=evil": "3"}
    moodle = _read(write_gradebook(grades, tmp_path, "moodle"))
    assert moodle[0] == ["username", "phase3", "phase3 feedback"]
    rows = {row[0]: row[1:] for row in moodle[1:]}
    assert rows["ann"][0] == "3" and rows["cat"][0] == "" and rows["cat"][1].startswith("check by hand")
    assert rows["dan"][1].startswith("two submissions")
    with pytest.raises(ValueError, match="gradebook must be one of"):
        write_gradebook(grades, tmp_path, "blackboard")


@pytest.mark.timeout(180)
def test_the_cli_grades_an_nbgrader_folder_and_writes_the_gradebook(tmp_path):
    spec = importlib.util.spec_from_file_location("make_demo_class", ROOT / "tests" / "fixtures" / "make_demo_class.py")
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)
    folder = tmp_path / "submitted" / "alice" / "ps3"
    folder.mkdir(parents=True)
    (folder / "ex03-threaded-router.ipynb").write_text(nbformat.writes(demo.student_notebook(demo.ALL_RIGHT, [])))
    out = tmp_path / "out"
    command = [sys.executable, "-m", "ella_lab", "grade", str(tmp_path / "submitted"), "--out", str(out)]
    done = subprocess.run(
        [*command, "--sheet", "phase3", "--jobs", "1", "--gradebook", "moodle"],
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert _read(out / "gradebook-moodle.csv")[1][:2] == ["alice", "3"]


def test_pass_rates_leave_out_rows_to_check_by_hand_and_unjudged_answers():
    """A check-by-hand row's 'correct' was counted in the pass rates, and an ungraded notebook's zeros in them."""
    from ella_lab.grading.report import pass_rates

    grades = Grades(
        [
            _row("ann", 3),
            _row("bob", 1),
            _row("cat", 3, status="check by hand"),  # its verdicts may be the notebook's doing
        ]
    )
    unjudged = _row("dan", 0, status="error")
    for q in unjudged["questions"]:
        q["message"] = "not graded: the notebook stopped"
    grades.results.append(unjudged)
    rates = pass_rates(grades.answers_frame())
    assert list(rates.judged) == [2, 2, 2] and list(rates.correct) == [2, 1, 1]
    answers = grades.answers_frame().set_index(["student", "question"])
    assert (answers.loc[("bob", "q2"), "earned"], answers.loc[("bob", "q2"), "max_points"]) == (0.0, 1.0)


def test_pass_rates_and_what_to_reteach_leave_out_blank_answers_and_broken_checks():
    """A blank answer (the starter code) counted as a judged wrong one, and a check that broke under a memory hog
    ("can't start new thread") was listed among the class's wrong answers, as if a misconception."""
    from ella_lab.grading.report import _html, pass_rates

    grades = Grades([_row("ann", 3), _row("bob", 1), _row("cat", 1), _row("dan", 1)])
    for q in grades.results[2]["questions"][1:]:
        q.update(status="not attempted", message="give a function, then run the check again.")
    for q in grades.results[3]["questions"][1:]:
        q.update(status="error", message="internal error in the check, not your answer: RuntimeError(); tell us.")
    rates = pass_rates(grades.answers_frame())
    assert list(rates.judged) == [4, 2, 2] and list(rates.correct) == [4, 1, 1]
    page = _html(grades.grades_frame(), grades.answers_frame(), {}, [])
    assert "internal error in the check" not in page.split("What to re-teach")[1].split("<h2>Grades")[0]
