"""The grader under attack: what careless and cheeky students hand in, and what a teacher does on deadline night.

Each test builds a few submissions of sheet 03 (the demo class's builder, with extra cells) and grades
them with short limits. A kernel-running test takes about 10 s; each one grades as few notebooks as it can.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from exercise_answers import reference

from ella_lab.grading import grade_submissions, write_outputs
from ella_lab.grading.collect import collect, detect_sheet

MARK = "@@ella-lab-grade@@"  # the old grader's verdict marker: printing it is nothing now

ROOT = Path(__file__).resolve().parents[1]
BUILDER = ROOT / "tests" / "fixtures" / "make_demo_class.py"

_spec = importlib.util.spec_from_file_location("make_demo_class", BUILDER)
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)

ALL_RIGHT = demo.ALL_RIGHT
ALL_WRONG = {"makespan": demo.MAKESPAN_NLK, "get_once": demo.GET_ONCE_NO_LOCK, "workers_needed": demo.NEEDED_ROUND}
SHEET_NAMES = ["ex03-threaded-router", "ex04-fallback-recovery"]
LIMITS = {"sheet": "phase3", "timeout": 60, "cell_timeout": 10, "memory_mb": 2048}


def hand_in(folder: Path, student: str, answers: dict[str, str], *cells: str, after: str = "get_once") -> Path:
    """``student``'s sheet 03 with ``answers`` written and ``cells`` inserted after the answer ``after``."""
    nb = demo.student_notebook(answers, [(after, source) for source in cells])
    path = folder / f"{student}-ex03.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb))
    return path


def grade_command(folder: Path, out: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "ella_lab", "grade", str(folder), "--out", str(out), "--sheet", "phase3", *options]


def rows(grades) -> dict[str, dict]:
    return {row["student"]: row for row in grades.grades_frame().to_dict("records")}


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:  # a zombie is dead for our purpose
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def kill_if_alive(pid_file: Path) -> None:
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text())
        if pid > 1 and pid != os.getpid():  # a pid seen inside a PID namespace is not ours to kill
            os.kill(pid, signal.SIGKILL)


@pytest.fixture
def no_namespaces(monkeypatch):
    """Grade without PID namespaces, so that a pid the notebook writes down is a pid of this machine."""
    monkeypatch.setenv("ELLA_LAB_GRADER_NAMESPACES", "0")


FAKE_VERDICTS = json.dumps(
    {
        "status": "graded",
        "sheet": "phase3",
        "student_id": None,
        "questions": [
            {"question": q, "points": 100.0, "checked": True, "status": "correct", "message": "trust me"}
            for q in ("q1", "q2", "q3")
        ],
    }
)


# -- the grader's own channel: what the student's process writes is never a verdict --------------------


@pytest.mark.timeout(120)
def test_verdicts_forged_on_the_graders_stdout_are_not_believed_and_crash_nothing(tmp_path):
    """The kernel inherited the grading process's stdout: a line after MARK, then killing that process, was a grade.

    Old code: mallory got 300 points out of 3, and a garbled line (trudy) crashed the whole class's run.
    """
    forge = (
        "import os, signal\n"
        "os.write(1, ({mark!r} + {line!r} + '\\n').encode())\n"
        "os.kill(os.getppid(), signal.SIGKILL)\n"
    )
    hand_in(tmp_path, "mallory", ALL_WRONG, forge.format(mark=MARK, line=FAKE_VERDICTS))
    hand_in(tmp_path, "trudy", ALL_WRONG, forge.format(mark=MARK, line="{not json"))
    hand_in(tmp_path, "ada", ALL_RIGHT)
    table = rows(grade_submissions([tmp_path], jobs=2, **LIMITS))
    assert table["ada"]["score"] == 3 and table["ada"]["status"] == "graded"
    for cheat in ("mallory", "trudy"):  # the verdicts come over a signed channel: a printed line is nothing
        assert table[cheat]["score"] == 0 and table[cheat]["max_score"] == 3, table[cheat]


@pytest.mark.timeout(120)
def test_text_the_notebook_writes_to_its_process_output_costs_no_grade(tmp_path):
    """A C library's progress line without a newline ran into the verdict line: the student got 'error', 0 points."""
    hand_in(tmp_path, "ada", ALL_RIGHT, "import os\nos.write(1, b'progress: 50%')\nos.write(2, b'warning')")
    row = rows(grade_submissions([tmp_path], jobs=1, **LIMITS))["ada"]
    assert (row["score"], row["status"], row["reason"]) == (3, "graded", "")


@pytest.mark.timeout(150)
def test_a_background_process_left_running_neither_hangs_the_grader_nor_outlives_it(tmp_path, no_namespaces):
    """A forked process in a session of its own kept the output pipe open: the grader waited for it, and
    the notebook (done in seconds) was graded 'timed out'; it kept running after the grading."""
    pid_file = tmp_path / "daemon.pid"
    daemon = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(300)\n"
        "    os._exit(0)\n"
        "time.sleep(0.5)\n"
    )
    hand_in(tmp_path / "class", "ada", ALL_RIGHT, daemon)
    try:
        started = time.monotonic()
        row = rows(grade_submissions([tmp_path / "class"], jobs=1, **{**LIMITS, "timeout": 40}))["ada"]
        assert time.monotonic() - started < 35
        assert (row["score"], row["status"]) == (3, "graded"), row
        daemon_pid = int(pid_file.read_text())
        deadline = time.monotonic() + 5
        while alive(daemon_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(daemon_pid), "the notebook's background process outlived its grading"
    finally:
        kill_if_alive(pid_file)


SPOOF_PID_FILE = """import os, signal
parent = os.getppid()  # the grading process of this notebook
grader = int(open(f"/proc/{parent}/stat").read().rsplit(")", 1)[1].split()[1])
argv = open(f"/proc/{parent}/cmdline").read().split("\\0")
if "--pid-file" in argv:  # name the teacher's grading run as the kernel to kill
    open(argv[argv.index("--pid-file") + 1], "w").write(str(grader))
os.kill(parent, signal.SIGKILL)
"""


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
@pytest.mark.timeout(120)
def test_a_notebook_cannot_make_the_grader_kill_itself(tmp_path):
    """The grader killed the process group named in a pid file the kernel could write: the whole run died (SIGKILL)."""
    hand_in(tmp_path / "class", "mallory", ALL_WRONG, SPOOF_PID_FILE)
    hand_in(tmp_path / "class", "ada", ALL_RIGHT)
    done = subprocess.run(
        grade_command(tmp_path / "class", tmp_path / "out", "--jobs", "1", "--timeout", "60", "--cell-timeout", "10"),
        capture_output=True,
        text=True,
        timeout=110,
        start_new_session=True,  # what it kills, it kills here, not in pytest's group
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    grades = (tmp_path / "out" / "grades.csv").read_text()
    assert "ada,phase3," in grades and "mallory,phase3," in grades


HANG_AND_TELL = """import os, signal
open({pid_file!r}, "w").write(str(os.getpid()))
signal.signal(signal.SIGINT, signal.SIG_IGN)
while True:
    pass
"""


@pytest.mark.timeout(120)
def test_ctrl_c_stops_the_grading_at_once_and_leaves_nothing_running(tmp_path, no_namespaces):
    """Ctrl-C waited for every notebook in progress to finish or time out (up to --timeout, 120 s by default),
    then printed a traceback; a stopped notebook left its temporary files (the kernel's connection file)."""
    pid_file = tmp_path / "kernel.pid"
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    hand_in(tmp_path / "class", "pat", ALL_RIGHT, HANG_AND_TELL.format(pid_file=str(pid_file)), after="makespan")
    grader = subprocess.Popen(
        grade_command(tmp_path / "class", tmp_path / "out", "--jobs", "1", "--timeout", "90", "--cell-timeout", "60"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        env={**os.environ, "TMPDIR": str(temporary)},
    )
    try:
        deadline = time.monotonic() + 60
        while not pid_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert pid_file.exists(), "the notebook never started"
        time.sleep(0.5)
        grader.send_signal(signal.SIGINT)
        _, err = grader.communicate(timeout=15)
        kernel = int(pid_file.read_text())
        deadline = time.monotonic() + 5
        while alive(kernel) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(kernel), "the notebook's kernel kept running"
        assert grader.returncode == 130, (grader.returncode, err[-2000:])
        assert "Traceback" not in err and "interrupted" in err and "to resume" in err, err[-2000:]
        assert not (tmp_path / "out" / "grades.csv").exists()
        assert not list(temporary.iterdir())
    finally:
        grader.kill()
        kill_if_alive(pid_file)


# -- what a teacher collects: every file handed in is found once, under the right student ------------------

NOTEBOOK = {
    "cells": [{"cell_type": "code", "source": "from ella_lab.exercises import phase3 as ex", "outputs": []}],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def scratch(tmp_path: Path) -> Path:
    """A folder for unpacked zips, as the grader's temporary folder."""
    (tmp_path / "work").mkdir(exist_ok=True)
    return tmp_path / "work"


def notebook_text(*extra_cells: dict) -> str:
    return json.dumps({**NOTEBOOK, "cells": NOTEBOOK["cells"] + list(extra_cells)})


@pytest.mark.timeout(30)
def test_hand_edited_outputs_do_not_stop_the_collection(tmp_path):
    """A notebook whose saved outputs (the attempt log) were edited by hand crashed the reading of the whole class."""
    record = "application/vnd.ella-lab.attempt+json"
    edits = {
        "data-list": {"output_type": "display_data", "data": ["text/plain"]},
        "data-text": {"output_type": "display_data", "data": "q1 ✓ Correct"},
        "text-numbers": {"output_type": "stream", "name": "stdout", "text": [1, 2]},
        "action-list": {"output_type": "display_data", "data": {record: {"question": "q1", "action": ["check"]}}},
        "record-number": {"output_type": "display_data", "data": {record: 7}},
    }
    for name, output in edits.items():
        cell = {"cell_type": "code", "source": "ex.q1.check(makespan)", "outputs": [output]}
        (tmp_path / f"{name}-ex03.ipynb").write_text(notebook_text(cell))
    (tmp_path / "outputs-number-ex03.ipynb").write_text(
        notebook_text({"cell_type": "code", "source": "", "outputs": 5})
    )
    (tmp_path / "cells-junk-ex03.ipynb").write_text(json.dumps({**NOTEBOOK, "cells": [None, 3, "x", []]}))
    subs = collect([tmp_path], scratch(tmp_path))
    assert sorted(s.student for s in subs) == sorted([*edits, "outputs-number", "cells-junk"])
    assert all(s.notebook is not None and isinstance(s.attempts, dict) for s in subs)


@pytest.mark.timeout(30)
def test_every_file_handed_in_is_collected_or_named(tmp_path):
    """Files a student names oddly were silently left out: the teacher's table was one student short."""
    text = notebook_text()
    folder = tmp_path / "class"
    folder.mkdir()
    (folder / "Alice-ex03.IPYNB").write_text(text)  # saved on Windows
    (folder / "bob-ex03.ipynb.txt").write_text(text)  # the browser added an extension
    with zipfile.ZipFile(folder / "carl.zip", "w") as archive:  # zipped it first
        archive.writestr("ex03-threaded-router.ipynb", text)
    (folder / "notes.pdf").write_text("%PDF")
    (folder / "dee" / ".ipynb_checkpoints").mkdir(parents=True)
    (folder / "dee" / ".ipynb_checkpoints" / "ex03-threaded-router-checkpoint.ipynb").write_text(text)
    (folder / "dee" / "ex03-threaded-router.ipynb").write_text(text)
    (folder / ".DS_Store").write_text("")
    skipped: list[str] = []
    subs = collect([folder, folder / "dee" / "ex03-threaded-router.ipynb"], scratch(tmp_path), SHEET_NAMES, skipped)
    assert sorted(s.student for s in subs) == ["Alice", "bob", "carl", "dee"]  # dee given twice: graded once
    assert all(s.problem is None for s in subs), [s.problem for s in subs]
    assert skipped == ["notes.pdf"]


@pytest.mark.timeout(30)
def test_student_ids_follow_the_teachers_guide(tmp_path):
    """'One folder per student: the folder name is the id' held only for a file named exactly like the sheet."""
    text = notebook_text()
    layout = {
        "pia/Untitled1.ipynb": "pia",  # a folder per student, any file name
        "Quinn Lee_1234_assignsubmission_file_/my notebook.ipynb": "Quinn Lee_1234_assignsubmission_file_",
        "section-a/ron-ex03.ipynb": "ron",  # the file name carries the id
        "sam.ipynb": "sam",
        "tia_ex03_final.ipynb": "tia",
    }
    for name in layout:
        (tmp_path / "class" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "class" / name).write_text(text)
    with zipfile.ZipFile(tmp_path / "uma.zip", "w") as archive:
        archive.writestr("ex03-threaded-router.ipynb", text)
    subs = collect([tmp_path / "class", tmp_path / "uma.zip"], scratch(tmp_path), SHEET_NAMES)
    assert {s.label: s.student for s in subs} == {**layout, "uma.zip:ex03-threaded-router.ipynb": "uma"}


@pytest.mark.timeout(30)
def test_an_old_format_notebook_is_a_notebook(tmp_path):
    """nbformat 3 (cells in worksheets) was 'not a notebook' though Jupyter opens it and nbformat converts it."""
    v3 = nbformat.v3.new_notebook(
        worksheets=[
            nbformat.v3.new_worksheet(
                cells=[nbformat.v3.new_code_cell(input="from ella_lab.exercises import phase3 as ex")]
            )
        ]
    )
    (tmp_path / "vic-ex03.ipynb").write_text(nbformat.v3.writes_json(v3))
    (sub,) = collect([tmp_path], scratch(tmp_path), SHEET_NAMES)
    assert sub.problem is None and detect_sheet(sub.notebook) == "phase3"


@pytest.mark.timeout(30)
def test_a_broken_zip_is_one_students_problem(tmp_path):
    """A damaged member crashed the whole run (BadZipFile); a student's zip that is no zip was silently left out."""
    text = notebook_text()
    teachers = tmp_path / "class.zip"
    with zipfile.ZipFile(teachers, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("ada-ex03.ipynb", text)
        archive.writestr("ben-ex03.ipynb", text.replace("phase3 as ex", "phase3 as EX"))
    teachers.write_bytes(teachers.read_bytes().replace(b"phase3 as EX", b"phase3 as XE"))  # the CRC no longer fits
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "cy.zip").write_text("not a zip")
    subs = {s.student: s for s in collect([teachers, folder], scratch(tmp_path), SHEET_NAMES)}
    assert sorted(subs) == ["ada", "ben", "cy"]
    assert subs["ada"].problem is None
    assert subs["ben"].problem.startswith("cannot be unpacked (BadZipFile")
    assert subs["cy"].problem == "a zip file that cannot be opened"


@pytest.mark.timeout(60)
def test_the_files_not_collected_are_named_to_the_teacher(tmp_path):
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "mia-ex03.ipynb").write_text("")
    (tmp_path / "class" / "ned-ex03.pdf").write_text("%PDF")
    grades = grade_submissions([tmp_path / "class"], jobs=1, **LIMITS)
    assert grades.skipped == ["ned-ex03.pdf"]
    html = write_outputs(grades, tmp_path / "out")["report"].read_text()
    assert "Not collected" in html and "ned-ex03.pdf" in html


# -- cheats in the notebook: the grade is the answers', whatever the notebook changed ---------------------------

FAKE_JUDGE = f"""import json
import ella_lab.grading.judge as judge_module
judge_module.judge = lambda *args, **kwargs: json.loads({FAKE_VERDICTS!r})
"""
PATCH_CORE = """from ella_lab.exercises import _core
_core.Question.hidden_check = lambda self, answer: _core.CheckResult(self.name, "correct", "trust me")
"""
MARK_WHILE_JUDGED = f"""import sys
_stream = sys.stdout  # the cell's output, kept: judging swaps sys.stdout for a buffer

def workers_needed(target_rps, latency):
    _stream.write({MARK!r} + {FAKE_VERDICTS!r} + "\\n")
    _stream.flush()
    return round(target_rps * latency)
"""
PATCH_MATH = "import math\nmath.isclose = lambda *args, **kwargs: True\n"
OWN_NAME = """def my_makespan(n_requests, workers, latency):
    return math.ceil(n_requests / workers) * latency

ex.q1.check(my_makespan)
"""
RESET = "%reset -f\nimport math\nfrom ella_lab.exercises import phase3 as ex\n"
CHEATS = {  # student: (answers, cells, after which answer)
    "ada": (ALL_RIGHT, (), "get_once"),  # honest: graded, nothing to look at
    "judge-patcher": (ALL_WRONG, (FAKE_JUDGE,), "get_once"),
    "core-patcher": (ALL_WRONG, (PATCH_CORE,), "get_once"),
    "marker-printer": (ALL_WRONG, (MARK_WHILE_JUDGED,), "workers_needed"),
    "math-patcher": (ALL_WRONG, (PATCH_MATH,), "get_once"),
    "own-name": ({}, (OWN_NAME,), "makespan"),
    "resetter": (ALL_RIGHT, (RESET,), "get_once"),  # a 'clean start' cell: no cheat
    "bea": ({}, (), "get_once"),  # blank
    "impostor": (ALL_RIGHT, ('student_id = "bea"',), "get_once"),  # hands in full marks in bea's name
}


@pytest.fixture(scope="module")
def cheaters(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cheaters")
    for student, (answers, cells, after) in CHEATS.items():
        hand_in(folder, student, answers, *cells, after=after)
    grades = grade_submissions([folder], jobs=2, **LIMITS)
    return rows(grades), grades.answers_frame().set_index(["student", "question"]), grades.grades_frame()


@pytest.mark.timeout(180)
def test_an_honest_notebook_is_not_suspected(cheaters):
    row = cheaters[0]["ada"]
    assert (row["score"], row["status"], row["reason"], row["look_at"]) == (3, "graded", "", "")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("student", ["judge-patcher", "core-patcher"])
def test_patching_the_grader_or_the_checks_in_the_notebook_changes_no_grade(cheaters, student):
    """A notebook that replaced ella_lab.grading.judge.judge, or Question.hidden_check, got full marks.
    Now the originals are put back before each judgement, and the row goes to the teacher."""
    table, answers, _ = cheaters
    assert table[student]["score"] == 0 and table[student]["status"] == "check by hand", table[student]
    assert "N·L/K" in answers.loc[(student, "q1"), "message"]
    flags = {"judge-patcher": "sets judge_module.judge", "core-patcher": "sets _core.Question.hidden_check"}
    assert flags[student] in table[student]["look_at"]


@pytest.mark.timeout(180)
def test_a_reset_namespace_is_no_cheat(cheaters):
    """%reset -f wipes the notebook's names: the answers before it are gone, and that is all."""
    row = cheaters[0]["resetter"]
    assert (row["score"], row["status"], row["look_at"]) == (1, "graded", ""), row
    assert row["reason"] == "code cell 6 raised NameError"  # ex.q2.check(get_once), get_once gone


@pytest.mark.timeout(180)
def test_the_grader_marker_printed_while_judged_is_no_verdict(cheaters):
    """An answer that wrote a verdict line to the cell's stream while it was judged got full marks."""
    row = cheaters[0]["marker-printer"]
    assert row["score"] == 0 and row["status"] == "graded", row


@pytest.mark.timeout(180)
def test_a_notebook_that_patches_the_standard_library_is_sent_to_the_teacher(cheaters):
    """math.isclose = lambda *a, **k: True made every numeric check pass (q1 correct), silently."""
    row = cheaters[0]["math-patcher"]
    assert row["status"] == "check by hand", row
    assert "math.isclose" in row["reason"]


@pytest.mark.timeout(180)
def test_an_answer_under_another_name_is_graded_by_the_name_the_student_checked(cheaters):
    """my_makespan, checked by ex.q1.check(my_makespan) (✓ Correct for the student), was 'not attempted'."""
    table, answers, _ = cheaters
    assert answers.loc[("own-name", "q1"), "verdict"] == "correct"
    assert answers.loc[("own-name", "q2"), "verdict"] == "not attempted"
    assert table["own-name"]["score"] == 1 and table["own-name"]["status"] == "graded"


@pytest.mark.timeout(180)
def test_a_notebook_in_another_students_name_is_shown_to_the_teacher(cheaters):
    """student_id = "bea" in a notebook gave bea a second row, full marks, with nothing to tell them apart."""
    table = cheaters[2]
    bea = table[table.student == "bea"].set_index("file")
    assert sorted(bea.index) == ["bea-ex03.ipynb", "impostor-ex03.ipynb"]
    assert all("2 submissions for bea on this sheet" in flags for flags in bea.look_at)
    assert "the notebook sets student_id = 'bea'; the file is 'impostor''s" in bea.loc["impostor-ex03.ipynb", "look_at"]


@pytest.mark.timeout(60)
def test_two_files_for_one_student_are_both_flagged(tmp_path):
    """eve-ex03.ipynb and eve-ex03 (1).ipynb: two rows for eve, nothing said; a gradebook import keeps one."""
    for name in ("eve-ex03.ipynb", "eve-ex03 (1).ipynb", "mia-ex03.ipynb"):
        (tmp_path / name).write_text("")
    table = grade_submissions([tmp_path], jobs=1, **LIMITS).grades_frame().set_index("file")
    for name in ("eve-ex03.ipynb", "eve-ex03 (1).ipynb"):
        assert table.loc[name, "look_at"] == "2 submissions for eve on this sheet: eve-ex03 (1).ipynb, eve-ex03.ipynb"
    assert table.loc["mia-ex03.ipynb", "look_at"] == ""


# -- what the teacher reads -------------------------------------------------------------------------------------


def _result(student: str, sheet: str, verdicts: dict[str, tuple[str, str]], status: str = "graded") -> dict:
    questions = [
        {"question": q, "points": 1.0, "status": verdict, "message": message}
        for q, (verdict, message) in verdicts.items()
    ]
    return {
        "student": student,
        "sheet": sheet,
        "file": f"{student}.ipynb",
        "status": status,
        "reason": "",
        "attempts": {},
        "flags": [],
        "questions": questions,
    }


@pytest.mark.timeout(60)
def test_a_class_with_two_sheets_gets_a_report_per_sheet(tmp_path):
    """Without --sheet, phase1's q1 and phase3's q1 were one bar and one list of wrong answers in the report."""
    from ella_lab.grading import Grades

    broken = ("error", "not graded: the file is empty")
    grades = Grades(
        [
            _result("ann", "phase1", {"q1": ("incorrect", "threads: too slow"), "q2": ("correct", "")}),
            _result("bob", "phase3", {"q1": ("incorrect", "N·L/K"), "q2": ("correct", "")}),
            _result("cat", "phase3", {"q1": ("correct", ""), "q2": ("incorrect", "no task_done")}),
            _result("dan", "phase3", {"q1": broken, "q2": broken}, status="not a notebook"),
        ]
    )
    html = write_outputs(grades, tmp_path)["report"].read_text()
    assert "<h3>phase1 q1: 1 wrong</h3>" in html and "<h3>phase3 q1: 1 wrong</h3>" in html
    assert "<h3>q1:" not in html
    # dan's empty file is no failed question: phase3 q1 is 1 of 2 judged, not 1 of 3
    assert "<tr><td>phase3 q1</td><td>2</td><td>1</td><td>50 %</td>" in html
    assert "<tr><td>phase1 q2</td><td>1</td><td>1</td><td>100 %</td>" in html


# -- answers that lie: an object that claims to equal anything is no right answer ------------------------------


class Liar:
    """Equal to anything but None; hashes like ``like`` so that a dict or a set lookup finds it."""

    def __init__(self, like: object = None) -> None:
        self.like = like

    def __eq__(self, other: object) -> bool:
        return other is not None

    def __ne__(self, other: object) -> bool:
        return other is None

    def __hash__(self) -> int:
        return hash(self.like)

    def __repr__(self) -> str:
        return "Liar()"


class LyingText(str):
    def __eq__(self, other: object) -> bool:
        return True

    def __ne__(self, other: object) -> bool:
        return False

    __hash__ = str.__hash__


def _lying_answer(sheet: str, question: str):
    """The question's reference answer, with the values the check compares replaced by liars."""
    module = importlib.import_module(f"ella_lab.exercises.{sheet}")
    q = getattr(module, question)
    if (sheet, question) == ("phase2", "q2"):
        return q, Liar("a")  # any option's hash: found among the options, then 'equal' to the answer
    right = reference(module, q, q.answer_name)
    if (sheet, question) == ("phase8", "q1"):
        return q, lambda *args: Liar(right(*args))  # "equal" to the model's makespan, and to anything else

    def keep_errors(answers):
        return [a if isinstance(a, BaseException) else Liar() for a in answers]

    if (sheet, question) == ("phase1", "q3"):
        return q, lambda *args: keep_errors(right(*args))
    if (sheet, question) == ("phase2", "q1"):
        return q, lambda *args: (Liar(), right(*args)[1])
    if (sheet, question) == ("phase4", "q1"):
        return q, lambda *args: Liar() if right(*args) is not None else None
    if (sheet, question) == ("phase8", "q2"):

        async def fetch_all(*args):
            return keep_errors(await right(*args))

        return q, fetch_all
    if (sheet, question) == ("phase9", "q1"):
        return q, lambda url, request, timeout: LyingText(request) if right(url, request, timeout) is not None else None
    raise LookupError((sheet, question))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "sheet, question",
    [
        ("phase1", "q3"),
        ("phase2", "q1"),
        ("phase2", "q2"),
        ("phase4", "q1"),
        ("phase8", "q1"),
        ("phase8", "q2"),
        ("phase9", "q1"),
    ],
)
def test_an_answer_that_claims_to_equal_anything_is_not_correct(sheet, question):
    """The checks compared the student's value with ``!=``/``in``: its own __eq__ decided, and it said yes."""
    q, answer = _lying_answer(sheet, question)
    for result in (q.judge(answer), q.hidden_check(answer)):
        assert result.status == "incorrect", result


# -- the teacher's machine ------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
def test_another_python3_kernel_on_the_teachers_machine_is_not_used(tmp_path):
    """A kernel spec named python3 elsewhere (`ipykernel install --user` from another Python, conda base) ran every
    notebook in that Python: the whole class 'error', or 0 points where that Python lacks ella_lab."""
    spec = tmp_path / "jupyter" / "kernels" / "python3"
    spec.mkdir(parents=True)
    argv = [sys.executable, "-c", "raise SystemExit(3)", "{connection_file}"]  # a Python that is not ours
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"}))
    hand_in(tmp_path / "class", "ada", ALL_RIGHT)
    done = subprocess.run(
        grade_command(tmp_path / "class", tmp_path / "out", "--jobs", "1", "--timeout", "60", "--cell-timeout", "10"),
        capture_output=True,
        text=True,
        timeout=110,
        env={**os.environ, "JUPYTER_PATH": str(tmp_path / "jupyter")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ada,phase3,ada-ex03.ipynb,1.0,1.0,1.0,,3.0,3.0,graded," in (tmp_path / "out" / "grades.csv").read_text()


# -- the outputs --------------------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_a_student_id_is_never_a_spreadsheet_formula(tmp_path):
    """A file named =HYPERLINK(...)-ex03.ipynb (or a student_id = '=...') became a formula in the teacher's Excel."""
    import csv

    (tmp_path / "class").mkdir()
    name = '=HYPERLINK("evil.example","open me")-ex03.ipynb'
    (tmp_path / "class" / name).write_text("")
    paths = write_outputs(grade_submissions([tmp_path / "class"], jobs=1, **LIMITS), tmp_path / "out")
    for table in ("grades", "answers"):
        with open(paths[table], newline="") as f:
            for row in csv.DictReader(f):
                assert row["student"] == '\'=HYPERLINK("evil.example","open me")', row
                assert not any(str(value).startswith(("=", "+", "-", "@")) for value in row.values()), row


@pytest.mark.timeout(60)
def test_grading_again_into_the_same_folder_leaves_nothing_of_the_last_run(tmp_path):
    """A second run that drew no figure left the first run's PNGs beside its report."""
    from ella_lab.grading import Grades

    first = write_outputs(Grades([_result("ann", "phase3", {"q1": ("incorrect", "N·L/K")})]), tmp_path)
    assert first["pass_rate"].exists()
    second = write_outputs(Grades([]), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in second.values())


@pytest.mark.timeout(60)
def test_the_output_folder_inside_the_submissions_is_not_collected(tmp_path):
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "mia-ex03.ipynb").write_text("")
    for _ in range(2):
        done = subprocess.run(
            grade_command(tmp_path / "class", tmp_path / "class" / "grades"),
            capture_output=True,
            text=True,
            timeout=50,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    assert "not collected" not in done.stdout
    assert "Not collected" not in (tmp_path / "class" / "grades" / "report.html").read_text()


@pytest.mark.timeout(60)
def test_a_giant_file_is_not_read(tmp_path):
    """A 'notebook' of hundreds of MiB (megabytes printed and saved) was read whole into the teacher's process."""
    with open(tmp_path / "ola-ex03.ipynb", "wb") as giant:
        giant.truncate(300 * 2**20)  # sparse: no disk, no time
    (sub,) = collect([tmp_path], scratch(tmp_path), SHEET_NAMES)
    assert sub.notebook is None and sub.problem.startswith("the file is 300 MiB"), sub.problem


@pytest.mark.timeout(30)
def test_the_attempt_log_counts_the_hints_a_rewritten_cell_no_longer_shows():
    """Each record carries the session's totals; only the records were counted: 2 hints and a solution seen
    in cells since rewritten were 0 hints, no solution in answers.csv and the report."""
    from ella_lab.grading.collect import attempt_log

    record = {"sheet": "phase3", "question": "q1", "action": "check", "verdict": "incorrect"}
    record |= {"checks": 4, "hints": 2, "solutions": 1}
    output = {"output_type": "display_data", "data": {"application/vnd.ella-lab.attempt+json": record}}
    cell = {"cell_type": "code", "source": "ex.q1.check(makespan)", "outputs": [output]}
    log = attempt_log(json.loads(notebook_text(cell)))
    assert log["q1"] == {"checks": 4, "correct_checks": 0, "hints": 2, "solutions": 1}


@pytest.mark.timeout(60)
def test_what_is_flagged_for_the_teacher_and_what_is_not():
    from ella_lab.grading.collect import suspicious

    def read(path: Path) -> dict:
        return json.loads(path.read_text())

    exercises = ROOT / "notebooks" / "exercises"
    for path in sorted((exercises / "student").glob("ex*.ipynb")) + sorted(
        (ROOT / "tests" / "fixtures" / "demo_class").glob("*.ipynb")
    ):
        if path.stat().st_size and path.name not in ("ivy-ex03.ipynb", "kim-ex03.ipynb"):
            assert suspicious(read(path)) == [], path.name
    # the instructor's sheet, handed in as a student's (a copy that went round): its answers are right
    assert suspicious(read(exercises / "ex03-threaded-router.ipynb")) == [
        "holds the instructor's copy's solution markers (### BEGIN SOLUTION): the teacher's sheet?"
    ]
    cheat = {
        "cells": [
            {"cell_type": "code", "source": source}
            for source in (
                "from ella_lab.exercises import phase3 as ex\nimport math, os",
                "exec(ex.q1.solution_text)",
                "cases = type(ex.q1).HIDDEN\nsetattr(math, 'ceil', round)",
                "os.kill(os.getppid(), 9)",
            )
        ]
    }
    assert suspicious(cheat) == [
        "runs code from a string (exec) (code cell 2)",
        "reads ex.q1.solution_text (code cell 2)",
        "reads type(...).HIDDEN (code cell 3)",
        "setattr() on math (code cell 3)",
        "uses os.kill (code cell 4)",
        "uses os.getppid (code cell 4)",
    ]


@pytest.mark.timeout(60)
def test_an_answer_that_calls_exit_loses_its_own_point_only():
    """makespan ending in sys.exit() (a beginner's 'stop here') raised SystemExit out of the check and out of
    the judge: the grading cell failed, and the student's right q2 and q3 were 'error', 0 points."""
    from ella_lab.exercises import phase3
    from ella_lab.grading.judge import judge

    def makespan(n_requests, workers, latency):
        sys.exit()

    def workers_needed(target_rps, latency):
        raise KeyboardInterrupt  # from the answer's own code, not a Ctrl-C

    for question, answer in ((phase3.q1, makespan), (phase3.q3, workers_needed)):
        result = question.hidden_check(answer)
        assert result.status == "incorrect" and type(answer).__name__ and "your answer raised" in result.message
    namespace = {"makespan": makespan, "get_once": reference(phase3, phase3.q2, "get_once"), "workers_needed": 0}
    verdicts = {v["question"]: v["status"] for v in judge("phase3", namespace)["questions"]}
    assert verdicts == {"q1": "incorrect", "q2": "correct", "q3": "incorrect", "q4": "manual"}


@pytest.mark.timeout(30)
def test_an_accented_name_from_a_mac_zip_is_the_same_student(tmp_path):
    """macOS writes names decomposed (e + combining diaeresis): Zoë from a Mac's zip was another student than the
    Zoë of the roster and of a file saved elsewhere; the duplicate went unseen and the gradebook did not match."""
    import unicodedata

    decomposed = unicodedata.normalize("NFD", "Zoë")
    with zipfile.ZipFile(tmp_path / "mac.zip", "w") as archive:
        archive.writestr(f"{decomposed}-ex03.ipynb", notebook_text())
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "Zoë-ex03.ipynb").write_text(notebook_text())
    subs = collect([tmp_path / "mac.zip", tmp_path / "class"], scratch(tmp_path), SHEET_NAMES)
    assert [s.student for s in subs] == ["Zoë", "Zoë"]
