"""The grader loses nothing a notebook does (issue 18, item 9): each notebook under a supervisor of its own.

Each test hands in sheet 03 with a hostile cell and grades it, with PID/mount namespaces (where this machine
allows them) and without (the fallback: a supervisor, a wrapper, a subreaper). A test that needs a pid the
notebook writes down runs without namespaces, where that pid is this machine's.
"""

from __future__ import annotations

import importlib.util
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from ella_lab.grading import grade_submissions
from ella_lab.grading.supervise import namespaces_work

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("make_demo_class", ROOT / "tests" / "fixtures" / "make_demo_class.py")
demo = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(demo)

ALL_RIGHT = demo.ALL_RIGHT
LIMITS = {"sheet": "phase3", "timeout": 60, "cell_timeout": 10, "memory_mb": 2048}
MODES = [
    pytest.param("1", id="namespaces", marks=pytest.mark.skipif(not namespaces_work(), reason="no user namespaces")),
    pytest.param("0", id="no-namespaces"),
]
pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="Linux: reads /proc")


@pytest.fixture(autouse=True)
def _watched_from_tmp_path(tmp_path, monkeypatch):
    """The notebooks below report what they saw in files under ``tmp_path``: with namespaces, /tmp is a private
    tmpfs for a notebook, but for the folders named in ELLA_LAB_GRADER_KEEP."""
    monkeypatch.setenv("ELLA_LAB_GRADER_KEEP", str(tmp_path))


def hand_in(folder: Path, student: str, *cells: str, after: str = "get_once", answers=None) -> Path:
    nb = demo.student_notebook(ALL_RIGHT if answers is None else answers, [(after, c) for c in cells])
    path = folder / f"{student}-ex03.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb))
    return path


def command_line(folder: Path, out: Path, *options: str) -> list[str]:
    command = [sys.executable, "-m", "ella_lab", "grade", str(folder), "--out", str(out), "--sheet", "phase3"]
    return [*command, "--jobs", "1", "--timeout", "60", "--cell-timeout", "10", *options]


def grade_cli(folder: Path, out: Path, *options: str, env: dict | None = None, timeout: float = 150):
    return subprocess.run(
        command_line(folder, out, *options),
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
        start_new_session=True,  # what a notebook kills, it kills here, not in pytest's group
    )


def rows(grades) -> dict[str, dict]:
    return {row["student"]: row for row in grades.grades_frame().to_dict("records")}


KILL_PARENTS = """import os, signal
parent = os.getppid()  # 0 in a PID namespace of its own: nothing outside is visible
grand = int(open(f"/proc/{parent}/stat").read().rsplit(")", 1)[1].split()[1]) if parent > 1 else 0
for pid in (grand, parent):
    if pid > 1:
        os.kill(pid, signal.SIGKILL)
"""


@pytest.mark.timeout(200)
@pytest.mark.parametrize("namespaces", MODES)
def test_a_notebook_that_kills_its_parent_and_grandparent_costs_only_its_own_grading(tmp_path, namespaces):
    """Old code: the grandparent was the grader; one cell ended it with no grades.csv for anyone."""
    hand_in(tmp_path / "class", "ada")
    hand_in(tmp_path / "class", "mallory", KILL_PARENTS)  # after q1 and q2 were answered right
    done = grade_cli(tmp_path / "class", tmp_path / "out", env={"ELLA_LAB_GRADER_NAMESPACES": namespaces})
    assert done.returncode == 0, done.stderr[-2000:]
    grades = (tmp_path / "out" / "grades.csv").read_text()
    assert "ada,phase3,ada-ex03.ipynb,1.0,1.0,1.0,,3.0,3.0,graded," in grades
    mallory = next(line for line in grades.splitlines() if line.startswith("mallory,"))
    assert mallory.startswith("mallory,phase3,mallory-ex03.ipynb,1.0,1.0,"), mallory  # judged before the kill
    if namespaces == "0":
        assert "supervisor ended before the notebook did" in mallory, mallory


HEARTBEAT = """import sys, time
end = time.monotonic() + 120
while time.monotonic() < end:
    open(sys.argv[1], "w").write(repr(time.monotonic()))
    time.sleep(0.1)
"""
LEAVE_PROCESSES = """import os, subprocess, sys
beat = {beat!r}
subprocess.Popen([sys.executable, "-c", beat, {first!r}], start_new_session=True, env={{"PATH": "/usr/bin:/bin"}})
if os.fork() == 0:  # a double fork, in a session of its own, with no trace of the grading in its environment
    if os.fork() == 0:
        os.setsid()
        os.execve(sys.executable, [sys.executable, "-c", beat, {second!r}], {{"PATH": "/usr/bin:/bin"}})
    os._exit(0)
import time
time.sleep(0.5)
"""


def beating(path: Path) -> bool:
    """True while some process still rewrites ``path`` (a heartbeat every 0.1 s)."""
    if not path.exists():
        return False
    before = path.read_text()
    time.sleep(1.0)
    return path.read_text() != before


@pytest.mark.timeout(200)
@pytest.mark.parametrize("namespaces", MODES)
def test_every_process_a_notebook_starts_ends_with_its_grading(tmp_path, namespaces, monkeypatch):
    """Old code: a Popen(start_new_session=True) without the grader's mark in its environment kept running."""
    monkeypatch.setenv("ELLA_LAB_GRADER_NAMESPACES", namespaces)
    first, second = tmp_path / "popen.beat", tmp_path / "daemon.beat"
    hand_in(tmp_path / "class", "ada", LEAVE_PROCESSES.format(beat=HEARTBEAT, first=str(first), second=str(second)))
    try:
        row = rows(grade_submissions([tmp_path / "class"], jobs=1, **LIMITS))["ada"]
        assert (row["score"], row["status"]) == (3, "graded"), row
        assert first.exists() and second.exists(), "the notebook did not start its processes"
        assert not beating(first), "the Popen(start_new_session=True) outlived the grading"
        assert not beating(second), "the double-forked daemon outlived the grading"
        if namespaces == "0":
            assert "process(es) the notebook started were still running at the end (ended)" in row["look_at"], row
    finally:
        for path in (first, second):  # the heartbeats end by themselves after 120 s
            path.unlink(missing_ok=True)


FLOOD = """import os
chunk = b"x" * 2**20
parent = os.getppid()
grand = int(open(f"/proc/{parent}/stat").read().rsplit(")", 1)[1].split()[1]) if parent > 1 else 0
for pid in (parent, grand):
    for fd in (1, 2):
        try:
            with open(f"/proc/{pid}/fd/{fd}", "wb") as out:
                for _ in range(150):
                    out.write(chunk)
        except OSError:
            pass
"""


@pytest.mark.timeout(200)
@pytest.mark.parametrize("namespaces", MODES)
def test_what_a_notebook_writes_into_the_graders_pipes_is_bounded(tmp_path, namespaces, monkeypatch):
    """Old code: 300 MiB written into /proc/<ppid>/fd/1 were read whole by the grader (928 MiB)."""
    monkeypatch.setenv("ELLA_LAB_GRADER_NAMESPACES", namespaces)
    hand_in(tmp_path / "class", "ada")
    hand_in(tmp_path / "class", "flo", FLOOD)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB (Linux: KiB)
    table = rows(grade_submissions([tmp_path / "class"], jobs=1, **LIMITS))
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - before
    assert grown < 100, f"the grader grew by {grown:.0f} MiB"
    assert (table["ada"]["score"], table["ada"]["status"]) == (3, "graded"), table["ada"]
    assert table["flo"]["q1"] == 1.0 and table["flo"]["q2"] == 1.0, table["flo"]  # judged before the flood


@pytest.mark.timeout(60)
def test_an_output_folder_that_cannot_be_written_is_refused_before_grading(tmp_path):
    """Old code: `grade . --out /proc/x` graded the whole class, then printed a 23-31 line traceback."""
    ran = tmp_path / "ran"
    hand_in(tmp_path / "class", "ada", f"open({str(ran)!r}, 'w').close()")
    for out in ("/proc/x", "/dev/null/grades", str(tmp_path / "class" / "ada-ex03.ipynb")):
        started = time.monotonic()
        done = grade_cli(tmp_path / "class", Path(out), timeout=50)
        assert done.returncode == 2, (out, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "--out" in done.stderr, done.stderr
        assert time.monotonic() - started < 30 and not ran.exists(), "a notebook ran before --out was checked"


SPY = """import os, json
seen = {{}}
for name, path in {places!r}.items():
    try:
        seen[name] = sorted(os.listdir(path))
    except OSError as exc:
        seen[name] = type(exc).__name__
try:
    open(os.path.join({out!r}, "planted.txt"), "w").write("x")
    seen["wrote into out"] = True
except OSError as exc:
    seen["wrote into out"] = type(exc).__name__
try:
    open({planted!r}, "w").write("x")
    seen["wrote into the project"] = True
except OSError as exc:
    seen["wrote into the project"] = type(exc).__name__
seen["home"] = os.path.expanduser("~")
runs = os.path.dirname(os.path.dirname(os.getcwd()))  # every notebook's working folder is in there
seen["runs"] = sorted(os.listdir(runs))
seen["mine"] = os.path.basename(os.path.dirname(os.getcwd()))
open({report!r}, "w").write(json.dumps(seen))
"""


@pytest.mark.timeout(200)
@pytest.mark.skipif(not namespaces_work(), reason="hiding folders needs user and mount namespaces")
def test_the_class_folder_and_the_output_folder_are_hidden_from_a_notebook(tmp_path):
    """Old code: a notebook could list and read the other students' notebooks, plant files in the output folder
    and rewrite the grader's own code in the project."""
    import json

    out, report = tmp_path / "out", tmp_path / "seen.json"
    places = {"class": str(tmp_path / "class"), "out": str(out)}
    hand_in(tmp_path / "class", "bea", "import time\ntime.sleep(6)")  # still running while spy looks
    planted = ROOT / f"planted-by-a-notebook-{os.getpid()}.txt"
    cell = SPY.format(places=places, out=str(out), report=str(report), planted=str(planted))
    hand_in(tmp_path / "class", "spy", cell)
    try:
        done = grade_cli(tmp_path / "class", out, "--jobs", "2")
        assert not planted.exists(), "the notebook wrote into the project (the grader's own code lives there)"
    finally:
        planted.unlink(missing_ok=True)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(report.read_text())
    assert seen["wrote into the project"] == "OSError", seen  # a read-only file system
    assert seen["class"] == [] and seen["out"] == [], seen  # empty, read-only folders over them
    assert seen["wrote into out"] != True and not (out / "planted.txt").exists(), seen  # noqa: E712
    assert seen["home"] != os.path.expanduser("~"), seen
    assert seen["runs"] == [seen["mine"]], seen  # not bea's working folder, with her notebook in it


@pytest.mark.timeout(300)
def test_a_killed_grading_resumes_where_it_stopped(tmp_path):
    """Old code: a grader killed half-way had written nothing; the class was graded again from the start."""
    for student in ("ada", "bob", "cat"):
        hand_in(tmp_path / "class", student)
    out = tmp_path / "out"
    command = command_line(tmp_path / "class", out)  # the same settings as the run that resumes
    grader = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    journal = out / ".grading-journal.jsonl"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and grader.poll() is None:
            if journal.exists() and journal.read_text().count("\n") >= 1:
                break
            time.sleep(0.1)
        assert grader.poll() is None, "the grading ended before it could be killed"
        os.killpg(grader.pid, signal.SIGKILL)  # the grader and its supervisors
        grader.wait(timeout=10)
    finally:
        if grader.poll() is None:
            os.killpg(grader.pid, signal.SIGKILL)
    kept = journal.read_text().count("\n")
    assert 1 <= kept < 3 and not (out / "grades.csv").exists()
    done = grade_cli(tmp_path / "class", out)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = (out / "grades.csv").read_text().splitlines()[1:]
    assert len(lines) == 3 and all(",3.0,3.0,graded," in line for line in lines), lines
    assert sum("resumed: graded by an earlier run" in line for line in lines) == kept, lines
    assert not journal.exists()  # the tables are written: the next run starts afresh
