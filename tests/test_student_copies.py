"""The student copies: generated from the instructor sources, up to date, runnable, and free of solutions."""

import importlib
import re
from pathlib import Path

import nbformat
import pytest

from ella_lab.exercises._core import ATTEMPT_MIME, questions
from ella_lab.tools.student import main, strip_code, strip_markdown, student_copy

EXERCISES = Path(__file__).resolve().parents[1] / "notebooks" / "exercises"
INSTRUCTOR = sorted(EXERCISES.glob("*.ipynb"))


def test_there_is_a_sheet_for_every_phase_with_its_students_copy():
    assert [p.name[:4] for p in INSTRUCTOR] == [f"ex0{n}" for n in range(1, 10)]
    assert [p.name for p in sorted((EXERCISES / "student").glob("*.ipynb"))] == [p.name for p in INSTRUCTOR]
    assert (EXERCISES / "README.md").exists()


def test_student_copies_are_up_to_date(capsys):
    assert main([str(EXERCISES), "--check"]) == 0, capsys.readouterr().out


def test_check_mode_notices_a_stale_copy(tmp_path, capsys):
    source = tmp_path / "sheet.ipynb"
    source.write_text((INSTRUCTOR[0]).read_text())
    assert main([str(tmp_path), "--check"]) == 1  # no copy yet
    assert main([str(tmp_path)]) == 0 and (tmp_path / "student" / "sheet.ipynb").exists()
    assert main([str(tmp_path), "--check"]) == 0
    (tmp_path / "student" / "sheet.ipynb").write_text("{}")
    assert main([str(tmp_path), "--check"]) == 1
    assert "out of date" in capsys.readouterr().out


def test_strip_code_comments_out_live_solution_calls():
    assert strip_code("# Compare:\nex.q4.solution()") == "# Compare:\n# ex.q4.solution()"
    assert strip_code("    ex.q1.solution()  # see") == "    # ex.q1.solution()  # see"
    assert strip_code("# ex.q1.solution()\nprint(ex.q1.solution)") == "# ex.q1.solution()\nprint(ex.q1.solution)"


def test_strip_code_replaces_solutions_with_stubs():
    source = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\nprint(1)"
    assert strip_code(source) == "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError\n\nprint(1)"
    value = "### BEGIN SOLUTION: answer = None\nanswer = 42\n### END SOLUTION"
    assert strip_code(value) == "# YOUR CODE HERE\nanswer = None"
    with pytest.raises(ValueError, match="no ### END SOLUTION"):
        strip_code("### BEGIN SOLUTION\nx = 1")


def test_strip_markdown_hides_model_answers_and_fixes_links():
    text = (
        "[back](../03-x.ipynb) and [web](https://example.org)\n<!-- BEGIN SOLUTION -->\nsecret\n<!-- END SOLUTION -->"
    )
    assert strip_markdown(text) == "[back](../../03-x.ipynb) and [web](https://example.org)\n*Your answer here.*"


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_no_solution_reaches_the_student(path):
    instructor = nbformat.read(path, as_version=4)
    copy = student_copy(path)
    student = "\n".join(c.source for c in nbformat.reads(copy, as_version=4).cells if c.cell_type == "code")
    solutions = [
        line.strip()
        for cell in instructor.cells
        for block in re.findall(r"### BEGIN SOLUTION.*?\n(.*?)### END SOLUTION", cell.source, re.S)
        for line in block.splitlines()
        if len(line.strip()) >= 12  # distinctive lines, not "return" or "try:"
    ]
    assert solutions
    for line in solutions:
        assert line not in student, line
    assert "BEGIN SOLUTION" not in copy and "<!-- END SOLUTION -->" not in copy


def output_lines(cell):
    """The text lines a code cell showed: printed (stream) or displayed (text/plain)."""
    for output in cell.outputs:
        yield from (output.get("text") or output.get("data", {}).get("text/plain", "")).splitlines()


@pytest.mark.timeout(180)
@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_student_copy_runs_shows_no_solution_and_every_check_says_not_attempted(path, tmp_path):
    from nbclient import NotebookClient

    module = importlib.import_module(f"ella_lab.exercises.phase{path.name[3]}")
    checked = [q.name for q in questions(module) if q.checked]
    nb = nbformat.reads(student_copy(path), as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(EXERCISES / "student")}}
    ).execute()
    lines = [line for cell in nb.cells if cell.cell_type == "code" for line in output_lines(cell)]
    verdicts = [line for line in lines if re.match(r"q\d ", line)]
    assert [v.split()[0] for v in verdicts] == checked, lines
    assert all("… Not attempted yet" in line for line in verdicts), verdicts
    assert not any("solution" in line for line in lines), lines  # Run All shows no solution
    records = [
        output["data"][ATTEMPT_MIME]
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if ATTEMPT_MIME in output.get("data", {})
    ]
    assert [(r["question"], r["action"], r["verdict"]) for r in records] == [
        (name, "check", "not attempted") for name in checked
    ]


@pytest.mark.parametrize("path", sorted((EXERCISES / "student").glob("*.ipynb")), ids=lambda p: p.stem)
def test_student_links_resolve(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        for target in re.findall(r"\]\(([^)#:]+)\)", cell.source):
            assert (path.parent / target).exists(), target


@pytest.mark.parametrize("path", INSTRUCTOR, ids=lambda p: p.stem)
def test_saved_instructor_sheets_hold_the_attempt_records(path):
    """The records a grader reads are in the saved .ipynb: one correct check per checked question."""
    module = importlib.import_module(f"ella_lab.exercises.phase{path.name[3]}")
    nb = nbformat.read(path, as_version=4)
    records = [
        (output["data"][ATTEMPT_MIME], output["metadata"][ATTEMPT_MIME])
        for cell in nb.cells
        if cell.cell_type == "code"
        for output in cell.outputs
        if ATTEMPT_MIME in output.get("data", {})
    ]
    checks = [(data["question"], data["verdict"], data["checks"]) for data, _ in records if data["action"] == "check"]
    assert checks == [(q.name, "correct", 1) for q in questions(module) if q.checked]
    assert all(meta["time"].endswith("+00:00") for _, meta in records)
    assert all(data["sheet"] == module.__name__.rsplit(".", 1)[-1] for data, _ in records)
