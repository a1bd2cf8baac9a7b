"""The student copies: generated from the instructor sources, up to date, runnable, and free of solutions.
The walkthrough: its answer cells are their questions' stubs, and the answer key holds the solutions."""

import importlib
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from ella_lab.exercises import walk01 as ex01
from ella_lab.exercises._core import ATTEMPT_MIME, questions
from ella_lab.tools.student import (
    answer_key,
    answer_name,
    bound_names,
    cell_text,
    check_calls,
    main,
    strip_code,
    strip_markdown,
    student_copy,
    walk_module,
    walk_questions,
)

EXERCISES = Path(__file__).resolve().parents[1] / "notebooks" / "exercises"
INSTRUCTOR = sorted(EXERCISES.glob("*.ipynb"))
NOTEBOOKS = EXERCISES.parent
WALK = sorted(p for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb") if walk_module(p) is not None)
WALK_QUESTIONS = [(path, name) for path in WALK for name in walk_questions(walk_module(path))]


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


# -- the walkthrough: answer cells from their stubs, checks that pass what the stubs bind, the answer key ---------


def test_walkthrough_notebooks_01_to_10_have_their_exercises():
    assert [p.name[:2] for p in WALK] == [f"{n:02d}" for n in range(1, 11)]
    assert len(WALK_QUESTIONS) >= 2 * len(WALK)


def test_walkthrough_answer_cells_are_their_stubs_and_match_the_questions(capsys):
    """The committed walkthrough is in student form, and every question has its answer cell and its check cell."""
    assert main(["--walkthrough", str(NOTEBOOKS), "--check"]) == 0, capsys.readouterr().out


@pytest.mark.parametrize(("path", "name"), WALK_QUESTIONS, ids=lambda v: getattr(v, "stem", v))
def test_stub_and_solution_bind_the_name_that_the_check_cell_passes(path, name):
    """So that the stub runs into "Not attempted" (never a NameError), and the key's solution into "Correct"."""
    question = walk_questions(walk_module(path))[name]
    ((_, argument),) = check_calls(nbformat.read(path, as_version=4))[name]
    assert argument in bound_names(cell_text(question.stub)), (question.stub, argument)
    assert argument in bound_names(cell_text(question.solution_text)), (question.solution_text, argument)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("path", "name"), WALK_QUESTIONS, ids=lambda v: getattr(v, "stem", v))
def test_every_stub_as_run_is_not_attempted(path, name):
    module = walk_module(path)
    question = walk_questions(module)[name]
    ((_, argument),) = check_calls(nbformat.read(path, as_version=4))[name]
    namespace = {"ex": module, "____": getattr(module, "____", None)}
    exec(cell_text(question.stub), namespace)
    verdict = question.judge(namespace[argument])
    assert verdict.status == "not attempted", verdict


def test_bound_names():
    assert bound_names("x = ____  # s") == {"x"}
    assert bound_names("import math\n\ndef f():\n    y = 1\n\nclass C: ...\na, (b, c) = 1, (2, 3)") == {
        "math",
        "f",
        "C",
        "a",
        "b",
        "c",
    }
    assert bound_names("def broken(:") == set()


@pytest.fixture
def walk01(tmp_path):
    """A copy of notebook 01 (its name picks the module walk01), alone in its folder."""
    path = tmp_path / "01-mission.ipynb"
    shutil.copy(NOTEBOOKS / path.name, path)
    return path


def edit(path, change):
    nb = nbformat.read(path, as_version=4)
    change(nb)
    nbformat.write(nb, path)


def answer_cell(nb, name):
    return next(cell for cell in nb.cells if answer_name(cell) == name)


def check_cell(nb, name):
    ((index, _),) = check_calls(nb)[name]
    return nb.cells[index]


def walkthrough(path, capsys, *, check=True):
    status = main(["--walkthrough", str(path.parent), *(["--check"] if check else [])])
    return status, capsys.readouterr().out


def test_walkthrough_check_passes_an_intact_copy_and_writes_nothing(walk01, capsys):
    before = walk01.read_text()
    assert walkthrough(walk01, capsys) == (0, "")
    assert walkthrough(walk01, capsys, check=False) == (0, "")
    assert walk01.read_text() == before


def test_walkthrough_notices_a_stale_stub_and_rewrites_it(walk01, capsys):
    def stale(nb):
        cell = answer_cell(nb, "q1")
        cell.source = "my_prediction = None  # your prediction"
        cell.outputs = [nbformat.v4.new_output("stream", text="old\n")]

    edit(walk01, stale)
    status, out = walkthrough(walk01, capsys)
    assert status == 1 and "(q1): differs from walk01.q1.stub" in out, out
    assert answer_cell(nbformat.read(walk01, as_version=4), "q1").source.startswith("my_prediction = None")  # --check
    status, out = walkthrough(walk01, capsys, check=False)
    assert status == 0 and "set to walk01.q1.stub" in out and "re-execute" in out, out
    nb, original = nbformat.read(walk01, as_version=4), nbformat.read(NOTEBOOKS / walk01.name, as_version=4)
    cell = answer_cell(nb, "q1")
    assert cell.source == cell_text(ex01.q1.stub) and cell.outputs == [] and cell.execution_count is None
    assert answer_cell(nb, "q2") == answer_cell(original, "q2")  # unchanged: its outputs and count stay
    assert check_cell(nb, "q1") == check_cell(original, "q1")
    assert walkthrough(walk01, capsys) == (0, "")


def test_walkthrough_notices_a_live_solution_call_and_comments_it_out(walk01, capsys):
    def live(nb):
        check_cell(nb, "q2").source = check_cell(nb, "q2").source.replace("# ex.q2.solution()", "ex.q2.solution()")

    edit(walk01, live)
    status, out = walkthrough(walk01, capsys)
    assert status == 1 and "a live solution() call" in out, out
    assert walkthrough(walk01, capsys, check=False)[0] == 0
    cell = check_cell(nbformat.read(walk01, as_version=4), "q2")
    assert "\n# ex.q2.solution()" in cell.source and cell.outputs == []
    assert walkthrough(walk01, capsys) == (0, "")


def test_walkthrough_notices_a_missing_answer_cell(walk01, capsys):
    edit(walk01, lambda nb: answer_cell(nb, "q3").metadata.pop("ella_lab"))
    for check in (True, False):  # nothing to write can fix it
        status, out = walkthrough(walk01, capsys, check=check)
        assert status == 1 and "walk01.q3: no answer cell" in out, out


def test_walkthrough_notices_an_answer_cell_for_an_unknown_question(walk01, capsys):
    edit(walk01, lambda nb: answer_cell(nb, "q3").metadata["ella_lab"].update(answer="q9"))
    status, out = walkthrough(walk01, capsys)
    assert status == 1 and "an answer cell for 'q9', which is not a question of walk01" in out, out
    assert "walk01.q3: no answer cell" in out


def test_walkthrough_notices_checks_that_do_not_fit_their_answer_cell(walk01, capsys):
    def misfit(nb):
        cell = check_cell(nb, "q1")
        cell.source = cell.source.replace("ex.q1.check(my_prediction)", "ex.q1.check(my_guess)")
        q2 = check_cell(nb, "q2")
        nb.cells.remove(q2)
        answer_cell(nb, "q2").source += "\n\n\n" + q2.source  # the answer and its check in one cell
        nb.cells.append(nbformat.v4.new_code_cell("ex.q3.check(my_failures)"))  # a second check
        setup = next(cell for cell in nb.cells if "walk01 as ex" in cell.source)
        setup.source = setup.source.replace("walk01 as ex", "walk01 as walk")

    edit(walk01, misfit)
    status, out = walkthrough(walk01, capsys)
    assert status == 1, out
    assert "ex.q1.check(my_guess) does not pass what walk01.q1.stub binds (my_prediction)" in out
    assert "the answer cell of q2 also checks it" in out
    assert "walk01.q3: 2 check cells" in out
    assert "no `from ella_lab.exercises import walk01 as ex`" in out


def test_the_answer_key_holds_the_solutions(tmp_path, capsys):
    key = tmp_path / "key"
    assert main(["--walkthrough", str(NOTEBOOKS), "--key", str(key)]) == 0, capsys.readouterr().out
    assert sorted(p.name for p in key.glob("*.ipynb")) == [p.name for p in WALK]
    for path in WALK:
        nb, original = nbformat.read(key / path.name, as_version=4), nbformat.read(path, as_version=4)
        assert "Answer key" in nb.cells[0].source and len(nb.cells) == len(original.cells) + 1
        questions = walk_questions(walk_module(path))
        for cell, before in zip(nb.cells[1:], original.cells, strict=True):
            name = answer_name(cell)
            if name is None:
                assert cell.source == before.source
            else:
                assert cell.source == cell_text(questions[name].solution_text) and cell.outputs == []


def test_no_key_while_the_walkthrough_has_a_problem(walk01, capsys):
    edit(walk01, lambda nb: answer_cell(nb, "q3").metadata.pop("ella_lab"))
    key = walk01.parent / "key"
    assert main(["--walkthrough", str(walk01.parent), "--key", str(key)]) == 1
    assert "no key written" in capsys.readouterr().out and not key.exists()


def test_key_verdicts_count_the_correct_checks(tmp_path, capsys):
    nb = answer_key(NOTEBOOKS / "01-mission.ipynb")
    said = {"q1": "q1 ✓ Correct: 0.15 s", "q2": "q2 ✓ Correct: in order", "q3": "q3 ✗ Incorrect: 7 of 20?"}
    for name, line in said.items():
        check_cell(nb, name).outputs = [nbformat.v4.new_output("stream", text=line + "\n")]
    nbformat.write(nb, tmp_path / "01-mission.ipynb")
    assert main(["--verdicts", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "01-mission.ipynb: 2 of 3 checks correct" in out and "q3: q3 ✗ Incorrect: 7 of 20?" in out, out
    check_cell(nb, "q3").outputs = [nbformat.v4.new_output("stream", text="q3 ✓ Correct: 6\n")]
    nbformat.write(nb, tmp_path / "01-mission.ipynb")
    assert main(["--verdicts", str(tmp_path)]) == 0
    assert capsys.readouterr().out.endswith("3 of 3 checks correct\n")


def test_the_command_line_needs_something_to_do():
    for argv in ([], ["--key", "key"]):
        with pytest.raises(SystemExit):
            main(argv)
