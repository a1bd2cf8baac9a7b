"""The grader: a generated demo class graded end to end, and the parts that read what students hand in."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from ella_lab.grading import grade_submissions, write_outputs
from ella_lab.grading.collect import answer_names, attempt_log, collect, detect_sheet

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "tests" / "fixtures" / "demo_class"
BUILDER = ROOT / "tests" / "fixtures" / "make_demo_class.py"

# student: (q1, q2, q3 points, status, reason)
EXPECTED = {
    "ada": (1, 1, 1, "graded", ""),
    "ben": (0, 0, 0, "graded", ""),
    "cyd": (0, 1, 0, "graded", ""),
    "dee": (1, 0, 1, "graded", ""),
    "eve": (1, 0, 1, "graded", ""),
    "fay": (0, 1, 1, "graded", ""),
    "gus": (1, 1, 1, "graded", "code cell 3 ran past 8 s and was interrupted"),
    # hal's os._exit(1) in code cell 5 ends the notebook: q1 and q2, judged before it, keep their points
    "hal": (
        1,
        1,
        0,
        "error",
        "the notebook ended its own process (exit status 1, os._exit or a crash) in code cell 5 (not judged: q3)",
    ),
    "ivy": (
        0,
        0,
        0,
        "not a notebook",
        "not valid JSON (JSONDecodeError: Invalid control character at: line 1 column 58 (char 57))",
    ),
    # jon filled the memory (cell 3) and holds it: q1, judged before, keeps its point; the checks after it may
    # fail for lack of memory (then the row is "error"); on a busy machine the cell may reach its deadline first
    "jon": (
        1,
        None,
        None,
        ("graded", "error"),
        (
            "code cell 3 ran out of memory (limit 2048 MiB)",
            "code cell 3 ran past 8 s and was interrupted",
            "code cell 3 ran out of memory (limit 2048 MiB); the check of q2, q3 failed (see answers.csv)",
        ),
    ),
    # kim's cheat sets a check on the question objects themselves (after the answers): put back and reported
    "kim": (
        0,
        0,
        1,
        "check by hand",
        "the notebook changed or reached for what the checks rely on (phase3.q1.check (added); phase3.q2._check "
        "(added)): each answer was judged with the originals put back; read it before you use its points",
    ),
    "lee": (0, 0, 0, "wrong sheet", "this is the sheet phase4, not phase3"),
    "mia": (0, 0, 0, "not a notebook", "the file is empty"),
    "ned": (1, 1, 1, "graded", ""),
    "ola": (1, 1, 1, "graded", ""),
    # pat's hang ignores Ctrl-C: the notebook is stopped there; q1, judged before it, keeps its point
    "pat": (
        1,
        0,
        0,
        "timed out",
        "code cell 3 ran past 8 s and ignored the interrupt; the notebook was stopped there (not judged: q2, q3)",
    ),
}


# kim's cheat changes no grade (the seal puts the checks back), and the teacher is told where it is
KIM_FLAGS = "sets ex.q1.check (code cell 5); sets ex.q2._check (code cell 5)"
LOOK_AT = {"kim": KIM_FLAGS, "ben": "nothing attempted: every checked answer is still the starter code"}


def test_demo_class_is_up_to_date():
    done = subprocess.run([sys.executable, str(BUILDER), "--check"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, f"run `python {BUILDER.relative_to(ROOT)}`:\n{done.stdout}"


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("grades")
    grades = grade_submissions([DEMO], sheet="phase3", jobs=2, timeout=25, cell_timeout=8, memory_mb=2048)
    return grades, write_outputs(grades, out)


@pytest.mark.timeout(240)
def test_demo_class_table(graded):
    grades, _ = graded
    table = grades.grades_frame().set_index("student")
    assert sorted(table.index) == sorted(EXPECTED)
    for student, (q1, q2, q3, status, reason) in EXPECTED.items():
        row = table.loc[student]
        expected = (q1, q2, q3)
        got = tuple(None if e is None else p for e, p in zip(expected, (row.q1, row.q2, row.q3), strict=True))
        assert got == expected, f"{student}: {row.to_dict()}"
        assert row.max_score == 3, student
        if None not in expected:
            assert row.score == q1 + q2 + q3, student
        assert row.status in ((status,) if isinstance(status, str) else status), student
        assert row.reason in ((reason,) if isinstance(reason, str) else reason), student
        assert row.look_at == LOOK_AT.get(student, ""), student
    manual = [c for c in table.columns if "manual" in c]
    assert manual == ["q4 (manual, /1)"] and (table[manual[0]] == "").all()  # left for the teacher


def test_hardcoded_answer_is_caught_by_hidden_cases(graded):
    """fay's makespan returns the visible cases from a dict: the visible check says correct, the grade says no."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_demo_class", BUILDER)
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    namespace = {"math": __import__("math")}
    exec(builder.MAKESPAN_HARDCODED, namespace)
    from ella_lab.exercises import phase3

    assert phase3.q1.judge(namespace["makespan"]).status == "correct"  # fits every visible case
    assert phase3.q1.hidden_check(namespace["makespan"]).status == "incorrect"
    grades, _ = graded
    answers = grades.answers_frame().set_index(["student", "question"])
    assert answers.loc[("fay", "q1"), "verdict"] == "incorrect"


def test_tampered_checks_do_not_count(graded):
    """kim replaced ex.q1.check and ex.q2._check; the grade re-judges her answers with the real checks."""
    grades, _ = graded
    answers = grades.answers_frame().set_index(["student", "question"])
    assert answers.loc[("kim", "q1"), "verdict"] == "incorrect"
    assert "N·L/K" in answers.loc[("kim", "q1"), "message"]
    assert answers.loc[("kim", "q2"), "verdict"] == "incorrect"


def test_outputs_are_written_and_self_contained(graded):
    grades, paths = graded
    for name in ("grades", "answers", "report", "pass_rate", "totals", "help_used"):
        assert paths[name].exists() and paths[name].stat().st_size > 0, name
    html = paths["report"].read_text()
    assert "data:image/png;base64," in html and "<script" not in html and "http" not in html
    assert "What to re-teach" in html and "N·L/K" in html  # the most common wrong answers, by message
    long = grades.answers_frame()
    assert set(long.verdict) <= {"correct", "incorrect", "not attempted", "error", "timeout", "manual"}
    assert len(long) == 4 * len(EXPECTED)
    # earned is what the verdict gives, max_points what the question is worth; blank answers are not attempted
    assert (long.earned == long.max_points.where(long.verdict == "correct", 0.0)).all()
    ben = long[(long.student == "ben") & (long.verdict != "manual")]
    assert list(ben.attempted) == [False, False, False] and list(ben.earned) == [0.0, 0.0, 0.0]
    # the report's numbers are the CSV's: per question, the judged answers and the correct ones
    import pandas as pd

    saved = pd.read_csv(paths["answers"], keep_default_na=False)
    judged = saved[~saved.message.str.startswith("not graded:") & (saved.verdict != "manual")]
    assert set(judged.student) == {
        "ada",
        "ben",
        "cyd",
        "dee",
        "eve",
        "fay",
        "gus",
        "hal",
        "jon",
        "kim",
        "ned",
        "ola",
        "pat",
    }
    # pass rates: attempted answers, judged by a check that did not break, of rows not sent to check by hand
    attempted = judged[
        (judged.verdict != "not attempted")
        & ~judged.message.str.startswith("internal error in the check")
        & (judged.status != "check by hand")
    ]
    for question, group in attempted.groupby("question"):
        correct = int((group.verdict == "correct").sum())
        rate = round(100 * correct / len(group))
        assert f"<tr><td>{question}</td><td>{len(group)}</td><td>{correct}</td><td>{rate} %</td>" in html, question
        wrong = int(group.verdict.isin(["incorrect", "error", "timeout"]).sum())
        assert f"<h3>{question}: {wrong} wrong</h3>" in html, question
    assert "To look at" in html and "sets ex.q1.check (code cell 5)" in html
    # the totals leave out the notebooks with no answer judged, and name them
    assert (
        "Not in the totals (3: no answer of theirs was judged): "
        "ivy (not a notebook), lee (wrong sheet), mia (not a notebook)" in html
    )


@pytest.mark.timeout(120)
def test_grading_twice_gives_the_same_tables(tmp_path):
    subset = tmp_path / "subset"
    subset.mkdir()
    for name in ("ada-ex03.ipynb", "cyd-ex03.ipynb", "mia-ex03.ipynb"):
        (subset / name).write_bytes((DEMO / name).read_bytes())
    tables = []
    for run in ("a", "b"):
        paths = write_outputs(grade_submissions([subset], sheet="phase3", jobs=2), tmp_path / run)
        tables.append((paths["grades"].read_text(), paths["answers"].read_text()))
    assert tables[0] == tables[1]


def test_zip_of_submissions_is_unpacked_safely(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(DEMO / "ada-ex03.ipynb", "alice/ex03-threaded-router.ipynb")
        z.writestr("../../evil-ex03.ipynb", "{}")  # a path that would land outside the folder
        z.writestr("notes.txt", "not a notebook, not collected")
    subs = collect([archive], tmp_path, ["ex03-threaded-router"])
    assert sorted(s.student for s in subs) == ["alice", "evil"]
    assert all(tmp_path in s.path.parents for s in subs)
    assert [s.problem for s in subs if s.student == "evil"] == ["JSON, but not a Jupyter notebook (no list of cells)"]


def test_attempt_log_reads_checks_hints_and_solutions():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("ex.q1.check(makespan)\nex.q1.hint()\nex.q2.solution()")
    cell.outputs = [
        nbformat.v4.new_output("stream", text="q1 ✗ Incorrect: no\nq1 hint 1/3: think\nq2 solution:\ndef f(): ...\n")
    ]
    nb.cells = [nbformat.v4.new_code_cell("from ella_lab.exercises import phase3 as ex"), cell]
    data = json.loads(nbformat.writes(nb))
    assert detect_sheet(data) == "phase3"
    assert answer_names(data) == {"q1": "makespan"}
    log = attempt_log(data)
    assert log["q1"] == {"checks": 1, "correct_checks": 0, "hints": 1, "solutions": 0}
    assert log["q2"]["solutions"] == 1


def test_cli_answers_bad_input_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "ella_lab", "grade", str(tmp_path / "missing"), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "no such file or folder" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    with pytest.raises(ValueError, match="sheet must be one of"):
        grade_submissions([DEMO], sheet="phase99")
    with pytest.raises(ValueError, match="jobs"):
        grade_submissions([DEMO], jobs=0)
